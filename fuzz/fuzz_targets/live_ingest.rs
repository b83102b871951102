//! AFL++ entry point; the harness and its checks are in `rtsp_mjpeg_fuzz::live_ingest` (src/live.rs).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rtsp_mjpeg_fuzz::live_ingest(data);
    });
}
