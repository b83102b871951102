//! Tests that need a network of their own: the test re-runs itself inside a new network
//! namespace (`unshare -n`, as root), where it may shape loopback with tc or route multicast
//! without touching the machine's network.

use std::process::Command;

const INNER: &str = "RTSP_MJPEG_IN_NETNS";

/// Runs a shell command (ip, tc) and fails the test if it fails.
pub fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process is the re-run inside the namespace.
pub fn inside() -> bool {
    std::env::var_os(INNER).is_some()
}

/// Call first in a test that needs its own namespace. Outside one, it re-runs `test` of this
/// binary inside a new namespace, checks that it ran and passed, and returns false (the caller
/// returns). Inside, it brings loopback up and returns true (the caller goes on).
pub fn in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        eprintln!("NETNS-RAN");
        sh("ip link set lo up");
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-n", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .expect("unshare runs (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the test inside the namespace failed (unshare -n needs root)"
    );
    assert!(
        stdout.contains("1 passed") && stderr.contains("NETNS-RAN"),
        "the inner test did not run"
    );
    false
}
