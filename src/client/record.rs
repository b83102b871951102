//! Writes received frames to a movie file: the lab format (`.Mjpeg`, a 5-digit length before
//! each JPEG) or raw JPEG (any other name). Frames go to a temporary file that takes the final
//! name only when recording stops, so an interrupted recording leaves no half file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The lab format's length field has five digits.
pub const LAB_MAX_FRAME: usize = 99_999;

pub struct Recorder {
    path: PathBuf,
    temp: PathBuf,
    out: BufWriter<File>,
    lab: bool,
    pub frames: u64,
    /// Frames too large for the lab format's length field.
    pub skipped: u64,
}

impl Recorder {
    pub fn create(path: &Path) -> io::Result<Recorder> {
        let lab = path.extension().is_some_and(|e| e == "Mjpeg");
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        let temp = path.with_file_name(name);
        let out = BufWriter::new(File::create(&temp)?);
        Ok(Recorder {
            path: path.to_path_buf(),
            temp,
            out,
            lab,
            frames: 0,
            skipped: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, jpeg: &[u8]) -> io::Result<()> {
        if self.lab {
            if jpeg.len() > LAB_MAX_FRAME {
                self.skipped += 1;
                return Ok(());
            }
            write!(self.out, "{:05}", jpeg.len())?;
        }
        self.out.write_all(jpeg)?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes and gives the file its name.
    pub fn finish(mut self) -> io::Result<(PathBuf, u64)> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        std::fs::rename(&self.temp, &self.path)?;
        Ok((self.path.clone(), self.frames))
    }

    /// Drops what was written.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// A name for a recording started with the R key: `recording-YYYYMMDD-HHMMSS.Mjpeg` in the
/// current folder (UTC, from the system clock).
pub fn default_name(now: std::time::SystemTime) -> PathBuf {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    PathBuf::from(format!(
        "recording-{y:04}{m:02}{d:02}-{:02}{:02}{:02}.Mjpeg",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// Days since 1970-01-01 to a Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::movie::Movie;

    #[test]
    fn records_a_readable_lab_movie() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let movie = crate::media::testmovie::TestMovie {
            seconds: 0.25,
            width: 160,
            height: 128,
            ..Default::default()
        };
        let source = Movie::from_bytes("m", movie.to_lab_bytes()).unwrap();
        let path = dir.join("out.Mjpeg");
        let mut rec = Recorder::create(&path).unwrap();
        for f in source.frames() {
            rec.write(f).unwrap();
        }
        rec.write(&vec![0u8; LAB_MAX_FRAME + 1]).unwrap();
        assert!(!path.exists(), "no file under the final name until the end");
        assert_eq!(rec.finish().unwrap().1, source.frame_count() as u64);
        let back = Movie::open(&path).unwrap();
        assert_eq!(
            back.frames().collect::<Vec<_>>(),
            source.frames().collect::<Vec<_>>()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_571_170);
        assert_eq!(
            default_name(t),
            PathBuf::from("recording-20261125-014610.Mjpeg")
        );
    }
}
