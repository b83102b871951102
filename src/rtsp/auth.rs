//! HTTP authentication as RTSP uses it (RFC 2326 §14, RFC 2617): Basic and Digest with MD5,
//! with and without `qop=auth`. Header parsing and the digest arithmetic, shared by the server's
//! checks and the player's answers; no policy here.

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// Lowercase hex MD5 of the concatenation of `parts`.
pub fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HA1 = MD5(user:realm:password), what a server needs to keep (never the password).
pub fn ha1(user: &str, realm: &str, password: &str) -> String {
    md5_hex(&[
        user.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// The `response` a client computes (RFC 2617 §3.2.2.1).
pub fn digest_response(
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha2 = md5_hex(&[method.as_bytes(), b":", uri.as_bytes()]);
    match qop {
        // qop=auth: nc and cnonce enter the hash.
        Some((nc, cnonce)) => md5_hex(&[
            ha1.as_bytes(),
            b":",
            nonce.as_bytes(),
            b":",
            nc.as_bytes(),
            b":",
            cnonce.as_bytes(),
            b":auth:",
            ha2.as_bytes(),
        ]),
        None => md5_hex(&[ha1.as_bytes(), b":", nonce.as_bytes(), b":", ha2.as_bytes()]),
    }
}

/// An `Authorization` or `WWW-Authenticate` value: the scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub scheme: String,
    /// `name=value` pairs with quotes removed (Digest), or the single token (Basic) under "".
    pub params: Vec<(String, String)>,
}

impl AuthHeader {
    pub fn parse(value: &str) -> Option<AuthHeader> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        let rest = rest.trim();
        let mut params = Vec::new();
        if scheme.eq_ignore_ascii_case("basic") {
            params.push((String::new(), rest.to_string()));
            return Some(AuthHeader {
                scheme: scheme.to_string(),
                params,
            });
        }
        let b = rest.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i] != b'=' && b[i] != b',' {
                i += 1;
            }
            let name = rest[start..i].trim().to_ascii_lowercase();
            if i >= b.len() || b[i] != b'=' {
                if !name.is_empty() {
                    params.push((name, String::new()));
                }
                continue;
            }
            i += 1;
            let val = if b.get(i) == Some(&b'"') {
                i += 1;
                let mut v = Vec::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    v.push(b[i]);
                    i += 1;
                }
                i += 1; // closing quote
                String::from_utf8_lossy(&v).into_owned()
            } else {
                let s = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                rest[s..i].trim().to_string()
            };
            params.push((name, val));
        }
        Some(AuthHeader {
            scheme: scheme.to_string(),
            params,
        })
    }

    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Basic's `user:password`, decoded.
    pub fn basic_credentials(&self) -> Option<(String, String)> {
        let token = self.get("")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }
}

/// `Basic base64(user:password)`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Quotes a value for a Digest header (escaping `"` and `\`).
pub fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example.
    #[test]
    fn rfc2617_example() {
        let h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let r = digest_response(
            &h,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn parses_headers() {
        let a = AuthHeader::parse(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae4", opaque="5ccc069c""#,
        )
        .unwrap();
        assert!(a.is("digest"));
        assert_eq!(a.get("username"), Some("Mufasa"));
        assert_eq!(a.get("qop"), Some("auth"));
        assert_eq!(a.get("nc"), Some("00000001"));
        assert_eq!(a.get("opaque"), Some("5ccc069c"));
        let c = AuthHeader::parse(r#"Digest realm="a\"b", nonce="n", stale=TRUE"#).unwrap();
        assert_eq!(c.get("realm"), Some("a\"b"));
        assert_eq!(c.get("stale"), Some("TRUE"));
        let b = AuthHeader::parse(&basic_authorization("Aladdin", "open sesame")).unwrap();
        assert_eq!(
            b.get(""),
            Some("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            "RFC 2617 §2's example"
        );
        assert_eq!(
            b.basic_credentials(),
            Some(("Aladdin".into(), "open sesame".into()))
        );
        assert!(AuthHeader::parse("").is_none());
        assert!(AuthHeader::parse("Basic !!!")
            .unwrap()
            .basic_credentials()
            .is_none());
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            if let Some(h) = AuthHeader::parse(&s) {
                let _ = h.basic_credentials();
            }
        }
    }
}
