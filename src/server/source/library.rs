//! The media folder's sources by name: each movie indexed on first use, kept while its file stays
//! the same, indexed afresh when the file changes, forgotten when it goes.
//!
//! Nothing is read at start, so start-up time and memory do not grow with the folder. Every
//! lookup resolves the name against the folder again (the [`Catalog`] rules: nothing outside
//! it), so files added or removed while the server runs are seen at the next request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use log::info;

use crate::media::Stamp;
use crate::server::catalog::Catalog;
use crate::server::source::movie::MovieSource;
use crate::server::source::{FrameCache, Seekable};

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

pub struct Library {
    catalog: Catalog,
    loaded: HashMap<PathBuf, Loaded>,
    default_fps: f64,
    mtu: usize,
    next_uid: u64,
}

impl Library {
    pub fn new(catalog: Catalog, default_fps: f64, mtu: usize) -> Library {
        Library {
            catalog,
            loaded: HashMap::new(),
            default_fps,
            mtu,
            next_uid: 1,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Movies indexed so far.
    pub fn loaded_count(&self) -> usize {
        self.loaded.len()
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

    fn forget(&mut self, path: &PathBuf, cache: &mut FrameCache) {
        if let Some(Loaded { source: Ok(m), .. }) = self.loaded.remove(path) {
            cache.forget_source(m.uid());
        }
    }

    /// Forgets movies whose files are gone from the folder.
    fn prune(&mut self, cache: &mut FrameCache) {
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

    /// Names of the movie files in the folder now (not indexed).
    pub fn names(&self) -> Vec<String> {
        self.catalog
            .list()
            .iter()
            .map(|p| self.catalog.name_of(p))
            .collect()
    }
}
