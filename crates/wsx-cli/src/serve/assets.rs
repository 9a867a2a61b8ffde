//! The embedded demo files (the chat, the pad and its WebAssembly): served after `--static`
//! files, with a strong ETag from their bytes (`If-None-Match` answers 304), `Cache-Control:
//! no-cache` (they change with the binary) and HEAD. Compression is the router's layer.

use std::hash::{DefaultHasher, Hasher};
use std::sync::OnceLock;

use axum::body::Body;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

/// An embedded file: path, content type, body.
const EMBEDDED: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html").as_bytes(),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_str!("../../web/index.html").as_bytes(),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/app.js").as_bytes(),
    ),
    (
        "/sio.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/sio.js").as_bytes(),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/style.css").as_bytes(),
    ),
    (
        "/PROTOCOL.md",
        "text/markdown; charset=utf-8",
        include_str!("../../web/PROTOCOL.md").as_bytes(),
    ),
    (
        "/pad.html",
        "text/html; charset=utf-8",
        include_str!("../../web/pad.html").as_bytes(),
    ),
    (
        "/pad.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/pad.js").as_bytes(),
    ),
    (
        "/pad.css",
        "text/css; charset=utf-8",
        include_str!("../../web/pad.css").as_bytes(),
    ),
    // crates/wsx-web compiled to wasm32 by build.rs: the pad's Yjs document and protocol.
    (
        "/pad.wasm",
        "application/wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/pad.wasm")),
    ),
];

/// The ETags of `EMBEDDED`, in its order: a hash of each body, computed once.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(|(_, _, body)| {
                let mut h = DefaultHasher::new();
                h.write(body);
                HeaderValue::from_str(&format!("\"{:016x}-{:x}\"", h.finish(), body.len()))
                    .expect("hex is a valid header value")
            })
            .collect()
    })
}

/// The embedded file for `req`: every `/pad/<room>` is the pad's page (it reads the room from
/// its URL); 404 for anything else, 405 for a method other than GET and HEAD.
pub fn serve(req: &Request<Body>) -> Response<Body> {
    let path = req.uri().path();
    let path = if path.starts_with("/pad/") {
        "/pad.html"
    } else {
        path
    };
    let Some(i) = EMBEDDED.iter().position(|(p, ..)| *p == path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let (_, content_type, bytes) = EMBEDDED[i];
    let etag = &etags()[i];
    let (status, body) = if super::etag::none_match(req.headers(), etag) {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if req.method() == Method::HEAD {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, Body::from(bytes))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if status == StatusCode::OK {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    r
}

/// A short text response.
pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, if_none_match: Option<&str>) -> Response<Body> {
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        if let Some(t) = if_none_match {
            req.headers_mut()
                .insert(header::IF_NONE_MATCH, HeaderValue::from_str(t).unwrap());
        }
        serve(&req)
    }

    #[test]
    fn etags_answer_304_and_pad_rooms_get_the_pad() {
        let r = get("/app.js", None);
        assert_eq!(r.status(), StatusCode::OK);
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(
            get("/app.js", Some(&etag)).status(),
            StatusCode::NOT_MODIFIED
        );
        let weak_list = format!("\"x\", W/{etag}");
        assert_eq!(
            get("/app.js", Some(&weak_list)).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(get("/app.js", Some("\"other\"")).status(), StatusCode::OK);
        assert_ne!(
            get("/style.css", None).headers()[header::ETAG],
            etag.as_str()
        );
        assert_eq!(
            get("/pad/some-room", None).headers()[header::ETAG],
            get("/pad.html", None).headers()[header::ETAG]
        );
        assert_eq!(get("/nope", None).status(), StatusCode::NOT_FOUND);
    }
}
