//! The media folder's sources by name: each movie indexed on first use, kept while its file stays
//! the same, indexed afresh when the file changes, forgotten when it goes. Playlists (`.m3u`,
//! `.m3u8`) alike: read on first use, read again when the file or any file it names changes.
//!
//! Nothing is read at start, so start-up time and memory do not grow with the folder. Every
//! lookup resolves the name against the folder again (the [`Catalog`] rules: nothing outside
//! it), so files added or removed while the server runs are seen at the next request. A
//! playlist's entries are resolved by the same rules, as names in the folder.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use log::{info, warn};

use crate::media::m3u::is_playlist_name;
use crate::media::Stamp;
use crate::server::catalog::Catalog;
use crate::server::source::movie::MovieSource;
use crate::server::source::playlist::{self, PlaylistSource};
use crate::server::source::{FrameCache, Seekable};

/// Skipped playlist entries logged one by one; the rest are counted.
const SKIPS_LOGGED: usize = 50;

/// Why a name gives no source: not there (404), or there but not streamable (415), with the
/// reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    NotFound(String),
    Unusable(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound(why) | LookupError::Unusable(why) => f.write_str(why),
        }
    }
}

struct Loaded {
    stamp: Stamp,
    source: Result<Arc<MovieSource>, String>,
}

struct LoadedPlaylist {
    stamp: Stamp,
    /// Each media-folder name its entries gave, with its file's stamp then (None: no file).
    names: BTreeMap<String, Option<Stamp>>,
    source: Result<Arc<PlaylistSource>, LookupError>,
}

pub struct Library {
    catalog: Catalog,
    loaded: HashMap<PathBuf, Loaded>,
    playlists: HashMap<PathBuf, LoadedPlaylist>,
    default_fps: f64,
    mtu: usize,
    next_uid: u64,
}

impl Library {
    pub fn new(catalog: Catalog, default_fps: f64, mtu: usize) -> Library {
        Library {
            catalog,
            loaded: HashMap::new(),
            playlists: HashMap::new(),
            default_fps,
            mtu,
            next_uid: 1,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Movies indexed and playlists read so far.
    pub fn loaded_count(&self) -> usize {
        self.loaded.len() + self.playlists.len()
    }

    /// The source called `name`: a playlist for `.m3u` and `.m3u8` names, else a movie.
    pub fn source(
        &mut self,
        name: &str,
        cache: &mut FrameCache,
    ) -> Result<Arc<dyn Seekable>, LookupError> {
        if is_playlist_name(name) {
            Ok(self.playlist(name, cache)?)
        } else {
            Ok(self.movie(name, cache)?)
        }
    }

    /// The movie called `name`, indexing it if it is new or changed on disk.
    pub fn movie(
        &mut self,
        name: &str,
        cache: &mut FrameCache,
    ) -> Result<Arc<MovieSource>, LookupError> {
        let path = match self.catalog.resolve(name) {
            Ok(p) => p,
            Err(why) => {
                self.prune(cache);
                return Err(LookupError::NotFound(format!(
                    "no movie named {name:?} ({why})"
                )));
            }
        };
        let stamp = Stamp::of(&path)
            .map_err(|e| LookupError::NotFound(format!("{}: {e}", path.display())))?;
        if self.loaded.get(&path).is_some_and(|l| l.stamp != stamp) {
            info!("{}: changed on disk; indexing it again", path.display());
            self.forget(&path, cache);
        }
        if !self.loaded.contains_key(&path) {
            let uid = self.next_uid;
            self.next_uid += 1;
            let source =
                MovieSource::open(uid, name, &path, self.default_fps, self.mtu).map(Arc::new);
            match &source {
                Ok(m) => {
                    let i = m.info();
                    info!(
                        "movie {}: {} frames, {}x{}, {:.1} MB, {:.1} s at {} fps",
                        i.name,
                        i.frames,
                        i.width,
                        i.height,
                        i.bytes as f64 / 1e6,
                        i.duration.unwrap_or(0.0),
                        i.fps
                    );
                }
                Err(why) => info!("cannot stream {}: {why}", path.display()),
            }
            self.loaded.insert(path.clone(), Loaded { stamp, source });
        }
        match &self.loaded[&path].source {
            Ok(m) => Ok(m.clone()),
            Err(why) => Err(LookupError::Unusable(why.clone())),
        }
    }

    /// The playlist called `name`, read again if it or a file it names changed on disk. One
    /// with no playable entry is "not found".
    pub fn playlist(
        &mut self,
        name: &str,
        cache: &mut FrameCache,
    ) -> Result<Arc<PlaylistSource>, LookupError> {
        let path = match self.catalog.resolve(name) {
            Ok(p) => p,
            Err(why) => {
                self.prune(cache);
                return Err(LookupError::NotFound(format!(
                    "no playlist named {name:?} ({why})"
                )));
            }
        };
        let stamp = Stamp::of(&path)
            .map_err(|e| LookupError::NotFound(format!("{}: {e}", path.display())))?;
        // Entries are relative to the playlist file's own folder, wherever a symlink to it is.
        let name = &self.catalog.name_of(&path);
        let current = self
            .playlists
            .get(&path)
            .is_some_and(|l| l.stamp == stamp && self.unchanged(&l.names));
        if !current {
            if self.playlists.contains_key(&path) {
                info!("playlist {name}: it or a movie it names changed; reading it again");
            }
            let loaded = self.read_playlist(name, &path, stamp, cache);
            self.playlists.insert(path.clone(), loaded);
        }
        self.playlists[&path].source.clone()
    }

    /// Do these media-folder names still lead to the files they did?
    fn unchanged(&self, names: &BTreeMap<String, Option<Stamp>>) -> bool {
        names.iter().all(|(n, stamp)| self.stamp_of(n) == *stamp)
    }

    fn stamp_of(&self, name: &str) -> Option<Stamp> {
        let path = self.catalog.resolve(name).ok()?;
        Stamp::of(&path).ok()
    }

    fn read_playlist(
        &mut self,
        name: &str,
        path: &std::path::Path,
        stamp: Stamp,
        cache: &mut FrameCache,
    ) -> LoadedPlaylist {
        let bytes = match playlist::read_file(path) {
            Ok(b) => b,
            Err(e) => {
                warn!("playlist {name}: cannot read it: {e}");
                return LoadedPlaylist {
                    stamp,
                    names: BTreeMap::new(),
                    source: Err(LookupError::Unusable(format!("{}: {e}", path.display()))),
                };
            }
        };
        let root = self.catalog.root().to_string_lossy().into_owned();
        let built = playlist::build(name, &bytes, &root, |n| {
            // Resolved first for the plain reason (no such file, outside the media folder).
            self.catalog.resolve(n).map_err(|why| why.to_string())?;
            self.movie(n, cache).map_err(|e| e.to_string())
        });
        for p in &built.problems {
            warn!("playlist {name}: {p}");
        }
        for s in built.skipped.iter().take(SKIPS_LOGGED) {
            warn!(
                "playlist {name}, line {}: {:?} skipped: {}",
                s.line, s.entry, s.why
            );
        }
        if built.skipped.len() > SKIPS_LOGGED {
            warn!(
                "playlist {name}: {} more entries skipped",
                built.skipped.len() - SKIPS_LOGGED
            );
        }
        let names = built
            .names
            .iter()
            .map(|n| (n.clone(), self.stamp_of(n)))
            .collect();
        let source = match built.source {
            Some(p) => {
                let i = p.info();
                info!(
                    "playlist {name}: {} entries played, {} skipped; {} frames, {:.1} MB, {:.3} s",
                    p.entries().len(),
                    built.skipped.len(),
                    i.frames,
                    i.bytes as f64 / 1e6,
                    i.duration.unwrap_or(0.0)
                );
                let uid = self.next_uid;
                self.next_uid += 1;
                Ok(Arc::new(p.with_uid(uid)))
            }
            None => {
                warn!("playlist {name}: no entry can be played");
                Err(LookupError::NotFound(format!(
                    "playlist {name}: no entry can be played"
                )))
            }
        };
        LoadedPlaylist {
            stamp,
            names,
            source,
        }
    }

    fn forget(&mut self, path: &PathBuf, cache: &mut FrameCache) {
        if let Some(Loaded { source: Ok(m), .. }) = self.loaded.remove(path) {
            cache.forget_source(m.uid());
        }
    }

    /// Forgets movies and playlists whose files are gone from the folder.
    fn prune(&mut self, cache: &mut FrameCache) {
        self.playlists.retain(|p, _| p.is_file());
        let gone: Vec<PathBuf> = self
            .loaded
            .keys()
            .filter(|p| !p.is_file())
            .cloned()
            .collect();
        for p in gone {
            self.forget(&p, cache);
        }
    }

    /// Names of the movie and playlist files in the folder now (not read).
    pub fn names(&self) -> Vec<String> {
        self.catalog
            .list()
            .iter()
            .map(|p| self.catalog.name_of(p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testmovie::TestMovie;
    use std::path::Path;

    use crate::testutil::TempDir as Tmp;

    fn write_movie(path: &Path, seconds: f64) {
        let t = TestMovie {
            seconds,
            width: 64,
            height: 64,
            ..TestMovie::default()
        };
        std::fs::write(path, t.to_lab_bytes()).unwrap();
    }

    /// media/ with a.Mjpeg (6 frames), sub/b.Mjpeg (12 frames) and a movie outside it.
    fn setup(tag: &str) -> (Tmp, Library, FrameCache) {
        let base = std::env::temp_dir().join(format!(
            "rtsp-mjpeg-lib-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let media = base.join("media");
        std::fs::create_dir_all(media.join("sub")).unwrap();
        write_movie(&media.join("a.Mjpeg"), 0.25);
        write_movie(&media.join("sub/b.Mjpeg"), 0.5);
        write_movie(&base.join("secret.Mjpeg"), 0.25);
        let lib = Library::new(Catalog::new(&media).unwrap(), 24.0, 1400);
        (Tmp(base), lib, FrameCache::new(1 << 20))
    }

    #[test]
    fn playlist_entries_resolve_like_urls() {
        let (t, mut lib, mut cache) = setup("resolve");
        let media = t.0.join("media");
        let root = lib.catalog().root().display().to_string();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, media.join(name)).unwrap()
        };
        link(&t.0.join("secret.Mjpeg"), "out.Mjpeg");
        link(&media.join("a.Mjpeg"), "in.Mjpeg");
        link(&t.0, "up");
        std::fs::write(media.join("other.m3u"), "a.Mjpeg\n").unwrap();
        std::fs::write(media.join("notes.txt"), "hello\n").unwrap();
        let text = format!(
            "#EXTM3U\n../a.Mjpeg\n../../secret.Mjpeg\n{base}/secret.Mjpeg\n{root}/sub/b.Mjpeg\n\
             ../out.Mjpeg\n../in.Mjpeg\n../up/secret.Mjpeg\nlist.m3u\n../other.m3u\n\
             ../notes.txt\nmissing.Mjpeg\n../sub/./b.Mjpeg\n",
            base = t.0.display()
        );
        std::fs::write(media.join("sub/list.m3u"), text).unwrap();
        let p = lib.playlist("sub/list.m3u", &mut cache).unwrap();
        let names: Vec<&str> = p.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["a.Mjpeg", "sub/b.Mjpeg", "in.Mjpeg", "sub/b.Mjpeg"],
            "inside the folder, however named"
        );
        assert_eq!(p.frame_count(), 6 + 12 + 6 + 12);
        assert_eq!(p.info().duration, Some(1.5));
        // The playlist's entries are the library's movies: one index, one cache key.
        let b = lib.movie("sub/b.Mjpeg", &mut cache).unwrap();
        assert!(Arc::ptr_eq(&p.entries()[1].movie, &b));
        assert!(Arc::ptr_eq(&p.entries()[1].movie, &p.entries()[3].movie));
        // Asked again, unchanged: the same source.
        let again = lib.source("sub/list.m3u", &mut cache).unwrap();
        assert_eq!(again.frame_count(), p.frame_count());
        assert!(Arc::ptr_eq(
            &p,
            &lib.playlist("sub/list.m3u", &mut cache).unwrap()
        ));
        // Through a symlink in another folder: entries are relative to the file's own folder.
        std::os::unix::fs::symlink("sub/list.m3u", media.join("alias.m3u")).unwrap();
        let q = lib.playlist("alias.m3u", &mut cache).unwrap();
        assert_eq!(q.frame_count(), p.frame_count());
        assert_eq!(q.info().name, "sub/list.m3u");
        // A plain movie through `source`.
        assert_eq!(lib.source("a.Mjpeg", &mut cache).unwrap().frame_count(), 6);
    }

    #[test]
    fn empty_playlists_are_not_found_and_changes_are_seen() {
        let (t, mut lib, mut cache) = setup("change");
        let media = t.0.join("media");
        std::fs::write(media.join("l.m3u8"), "c.Mjpeg\r\n../secret.Mjpeg\r\n").unwrap();
        assert!(matches!(
            lib.source("l.m3u8", &mut cache),
            Err(LookupError::NotFound(_))
        ));
        assert!(matches!(
            lib.source("nothing.m3u", &mut cache),
            Err(LookupError::NotFound(_))
        ));
        // The missing entry appears: the playlist is read again.
        write_movie(&media.join("c.Mjpeg"), 0.25);
        let p = lib.playlist("l.m3u8", &mut cache).unwrap();
        assert_eq!(p.frame_count(), 6);
        // An entry changes on disk: read again, with the new movie.
        write_movie(&media.join("c.Mjpeg"), 0.5);
        let q = lib.playlist("l.m3u8", &mut cache).unwrap();
        assert!(!Arc::ptr_eq(&p, &q));
        assert_eq!(q.frame_count(), 12);
        // The playlist itself changes.
        std::fs::write(media.join("l.m3u8"), "c.Mjpeg\na.Mjpeg\n").unwrap();
        assert_eq!(
            lib.playlist("l.m3u8", &mut cache).unwrap().frame_count(),
            18
        );
        // Junk is no playlist.
        let junk: Vec<u8> = (0..50_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(media.join("junk.m3u"), junk).unwrap();
        assert!(lib.source("junk.m3u", &mut cache).is_err());
        // Gone: forgotten.
        std::fs::remove_file(media.join("l.m3u8")).unwrap();
        assert!(lib.source("l.m3u8", &mut cache).is_err());
        assert!(lib.names().contains(&"junk.m3u".to_string()));
    }
}
