//! AFL++ entry point; the harness and its checks are in `rtsp_mjpeg_fuzz::adapt_reports`
//! (src/lib.rs).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rtsp_mjpeg_fuzz::adapt_reports(data);
    });
}
