//! What `mjpeg info` says of a playlist: what rtspd would play from it, entry by entry, under
//! the same rules as the server (the media folder, [`Catalog::resolve`], [`playlist::build`]).

use std::path::Path;
use std::sync::Arc;

use crate::media::report::{frame_rate, DEFAULT_FPS};
use crate::server::catalog::Catalog;
use crate::server::source::movie::MovieSource;
use crate::server::source::playlist::{self, Built};
use crate::server::source::Seekable;

/// The report, and whether rtspd would play anything from the playlist (else it answers 404).
pub struct PlaylistReport {
    pub text: String,
    pub playable: bool,
}

/// Reports on the playlist at `path` as rtspd would serve it with `media` as its folder (the
/// playlist's own folder when `None`). An error when it cannot be read or is not in the folder.
pub fn playlist_report(path: &Path, media: Option<&Path>) -> Result<PlaylistReport, String> {
    let folder = match media {
        Some(m) => m.to_path_buf(),
        None => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
    };
    let catalog =
        Catalog::new(&folder).map_err(|e| format!("media folder {}: {e}", folder.display()))?;
    let file = path.canonicalize().map_err(|e| e.to_string())?;
    if !file.starts_with(catalog.root()) {
        return Err(format!(
            "not in the media folder {} (use --media DIR)",
            folder.display()
        ));
    }
    let name = catalog.name_of(&file);
    let bytes = playlist::read_file(&file).map_err(|e| e.to_string())?;
    let root = catalog.root().to_string_lossy().into_owned();
    let mut uid = 0;
    let built = playlist::build(&name, &bytes, &root, |n| {
        let p = catalog.resolve(n).map_err(|why| why.to_string())?;
        uid += 1;
        MovieSource::open(uid, n, &p, DEFAULT_FPS, 1400).map(Arc::new)
    });
    Ok(PlaylistReport {
        text: playlist_text(path, &built),
        playable: built.source.is_some(),
    })
}

/// Played and skipped entries in file order, the file's own problems, and the total.
fn playlist_text(path: &Path, built: &Built) -> String {
    let played = built.source.as_ref().map_or(&[][..], |p| p.entries());
    let mut lines: Vec<(usize, String)> = played
        .iter()
        .map(|e| {
            let i = e.movie.info();
            let (_, fps_source) = frame_rate(e.movie.disk().path());
            let title = e
                .title
                .as_ref()
                .map_or(String::new(), |t| format!(" {t:?}"));
            let line = format!(
                "{}{title}: {} frames, {}x{}, {} fps ({fps_source}), {:.3} s, from {:.3} s",
                e.name,
                i.frames,
                i.width,
                i.height,
                i.fps,
                i.duration.unwrap_or(0.0),
                e.start_seconds()
            );
            (e.line, line)
        })
        .collect();
    lines.extend(
        built
            .skipped
            .iter()
            .map(|s| (s.line, format!("{:?}: skipped: {}", s.entry, s.why))),
    );
    lines.sort_by_key(|(n, _)| *n);
    let mut out = vec![
        path.display().to_string(),
        format!(
            "  entries     {}: {} played, {} skipped",
            lines.len(),
            played.len(),
            built.skipped.len()
        ),
    ];
    out.extend(built.problems.iter().map(|p| format!("  warning     {p}")));
    out.extend(lines.iter().map(|(n, l)| format!("  line {n:<6} {l}")));
    if let Some(p) = &built.source {
        let i = p.info();
        out.push(format!(
            "  total       {} frames, {:.3} s",
            i.frames,
            i.duration.unwrap_or(0.0)
        ));
    }
    out.iter().map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::TestMovie;
    use crate::testutil::TempDir;

    #[test]
    fn entries_are_listed_in_file_order_with_the_skipped_ones_and_why() {
        let dir = TempDir::new("plreport");
        let movie = TestMovie {
            seconds: 0.5,
            width: 64,
            height: 64,
            ..TestMovie::default()
        };
        std::fs::write(dir.path().join("a.Mjpeg"), movie.to_lab_bytes()).unwrap();
        let list = dir.path().join("list.m3u");
        std::fs::write(
            &list,
            "#EXTM3U\n#EXTINF:1,First\na.Mjpeg\nmissing.Mjpeg\n../outside.Mjpeg\na.Mjpeg\n",
        )
        .unwrap();
        let report = playlist_report(&list, None).unwrap();
        let text = &report.text;
        assert!(report.playable, "{text}");
        assert!(
            text.contains("entries     4: 2 played, 2 skipped"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("  line ")).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].contains("a.Mjpeg \"First\": 12 frames, 64x64"),
            "{text}"
        );
        assert!(lines[1].contains("\"missing.Mjpeg\": skipped"), "{text}");
        assert!(lines[2].contains("\"../outside.Mjpeg\": skipped"), "{text}");
        assert!(lines[3].contains("from 0.500 s"), "{text}");
        assert!(text.contains("total       24 frames, 1.000 s"), "{text}");
    }

    #[test]
    fn a_playlist_with_nothing_to_play_says_so_and_one_outside_the_folder_is_refused() {
        let dir = TempDir::new("plreport-empty");
        let list = dir.path().join("none.m3u8");
        std::fs::write(&list, "gone.Mjpeg\r\n").unwrap();
        let report = playlist_report(&list, None).unwrap();
        assert!(!report.playable);
        assert!(
            report.text.contains("1: 0 played, 1 skipped"),
            "{}",
            report.text
        );
        assert!(!report.text.contains("total"), "{}", report.text);

        let media = dir.path().join("media");
        std::fs::create_dir(&media).unwrap();
        let err = playlist_report(&list, Some(&media)).err().unwrap();
        assert!(err.contains("not in the media folder"), "{err}");
    }
}
