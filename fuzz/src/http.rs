//! Harnesses for the HTTP side of the port (issue 13): the request parser with what the server
//! does with a request's parts (target, query, Range, tunnel cookie), and the RTSP tunnel's
//! base64 body reader. Past RTSP servers crashed on malformed tunnel requests; these must not.

use base64::Engine;
use rtsp_mjpeg::http::range::{self, Ranged};
use rtsp_mjpeg::http::request::{classify, parse_head, ParseError};
use rtsp_mjpeg::http::tunnel::{tunnel_end, Base64Reader};
use rtsp_mjpeg::http::url::{encode_path, parse_target, percent_decode, query_param};
use rtsp_mjpeg::rtsp::message::Limits;

/// `http::request::parse_head` over the bytes as a connection's receive buffer (pipelined
/// requests in turn), under the default limits and tight ones, and `classify` on them; each
/// parsed head's target, query, Range and tunnel cookie go through the server's own readers.
pub fn http_request(data: &[u8]) {
    let tight = Limits {
        max_head: 200,
        max_headers: 6,
        max_body: 64,
    };
    for limits in [Limits::default(), tight] {
        let _ = classify(data, limits.max_head);
        let mut rest = data;
        for _ in 0..32 {
            match parse_head(rest, &limits) {
                Ok((req, used)) => {
                    // CHECK: a head uses some of the buffer and no more than all of it.
                    assert!(
                        used > 0 && used <= rest.len(),
                        "used {used} of {}",
                        rest.len()
                    );
                    // CHECK: a head is self-delimiting, and no prefix of it is a head.
                    assert_eq!(parse_head(&rest[..used], &limits), Ok((req.clone(), used)));
                    for cut in (0..used).step_by(1 + used / 64) {
                        assert_eq!(
                            parse_head(&rest[..cut], &limits),
                            Err(ParseError::Incomplete),
                            "a prefix of {cut} bytes"
                        );
                    }
                    // CHECK: what the server writes of a head parses back to the same head.
                    let mut again = Vec::new();
                    req.write_head(&mut again);
                    let (back, n) = parse_head(
                        &again,
                        &Limits {
                            max_head: again.len() + 1,
                            ..limits
                        },
                    )
                    .expect("a written head parses");
                    assert_eq!((back, n), (req.clone(), again.len()));
                    request_parts(&req);
                    rest = &rest[used..];
                }
                Err(ParseError::Incomplete) => break,
                Err(_) => break, // the server answers and closes
            }
        }
    }
}

fn request_parts(req: &rtsp_mjpeg::http::request::Request) {
    let _ = tunnel_end(req);
    if let Ok(t) = parse_target(&req.target) {
        // CHECK: paths start with '/' (or are '*'), and encoding one gives it back.
        assert!(t.path.starts_with('/') || t.path == "*");
        let enc = encode_path(&t.path);
        assert_eq!(
            percent_decode(&enc, false).as_deref(),
            Some(t.path.as_str())
        );
        if let Some(v) = query_param(&t.query, "t") {
            let _ = v.parse::<f64>();
        }
    }
    let len = req.target.len() as u64 * 37;
    match range::parse(req.headers.get("Range"), len) {
        // CHECK: a range lies inside the file.
        Ranged::Part { start, end } => assert!(start <= end && end < len, "{start}-{end}/{len}"),
        Ranged::Whole | Ranged::Unsatisfiable => {}
    }
}

/// `http::tunnel::Base64Reader`: byte 0 picks how the rest is cut into pieces. CHECKs: pieces
/// decode to what the whole decodes to (or fail at the same offset); and data the base64 crate
/// encodes, request by request, with whitespace put in, decodes back exactly.
pub fn tunnel_base64(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let whole = decode_in_pieces(rest, &[rest.len().max(1)]);
    let sizes: Vec<usize> = rest
        .iter()
        .take(16)
        .map(|b| 1 + usize::from(b ^ seed) % 9)
        .collect();
    let pieces = decode_in_pieces(rest, &sizes);
    assert_eq!(whole, pieces, "pieces decode differently from the whole");
    if let Ok(out) = &whole {
        // CHECK: 4 characters give at most 3 bytes.
        assert!(out.len() <= rest.len() / 4 * 3 + 3);
    }
    // Requests encoded one by one (each padded), with CRLF after some: the tunnel's real shape.
    let messages: Vec<&[u8]> = rest.split(|&b| b == seed).collect();
    let mut body = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        body.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(m)
                .as_bytes(),
        );
        if i % 3 == 1 {
            body.extend_from_slice(b"\r\n");
        }
    }
    let want: Vec<u8> = messages.concat();
    assert_eq!(
        decode_in_pieces(&body, &sizes),
        Ok(want),
        "encoded messages decode back"
    );
}

fn decode_in_pieces(input: &[u8], sizes: &[usize]) -> Result<Vec<u8>, String> {
    let mut r = Base64Reader::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = sizes[i % sizes.len()].max(1).min(input.len() - at);
        r.push(&input[at..at + n], &mut out)
            .map_err(|e| e.to_string())?;
        at += n;
        i += 1;
    }
    Ok(out)
}

/// Seeds: `(target, file name, bytes)`.
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let url = "rtsp://127.0.0.1:8554/movie.Mjpeg";
    let options = format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n");
    let describe = format!("DESCRIBE {url} RTSP/1.0\r\nAccept: application/sdp\r\nCSeq: 2\r\n\r\n");
    vec![
        (
            "http_request",
            "chromium_page",
            b"GET /watch/movie.Mjpeg HTTP/1.1\r\nHost: 127.0.0.1:8554\r\nConnection: keep-alive\r\n\
              User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36\r\n\
              Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
                .to_vec(),
        ),
        (
            "http_request",
            "video_range",
            b"GET /file/clips/a%20b.mp4 HTTP/1.1\r\nHost: h\r\nRange: bytes=-500\r\nIf-Range: \"a-b-c\"\r\n\r\n"
                .to_vec(),
        ),
        (
            "http_request",
            "pipelined_head_and_seek",
            b"HEAD / HTTP/1.0\r\n\r\nGET /mjpeg/movie.Mjpeg?t=12.5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
        (
            "http_request",
            "ffmpeg_tunnel_get",
            b"GET /movie.Mjpeg HTTP/1.1\r\nUser-Agent: Lavf/59.27.100\r\nAccept: */*\r\nRange: bytes=0-\r\n\
              Connection: close\r\nHost: 127.0.0.1:8554\r\nIcy-MetaData: 1\r\n\
              x-sessioncookie: 9f8e7d6c5b4a3921\r\nAccept: application/x-rtsp-tunnelled\r\n\
              Pragma: no-cache\r\nCache-Control: no-cache\r\n\r\n"
                .to_vec(),
        ),
        (
            "http_request",
            "ffmpeg_tunnel_post",
            format!(
                "POST /movie.Mjpeg HTTP/1.1\r\nHost: 127.0.0.1:8554\r\nx-sessioncookie: 9f8e7d6c5b4a3921\r\n\
                 Content-Type: application/x-rtsp-tunnelled\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
                 Content-Length: 32767\r\nExpires: Sun, 9 Jan 1972 00:00:00 GMT\r\n\r\n{}",
                b64(&options)
            )
            .into_bytes(),
        ),
        (
            "http_request",
            "absolute_form_basic_auth",
            b"GET http://h:8554/api/movies HTTP/1.1\r\nHost: h:8554\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n"
                .to_vec(),
        ),
        ("tunnel_base64", "options", [&[b'\x00'][..], b64(&options).as_bytes()].concat()),
        (
            "tunnel_base64",
            "two_requests_crlf",
            [&[b'\n'][..], b64(&options).as_bytes(), b"\r\n", b64(&describe).as_bytes()].concat(),
        ),
        (
            "tunnel_base64",
            "rtcp_rr",
            [
                &[b'$'][..],
                base64::engine::general_purpose::STANDARD
                    .encode(b"$\x01\x00\x20\x81\xc9\x00\x07\x12\x34\x56\x78")
                    .as_bytes(),
            ]
            .concat(),
        ),
    ]
}
