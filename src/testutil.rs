//! Helpers for the unit tests.

use std::path::PathBuf;

/// A folder removed, with what it holds, when the test ends.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
