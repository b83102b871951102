//! Helpers for the unit tests.

use std::path::PathBuf;

/// A folder removed, with what it holds, when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty folder under the system's temporary one, unique to this process, thread and
    /// `tag`.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "rtsp-mjpeg-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temporary folder");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
