//! `Range: bytes=...` (RFC 9110 §14.1-§14.4) against a file of known length.
//!
//! One range is served as 206 with `Content-Range`; a request for several is answered with the
//! whole file (a server may ignore Range, §14.2), which every video element handles; an invalid
//! header or another unit is ignored the same way. Only a well-formed single range that starts
//! at or past the end is 416.

/// What to send for a request's Range header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// 200 and the whole file.
    Whole,
    /// 206 with bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

impl Ranged {
    /// The `Content-Range` value of a 206 or 416 for a file of `len` bytes.
    pub fn content_range(self, len: u64) -> Option<String> {
        match self {
            Ranged::Whole => None,
            Ranged::Part { start, end } => Some(format!("bytes {start}-{end}/{len}")),
            Ranged::Unsatisfiable => Some(format!("bytes */{len}")),
        }
    }
}

/// Interprets `header` (the Range field's value; None when absent) for a file of `len` bytes.
pub fn parse(header: Option<&str>, len: u64) -> Ranged {
    let Some(header) = header else {
        return Ranged::Whole;
    };
    let Some((unit, set)) = header.trim().split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let num = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            return Some(None);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // More digits than u64 holds still names a position past any file.
        Some(Some(s.parse().unwrap_or(u64::MAX)))
    };
    let (Some(first), Some(last)) = (num(first), num(last)) else {
        return Ranged::Whole;
    };
    match (first, last) {
        // bytes=-N: the last N bytes.
        (None, Some(n)) => {
            if n == 0 || len == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        (Some(start), last) => {
            if last.is_some_and(|l| l < start) {
                return Ranged::Whole; // invalid: ignored
            }
            if start >= len {
                return Ranged::Unsatisfiable;
            }
            let end = last.map_or(len - 1, |l| l.min(len - 1));
            Ranged::Part { start, end }
        }
        (None, None) => Ranged::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = |h: &str| parse(Some(h), 1000);
        assert_eq!(parse(None, 1000), Ranged::Whole);
        assert_eq!(p("bytes=0-"), Ranged::Part { start: 0, end: 999 });
        assert_eq!(p("bytes=0-0"), Ranged::Part { start: 0, end: 0 });
        assert_eq!(
            p("bytes=100-199"),
            Ranged::Part {
                start: 100,
                end: 199
            }
        );
        assert_eq!(
            p("bytes=900-5000"),
            Ranged::Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            p("bytes=-500"),
            Ranged::Part {
                start: 500,
                end: 999
            }
        );
        assert_eq!(p("bytes=-5000"), Ranged::Part { start: 0, end: 999 });
        assert_eq!(p("Bytes = 5 - 9"), Ranged::Part { start: 5, end: 9 });
        assert_eq!(p("bytes=1000-"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999999-"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=5-1"), Ranged::Whole);
        assert_eq!(p("bytes=0-1,5-6"), Ranged::Whole);
        assert_eq!(p("items=0-1"), Ranged::Whole);
        assert_eq!(p("bytes=a-b"), Ranged::Whole);
        assert_eq!(p("bytes=-"), Ranged::Whole);
        assert_eq!(parse(Some("bytes=0-"), 0), Ranged::Unsatisfiable);
        assert_eq!(
            Ranged::Part { start: 5, end: 9 }.content_range(1000),
            Some("bytes 5-9/1000".into())
        );
        assert_eq!(
            Ranged::Unsatisfiable.content_range(1000),
            Some("bytes */1000".into())
        );
    }
}
