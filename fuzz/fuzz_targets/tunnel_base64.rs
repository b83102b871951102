//! AFL++ entry point; the harness and its checks are in `rtsp_mjpeg_fuzz::tunnel_base64` (src/http.rs).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rtsp_mjpeg_fuzz::tunnel_base64(data);
    });
}
