//! rtspd's access control (`--auth`, `--auth-file`, `--auth-methods`): which credentials are
//! accepted, the nonces the server hands out, and how repeated failures are slowed down.
//!
//! Only HA1 = MD5(user:realm:password) is kept, which serves both schemes: Basic's password is
//! hashed the same way and compared. Nonces carry their issue time and a MAC keyed with a secret
//! drawn at start, so they cannot be forged, are valid only on this server run, and go stale after
//! `nonce_ttl` (the client is then asked again with `stale=true`, without a failure counted).
//! A peer that fails more than [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] gets 403 until the
//! window passes; failures are logged with the peer (never the credentials), the first few each
//! window, then once as "suppressed".

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::warn;

use crate::rtsp::auth::{digest_response, ha1, md5_hex, quote, AuthHeader};

pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Peers tracked for failures at most; the oldest windows are forgotten past it.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Digest,
}

/// One accepted user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// Lowercase hex MD5(user:realm:password).
    pub ha1: String,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub realm: String,
    pub users: Vec<User>,
    pub schemes: Vec<Scheme>,
    pub nonce_ttl: Duration,
}

impl AuthConfig {
    pub fn new(realm: &str) -> AuthConfig {
        AuthConfig {
            realm: realm.to_string(),
            users: Vec::new(),
            schemes: vec![Scheme::Digest],
            nonce_ttl: Duration::from_secs(60),
        }
    }

    /// `user:password` (from `--auth`).
    pub fn add_plain(&mut self, spec: &str) -> Result<(), String> {
        let (u, p) = spec
            .split_once(':')
            .filter(|(u, _)| !u.is_empty())
            .ok_or("expected user:password")?;
        self.users.push(User {
            name: u.to_string(),
            ha1: ha1(u, &self.realm, p),
        });
        Ok(())
    }

    /// A file of `user:password` or `user:realm:md5(user:realm:password)` lines; blank lines and
    /// `#` comments are skipped. Errors name the file and line, never its secrets.
    pub fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{} line {}", path.display(), i + 1);
            let parts: Vec<&str> = line.splitn(3, ':').collect();
            match parts.as_slice() {
                [u, realm, h]
                    if h.len() == 32
                        && h.bytes().all(|b| b.is_ascii_hexdigit())
                        && !u.is_empty() =>
                {
                    if *realm != self.realm {
                        return Err(format!(
                            "{}: realm {realm:?} is not the server's {:?} (--realm)",
                            at(),
                            self.realm
                        ));
                    }
                    self.users.push(User {
                        name: u.to_string(),
                        ha1: h.to_ascii_lowercase(),
                    });
                }
                [u, _, ..] if !u.is_empty() => {
                    self.add_plain(line).map_err(|e| format!("{}: {e}", at()))?
                }
                _ => {
                    return Err(format!(
                        "{}: expected user:password or user:realm:md5hex",
                        at()
                    ))
                }
            }
        }
        Ok(())
    }

    /// `digest`, `basic` or both, comma-separated.
    pub fn set_schemes(&mut self, spec: &str) -> Result<(), String> {
        let mut v = Vec::new();
        for s in spec.split(',').map(str::trim) {
            v.push(match s.to_ascii_lowercase().as_str() {
                "digest" => Scheme::Digest,
                "basic" => Scheme::Basic,
                _ => return Err(format!("{s:?}: expected digest or basic")),
            });
        }
        if v.is_empty() {
            return Err("no method".into());
        }
        self.schemes = v;
        Ok(())
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// 401 with challenges; `stale` when only the nonce had expired.
    Challenge {
        stale: bool,
    },
    /// 403: too many failures from this peer.
    Locked,
}

struct Failures {
    since: SystemTime,
    count: u32,
    suppressed_logged: bool,
}

pub struct Authenticator {
    config: AuthConfig,
    secret: String,
    failures: HashMap<IpAddr, Failures>,
    /// Wrong credentials over the server's life (for /metrics).
    failures_total: u64,
}

impl Authenticator {
    pub fn new(config: AuthConfig) -> Result<Authenticator, String> {
        let mut key = [0u8; 16];
        getrandom::fill(&mut key).map_err(|e| format!("no OS randomness for nonces: {e}"))?;
        Ok(Authenticator {
            config,
            secret: crate::rtsp::auth::hex(&key),
            failures: HashMap::new(),
            failures_total: 0,
        })
    }

    pub fn failures_total(&self) -> u64 {
        self.failures_total
    }

    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    fn nonce(&self, now: SystemTime) -> String {
        let t = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let ts = format!("{t:016x}");
        let mac = md5_hex(&[ts.as_bytes(), b":", self.secret.as_bytes()]);
        format!("{ts}{}", &mac[..16])
    }

    /// Ok(true): ours and fresh; Ok(false): ours but stale; Err: not ours.
    fn check_nonce(&self, nonce: &str, now: SystemTime) -> Result<bool, ()> {
        if nonce.len() != 32 || !nonce.is_ascii() {
            return Err(());
        }
        let (ts, mac) = nonce.split_at(16);
        let want = md5_hex(&[ts.as_bytes(), b":", self.secret.as_bytes()]);
        if !constant_time_eq(mac.as_bytes(), &want.as_bytes()[..16]) {
            return Err(());
        }
        let issued = u64::from_str_radix(ts, 16).map_err(|_| ())?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Ok(now.saturating_sub(issued) <= self.config.nonce_ttl.as_secs())
    }

    /// The `WWW-Authenticate` values for a 401, one per scheme in the configured order.
    pub fn challenges(&self, now: SystemTime, stale: bool) -> Vec<String> {
        self.config
            .schemes
            .iter()
            .map(|s| match s {
                Scheme::Basic => format!("Basic realm={}", quote(&self.config.realm)),
                Scheme::Digest => format!(
                    "Digest realm={}, nonce={}, algorithm=MD5, qop=\"auth\"{}",
                    quote(&self.config.realm),
                    quote(&self.nonce(now)),
                    if stale { ", stale=TRUE" } else { "" }
                ),
            })
            .collect()
    }

    /// Checks the `Authorization` header of a request for `target` (its request URI).
    pub fn check(
        &mut self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        peer: IpAddr,
        now: SystemTime,
    ) -> Verdict {
        if let Some(f) = self.failures.get(&peer) {
            let fresh = now.duration_since(f.since).unwrap_or_default() < FAILURE_WINDOW;
            if fresh && f.count >= MAX_FAILURES {
                return Verdict::Locked;
            }
        }
        let Some(header) = authorization.and_then(AuthHeader::parse) else {
            return Verdict::Challenge { stale: false };
        };
        let outcome = if header.is("basic") && self.config.schemes.contains(&Scheme::Basic) {
            self.check_basic(&header)
        } else if header.is("digest") && self.config.schemes.contains(&Scheme::Digest) {
            self.check_digest(&header, method, target, now)
        } else {
            Err(None)
        };
        match outcome {
            Ok(()) => Verdict::Allowed,
            Err(Some(stale)) => Verdict::Challenge { stale },
            Err(None) => {
                let user = match header.basic_credentials() {
                    Some((u, _)) => Some(u),
                    None => header.get("username").map(str::to_string),
                };
                self.failed(peer, user.as_deref(), now);
                Verdict::Challenge { stale: false }
            }
        }
    }

    fn user(&self, name: &str) -> Option<&User> {
        self.config.users.iter().find(|u| u.name == name)
    }

    /// Err(None): wrong credentials.
    fn check_basic(&self, h: &AuthHeader) -> Result<(), Option<bool>> {
        let (user, password) = h.basic_credentials().ok_or(None)?;
        let u = self.user(&user).ok_or(None)?;
        let got = ha1(&user, &self.config.realm, &password);
        constant_time_eq(got.as_bytes(), u.ha1.as_bytes())
            .then_some(())
            .ok_or(None)
    }

    /// Err(Some(true)): a correct answer to a stale nonce.
    fn check_digest(
        &self,
        h: &AuthHeader,
        method: &str,
        target: &str,
        now: SystemTime,
    ) -> Result<(), Option<bool>> {
        let field = |n: &str| h.get(n).ok_or(None);
        let (user, nonce, uri, response) = (
            field("username")?,
            field("nonce")?,
            field("uri")?,
            field("response")?,
        );
        if h.get("realm") != Some(self.config.realm.as_str()) || !same_resource(uri, target) {
            return Err(None);
        }
        let fresh = self.check_nonce(nonce, now).map_err(|_| None)?;
        let u = self.user(user).ok_or(None)?;
        let qop = match h.get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => Some((field("nc")?, field("cnonce")?)),
            Some(_) => return Err(None),
            None => None,
        };
        let want = digest_response(&u.ha1, nonce, method, uri, qop);
        if !constant_time_eq(want.as_bytes(), response.to_ascii_lowercase().as_bytes()) {
            return Err(None);
        }
        if fresh {
            Ok(())
        } else {
            Err(Some(true))
        }
    }

    fn failed(&mut self, peer: IpAddr, user: Option<&str>, now: SystemTime) {
        self.failures_total += 1;
        if self.failures.len() >= MAX_TRACKED && !self.failures.contains_key(&peer) {
            self.failures
                .retain(|_, f| now.duration_since(f.since).unwrap_or_default() < FAILURE_WINDOW);
            if self.failures.len() >= MAX_TRACKED {
                self.failures.clear();
            }
        }
        let f = self.failures.entry(peer).or_insert(Failures {
            since: now,
            count: 0,
            suppressed_logged: false,
        });
        if now.duration_since(f.since).unwrap_or_default() >= FAILURE_WINDOW {
            *f = Failures {
                since: now,
                count: 0,
                suppressed_logged: false,
            };
        }
        f.count += 1;
        // The user name is the client's claim; quoting it with {:?} keeps control bytes out of logs.
        if f.count <= MAX_FAILURES {
            warn!(
                "{peer}: authentication failed for user {:?} ({} of {MAX_FAILURES} allowed per {}s)",
                user.unwrap_or("-"),
                f.count,
                FAILURE_WINDOW.as_secs()
            );
        } else if !f.suppressed_logged {
            f.suppressed_logged = true;
            warn!("{peer}: too many authentication failures; refusing it with 403 for a while");
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a Digest answer's `uri` names the resource requested (RFC 7616 §3.4.6), so that an
/// answer seen for one request cannot open another. Compared by path, without scheme, host or
/// query: clients differ in how they spell the rest. A track's request may carry its
/// aggregate's URI (GStreamer answers with the URL it was given for every request), and
/// `OPTIONS *` any.
fn same_resource(uri: &str, target: &str) -> bool {
    fn path(u: &str) -> &str {
        let u = u.split(['?', '#']).next().unwrap_or("");
        let u = match u.find("://") {
            Some(i) => u[i + 3..].find('/').map_or("", |j| &u[i + 3 + j..]),
            None => u,
        };
        u.trim_matches('/')
    }
    let (a, b) = (path(uri), path(target));
    let under =
        |long: &str, short: &str| long.strip_prefix(short).is_some_and(|r| r.starts_with('/'));
    target == "*" || a == b || under(b, a) || under(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URI the tests' Digest answers name and their requests ask for.
    const URI: &str = "rtsp://h/movie.Mjpeg";
    use crate::rtsp::auth::basic_authorization;

    fn auth(schemes: &str) -> Authenticator {
        let mut c = AuthConfig::new("rtspd");
        c.add_plain("alice:secret").unwrap();
        c.set_schemes(schemes).unwrap();
        Authenticator::new(c).unwrap()
    }

    fn digest_for(a: &Authenticator, user: &str, pass: &str, nonce: &str, qop: bool) -> String {
        let h = ha1(user, "rtspd", pass);
        let uri = URI;
        let q = qop.then_some(("00000001", "abcdef"));
        let r = digest_response(&h, nonce, "DESCRIBE", uri, q);
        let mut s = format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\"",
            a.realm()
        );
        if qop {
            s.push_str(", qop=auth, nc=00000001, cnonce=\"abcdef\"");
        }
        s
    }

    fn nonce_of(challenge: &str) -> String {
        AuthHeader::parse(challenge)
            .unwrap()
            .get("nonce")
            .unwrap()
            .to_string()
    }

    #[test]
    fn digest_with_and_without_qop() {
        let mut a = auth("digest");
        let now = SystemTime::now();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            a.check("DESCRIBE", URI, None, peer, now),
            Verdict::Challenge { stale: false }
        );
        let ch = a.challenges(now, false);
        assert_eq!(ch.len(), 1);
        assert!(ch[0].starts_with("Digest realm=\"rtspd\", nonce=\""));
        let nonce = nonce_of(&ch[0]);
        for qop in [false, true] {
            let h = digest_for(&a, "alice", "secret", &nonce, qop);
            assert_eq!(
                a.check("DESCRIBE", URI, Some(&h), peer, now),
                Verdict::Allowed,
                "qop={qop}"
            );
            // The method is part of the hash.
            assert_ne!(
                a.check("TEARDOWN", URI, Some(&h), peer, now),
                Verdict::Allowed
            );
        }
        let wrong = digest_for(&a, "alice", "guess", &nonce, true);
        assert_eq!(
            a.check("DESCRIBE", URI, Some(&wrong), peer, now),
            Verdict::Challenge { stale: false }
        );
        let basic = basic_authorization("alice", "secret");
        assert_ne!(
            a.check("DESCRIBE", URI, Some(&basic), peer, now),
            Verdict::Allowed,
            "Basic not enabled"
        );
    }

    #[test]
    fn an_answer_opens_only_the_resource_it_names() {
        let mut a = auth("digest");
        let now = SystemTime::now();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let nonce = nonce_of(&a.challenges(now, false)[0]);
        let h = digest_for(&a, "alice", "secret", &nonce, true); // uri rtsp://h/movie.Mjpeg
        for target in [
            "rtsp://h/movie.Mjpeg",
            "rtsp://127.0.0.1:8554/movie.Mjpeg/",
            "rtsp://h/movie.Mjpeg/trackID=0",
            "/movie.Mjpeg",
            "*",
        ] {
            assert_eq!(
                a.check("DESCRIBE", target, Some(&h), peer, now),
                Verdict::Allowed,
                "{target}"
            );
        }
        for target in [
            "rtsp://h/mixed.m3u",
            "rtsp://h/movie.Mjpeg2",
            "rtsp://h/",
            "/api/movies",
        ] {
            assert_ne!(
                a.check("DESCRIBE", target, Some(&h), peer, now),
                Verdict::Allowed,
                "{target}"
            );
        }
        assert!(same_resource("/thumb/a.Mjpeg", "/thumb/a.Mjpeg?t=3"));
        assert!(!same_resource("/thumb/a.Mjpeg", "/mjpeg/a.Mjpeg"));
        assert!(!same_resource("rtsp://h/", "rtsp://h/movie.Mjpeg"));
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let mut a = auth("digest");
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let then = SystemTime::now() - Duration::from_secs(120);
        let old = nonce_of(&a.challenges(then, false)[0]);
        let h = digest_for(&a, "alice", "secret", &old, true);
        assert_eq!(
            a.check("DESCRIBE", URI, Some(&h), peer, SystemTime::now()),
            Verdict::Challenge { stale: true }
        );
        // A nonce from another server run (another secret) is not accepted.
        let other = auth("digest");
        let foreign = nonce_of(&other.challenges(SystemTime::now(), false)[0]);
        let h = digest_for(&a, "alice", "secret", &foreign, true);
        assert_eq!(
            a.check("DESCRIBE", URI, Some(&h), peer, SystemTime::now()),
            Verdict::Challenge { stale: false }
        );
    }

    #[test]
    fn basic_and_lockout() {
        let mut a = auth("basic,digest");
        let now = SystemTime::now();
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let ch = a.challenges(now, false);
        assert_eq!(ch[0], "Basic realm=\"rtspd\"");
        assert!(ch[1].starts_with("Digest "));
        let good = basic_authorization("alice", "secret");
        assert_eq!(
            a.check("PLAY", URI, Some(&good), peer, now),
            Verdict::Allowed
        );
        let bad = basic_authorization("alice", "nope");
        for _ in 0..MAX_FAILURES {
            assert_eq!(
                a.check("PLAY", URI, Some(&bad), peer, now),
                Verdict::Challenge { stale: false }
            );
        }
        assert_eq!(
            a.check("PLAY", URI, Some(&good), peer, now),
            Verdict::Locked,
            "even good ones, for a while"
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            a.check("PLAY", URI, Some(&good), other, now),
            Verdict::Allowed,
            "per peer"
        );
        let later = now + FAILURE_WINDOW + Duration::from_secs(1);
        assert_eq!(
            a.check("PLAY", URI, Some(&good), peer, later),
            Verdict::Allowed
        );
    }

    #[test]
    fn config_parsing() {
        let dir = std::env::temp_dir().join(format!("rtsp-mjpeg-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("users");
        let h = ha1("bob", "rtspd", "pw");
        std::fs::write(
            &f,
            format!("# users\nalice:secret\n\nbob:rtspd:{h}\ncarol:pa:ss\n"),
        )
        .unwrap();
        let mut c = AuthConfig::new("rtspd");
        c.add_file(&f).unwrap();
        assert_eq!(c.users.len(), 3);
        assert_eq!(c.users[1].ha1, h);
        assert_eq!(
            c.users[2].ha1,
            ha1("carol", "rtspd", "pa:ss"),
            "passwords may hold ':'"
        );
        std::fs::write(&f, format!("bob:other:{h}\n")).unwrap();
        let e = AuthConfig::new("rtspd").add_file(&f).unwrap_err();
        assert!(e.contains("line 1") && !e.contains(&h), "{e}");
        std::fs::write(&f, "nocolon\n").unwrap();
        assert!(AuthConfig::new("rtspd")
            .add_file(&f)
            .unwrap_err()
            .contains("line 1"));
        assert!(AuthConfig::new("r").set_schemes("ntlm").is_err());
        assert!(AuthConfig::new("r").add_plain(":x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
