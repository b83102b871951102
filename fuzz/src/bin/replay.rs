//! Runs saved inputs through a fuzz target outside AFL++ and reports each panic with its message:
//! `replay <target> <file|dir>...`. Exits 1 when any input panics. scripts/fuzz.sh uses it to
//! describe the crashes a run found; it is also how to check a fix against fuzz/artifacts/.
use std::panic;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((name, paths)) = args.split_first() else {
        eprintln!("usage: replay <target> <file|dir>...");
        eprintln!("targets:");
        for (n, _) in rtsp_mjpeg_fuzz::TARGETS {
            eprintln!("  {n}");
        }
        std::process::exit(2);
    };
    let Some(target) = rtsp_mjpeg_fuzz::target(name) else {
        eprintln!("no target {name:?}");
        std::process::exit(2);
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for p in paths {
        collect(Path::new(p), &mut files);
    }
    files.sort();

    // Keep the panic message (and where it happened) instead of printing it from the hook.
    let last = Arc::new(Mutex::new(String::new()));
    let sink = last.clone();
    panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload_as_str()
            .unwrap_or("(non-string panic payload)");
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *sink.lock().unwrap() = format!("{} [at {at}]", msg.replace('\n', " "));
    }));

    let mut panics = 0;
    for f in &files {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                continue;
            }
        };
        if panic::catch_unwind(|| target(&data)).is_err() {
            panics += 1;
            let msg = last.lock().unwrap().clone();
            let shown: String = msg.chars().take(600).collect();
            println!("PANIC {} ({} bytes)\n  {shown}", f.display(), data.len());
            let hex: String = data.iter().take(256).map(|b| format!("{b:02x}")).collect();
            let more = if data.len() > 256 { "..." } else { "" };
            println!("  input: {hex}{more}");
        }
    }
    println!("{name}: {} input(s), {panics} panic(s)", files.len());
    if panics > 0 {
        std::process::exit(1);
    }
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(entries) = std::fs::read_dir(p) {
            for e in entries.flatten() {
                let path = e.path();
                // AFL++ keeps a README.txt beside its crashes.
                if path.file_name().is_some_and(|n| n == "README.txt") {
                    continue;
                }
                collect(&path, out);
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
}
