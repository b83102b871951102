//! Answering a server's 401 (RFC 2326 §14 with RFC 2617): Digest with MD5, with `qop=auth`
//! (counting nc, a fresh cnonce each time) or without, preferred to Basic, which would send the
//! password. The arithmetic is [`crate::rtsp::auth`]'s, shared with the server.

use crate::rtsp::auth::{basic_authorization, digest_response, ha1, hex, quote, AuthHeader};

/// What a 401 asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        qop: bool,
        nc: u32,
    },
}

impl Challenge {
    /// Digest if the server offers it with an algorithm we know, else Basic.
    pub(super) fn choose<'a>(offers: impl Iterator<Item = &'a str>) -> Option<Challenge> {
        let parsed: Vec<AuthHeader> = offers.filter_map(AuthHeader::parse).collect();
        let digest = parsed.iter().find(|h| {
            h.is("digest")
                && h.get("algorithm")
                    .is_none_or(|a| a.eq_ignore_ascii_case("md5"))
        });
        if let Some(d) = digest {
            if let Some(nonce) = d.get("nonce") {
                return Some(Challenge::Digest {
                    realm: d.get("realm").unwrap_or("").to_string(),
                    nonce: nonce.to_string(),
                    opaque: d.get("opaque").map(str::to_string),
                    qop: d.get("qop").is_some_and(|q| {
                        q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"))
                    }),
                    nc: 0,
                });
            }
        }
        parsed
            .iter()
            .any(|h| h.is("basic"))
            .then_some(Challenge::Basic)
    }

    /// True if any challenge says `stale=TRUE`: the nonce expired, the credentials were right.
    pub(super) fn is_stale<'a>(mut offers: impl Iterator<Item = &'a str>) -> bool {
        offers.any(|v| {
            AuthHeader::parse(v).is_some_and(|h| {
                h.get("stale")
                    .is_some_and(|s| s.eq_ignore_ascii_case("true"))
            })
        })
    }

    /// The `Authorization` value for one request.
    pub(super) fn authorization(
        &mut self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> String {
        match self {
            Challenge::Basic => basic_authorization(user, password),
            Challenge::Digest {
                realm,
                nonce,
                opaque,
                qop,
                nc,
            } => {
                let h = ha1(user, realm, password);
                let mut v = format!(
                    "Digest username={}, realm={}, nonce={}, uri={}",
                    quote(user),
                    quote(realm),
                    quote(nonce),
                    quote(uri)
                );
                let response = if *qop {
                    *nc = nc.wrapping_add(1);
                    let nc = format!("{nc:08x}");
                    let mut c = [0u8; 8];
                    let _ = getrandom::fill(&mut c);
                    let cnonce = hex(&c);
                    v.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", quote(&cnonce)));
                    digest_response(&h, nonce, method, uri, Some((&nc, &cnonce)))
                } else {
                    digest_response(&h, nonce, method, uri, None)
                };
                v.push_str(&format!(", response={}, algorithm=MD5", quote(&response)));
                if let Some(o) = opaque {
                    v.push_str(&format!(", opaque={}", quote(o)));
                }
                v
            }
        }
    }
}
