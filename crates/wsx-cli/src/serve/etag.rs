//! ETags for `--static` files, which tower-http's `ServeDir` does not give (it has
//! Last-Modified, Range and precompressed files): a weak tag from the file's size, its
//! modification time and the encoding served (`W/"<size>-<mtime>[-gzip|-br]"`, as nginx
//! builds its own), and 304 when `If-None-Match` lists it.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use tower::{Service, ServiceExt as _};

/// Whether an `If-None-Match` header lists `etag` (weak comparison) or is `*`.
pub fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let (Some(tags), Ok(etag)) = (
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
        etag.to_str(),
    ) else {
        return false;
    };
    let opaque = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_owned();
    let etag = opaque(etag);
    tags.split(',')
        .map(str::trim)
        .any(|t| t == "*" || opaque(t) == etag)
}

/// The tag of a file response: its full size (from `Content-Range` for a part), its
/// `Last-Modified` and its `Content-Encoding`.
fn etag_of(r: &Response<Body>) -> Option<HeaderValue> {
    let h = r.headers();
    let modified = httpdate::parse_http_date(h.get(header::LAST_MODIFIED)?.to_str().ok()?).ok()?;
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let size = match h.get(header::CONTENT_RANGE) {
        Some(range) => range.to_str().ok()?.rsplit_once('/')?.1.to_owned(),
        None => h.get(header::CONTENT_LENGTH)?.to_str().ok()?.to_owned(),
    };
    let encoding = h
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|e| format!("-{e}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!("W/\"{size}-{secs:x}{encoding}\"")).ok()
}

/// `files` with ETags on its successful responses, answering 304 to a matching
/// `If-None-Match`.
pub fn with_etags<S>(
    files: S,
) -> impl Service<Request, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    tower::service_fn(move |req: Request| {
        let files = files.clone();
        async move {
            let asked = req.headers().clone();
            let mut r = files.oneshot(req).await?;
            if !matches!(r.status(), StatusCode::OK | StatusCode::PARTIAL_CONTENT) {
                return Ok(r);
            }
            let Some(tag) = etag_of(&r) else {
                return Ok(r);
            };
            if none_match(&asked, &tag) {
                let mut not_modified = Response::new(Body::empty());
                *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
                for name in [header::LAST_MODIFIED, header::CACHE_CONTROL, header::VARY] {
                    if let Some(v) = r.headers().get(&name) {
                        not_modified.headers_mut().insert(name, v.clone());
                    }
                }
                r = not_modified;
            }
            r.headers_mut().insert(header::ETAG, tag);
            Ok(r)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        let tag = HeaderValue::from_static("W/\"5-1a\"");
        let asked = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            h
        };
        assert!(none_match(&asked("W/\"5-1a\""), &tag));
        assert!(none_match(&asked("\"x\", \"5-1a\""), &tag));
        assert!(none_match(&asked("*"), &tag));
        assert!(!none_match(&asked("\"5-1b\""), &tag));
        assert!(!none_match(&HeaderMap::new(), &tag));
    }
}
