//! Request targets (RFC 9112 §3.2): the path, percent-decoded once, and the query; and paths
//! percent-encoded for links.
//!
//! Decoding happens exactly once; what the path then names is for the media catalogue to check
//! (it refuses `..`, `%` left over from double encoding, NUL and anything outside the folder).

/// A request target split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded path, starting with `/` (or `*` for `OPTIONS *`).
    pub path: String,
    /// The query after `?`, not decoded (empty without one).
    pub query: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTarget(pub &'static str);

impl std::fmt::Display for BadTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad request target: {}", self.0)
    }
}

/// Splits and decodes an origin-form (`/a/b?c`) or absolute-form (`http://h/a/b?c`) target.
pub fn parse_target(target: &str) -> Result<Target, BadTarget> {
    if target == "*" {
        return Ok(Target {
            path: "*".into(),
            query: String::new(),
        });
    }
    let rest = match target.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            match rest.find('/') {
                Some(i) => &rest[i..],
                None => "/",
            }
        }
        Some(_) => return Err(BadTarget("not an http URL")),
        None => target,
    };
    if !rest.starts_with('/') {
        return Err(BadTarget("the path must start with '/'"));
    }
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = percent_decode(path, false).ok_or(BadTarget("bad percent escape"))?;
    if path.contains('\0') {
        return Err(BadTarget("NUL in the path"));
    }
    Ok(Target {
        path,
        query: query.to_string(),
    })
}

/// Decodes `%XX` escapes (and `+` as a space in queries). None for a broken escape or a
/// result that is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The decoded value of `key` in a query string (`a=1&t=12.5`), if present.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k, true)? == key).then(|| percent_decode(v, true))?
    })
}

/// `name` with every byte but unreserved characters and `/` percent-encoded, for a URL path.
pub fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("/watch/clips/a%20b.Mjpeg?t=12.5&x=1").unwrap();
        assert_eq!(t.path, "/watch/clips/a b.Mjpeg");
        assert_eq!(query_param(&t.query, "t").as_deref(), Some("12.5"));
        assert_eq!(query_param(&t.query, "x").as_deref(), Some("1"));
        assert_eq!(query_param(&t.query, "y"), None);
        assert_eq!(query_param("q=a+b%2B", "q").as_deref(), Some("a b+"));
        assert_eq!(parse_target("http://h:80/x?y").unwrap().path, "/x");
        assert_eq!(parse_target("http://h").unwrap().path, "/");
        assert_eq!(parse_target("*").unwrap().path, "*");
        assert_eq!(
            parse_target("/a+b").unwrap().path,
            "/a+b",
            "+ is literal in paths"
        );
        assert!(parse_target("rtsp://h/x").is_err());
        assert!(parse_target("x").is_err());
        assert!(parse_target("/%zz").is_err());
        assert!(parse_target("/%2").is_err());
        assert!(parse_target("/%00").is_err());
        assert!(parse_target("/%ff").is_err(), "not UTF-8");
        // Decoded once: %252e stays %2e, which the catalogue refuses.
        assert_eq!(parse_target("/%252e%252e").unwrap().path, "/%2e%2e");
    }

    #[test]
    fn encoding_round_trips() {
        for name in ["movie.Mjpeg", "clips/a b#?.mjpeg", "é/ü%.mp4"] {
            let enc = encode_path(name);
            assert!(!enc.contains([' ', '#', '?']), "{enc}");
            assert_eq!(
                parse_target(&format!("/{enc}")).unwrap().path,
                format!("/{name}")
            );
        }
    }
}
