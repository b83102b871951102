//! The scale-out set-up of scripts/cluster.sh: an origin, two relay edges and HAProxy (TCP mode)
//! in front of them. Ten readers over RTSP interleaved through HAProxy get the source's pictures;
//! both edges serve some of them; each edge holds exactly one session at the origin.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::live::{framemd5, run_of, source_md5, test_movie_raw, Proc};
use common::{have_tool, small_movie, write_movie, TempDir};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Lines of a log file that contain `what`.
fn count(dir: &Path, log: &str, what: &str) -> usize {
    std::fs::read_to_string(dir.join(log))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

/// scripts/cluster.sh, stopped with SIGTERM (its trap then stops what it started).
struct Cluster(Proc);

impl Drop for Cluster {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.child.id() as i32, libc::SIGTERM) };
        let _ = self.0.child.wait();
    }
}

#[test]
fn ten_readers_through_haproxy_and_two_relay_edges() {
    let test = "ten_readers_through_haproxy_and_two_relay_edges";
    if !have_tool("haproxy", test) || !have_tool("ffmpeg", test) {
        return;
    }
    let media = TempDir::new("cluster-media");
    write_movie(&media.0, "movie.Mjpeg", &small_movie());
    let logs = TempDir::new("cluster-logs");
    let front = free_port();
    let edges = format!("{} {}", free_port(), free_port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
    let mut cluster = Cluster(Proc::spawn_with(
        Command::new("bash")
            .arg(script)
            .env("RTSPD", env!("CARGO_BIN_EXE_rtspd"))
            .env("CLUSTER_PORT", front.to_string())
            .env("CLUSTER_ORIGIN_PORT", free_port().to_string())
            .env("CLUSTER_EDGE_PORTS", &edges)
            .env("CLUSTER_MEDIA", &media.0)
            .env("CLUSTER_DIR", &logs.0)
            .env("RUST_LOG", "info"),
        Stdio::piped(),
    ));
    let mut ready = String::new();
    BufReader::new(cluster.0.child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.starts_with("cluster: ready"), "cluster.sh: {ready:?}");

    let dir = TempDir::new("cluster");
    let raw = test_movie_raw(&dir.0);
    let source = source_md5(&["-f", "mjpeg", "-i", &raw.to_string_lossy()]);
    let url = format!("rtsp://127.0.0.1:{front}/movie");
    let readers: Vec<_> = (0..10)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || framemd5(&["-rtsp_transport", "tcp", "-i", &url], 48))
        })
        .collect();
    for (i, r) in readers.into_iter().enumerate() {
        run_of(
            &r.join().unwrap(),
            &source,
            &format!("reader {i} through HAProxy"),
        );
    }
    let on = |edge: &str| count(&logs.0, edge, ": setup by ");
    let (one, two) = (on("edge1.log"), on("edge2.log"));
    assert_eq!(one + two, 10, "every reader had a session at an edge");
    assert!(
        one > 0 && two > 0,
        "both edges used: {one} and {two} readers"
    );
    for edge in ["edge1.log", "edge2.log"] {
        assert_eq!(
            count(&logs.0, edge, "relay movie: connected to"),
            1,
            "{edge}: one origin session"
        );
    }
    assert_eq!(
        count(&logs.0, "origin.log", ": setup by "),
        2,
        "one session per edge"
    );
    std::thread::sleep(Duration::from_millis(100));
}
