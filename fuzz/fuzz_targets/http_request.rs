//! AFL++ entry point; the harness and its checks are in `rtsp_mjpeg_fuzz::http_request` (src/http.rs).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rtsp_mjpeg_fuzz::http_request(data);
    });
}
