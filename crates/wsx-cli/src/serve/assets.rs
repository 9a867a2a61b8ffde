//! The embedded demo page and `--static` files (content types, no path traversal).

use std::path::{Component, Path, PathBuf};

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

/// The embedded demo file at `path`.
pub fn embedded(path: &str) -> Option<(&'static str, &'static [u8])> {
    EMBEDDED
        .iter()
        .find(|(p, ..)| *p == path)
        .map(|(_, ct, body)| (*ct, *body))
}

/// Content type by file extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file under `root`, refusing anything that could leave it
/// (`..`, absolute segments, encoded separators, NUL) and symlinks pointing outside.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(request_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let rel = decoded.trim_start_matches('/');
    let mut path = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if path.is_dir() {
        path.push("index.html");
    }
    let real = path.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/index.html"), "y").unwrap();
        assert!(resolve(dir.path(), "/a.txt").is_some());
        assert!(resolve(dir.path(), "/sub/").is_some());
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/sub/../../x",
            "/a.txt%00",
            "/..%5c..%5cx",
            "/nope",
        ] {
            assert!(resolve(dir.path(), bad).is_none(), "{bad}");
        }
        assert_eq!(
            content_type(Path::new("x.JS")),
            "text/javascript; charset=utf-8"
        );
    }
}
