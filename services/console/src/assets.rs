//! The console's files, compiled into the component with `include_bytes!`.
//!
//! Each has its media type and an entity tag computed at compile time from its bytes (FNV-1a,
//! 64 bits: a cache validator, not a security boundary), so a rebuilt component with a changed
//! file answers a browser's `If-None-Match` with the new file and an unchanged one with 304.

/// One file of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    hash: u64,
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        Self {
            path,
            content_type,
            body,
            hash: fnv1a(body),
        }
    }

    /// Its strong entity tag: `"` + 16 hex digits + `"`.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// HTML.
pub const HTML: &str = "text/html; charset=utf-8";
/// JavaScript (RFC 9239).
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// CSS.
pub const CSS: &str = "text/css; charset=utf-8";
/// SVG.
pub const SVG: &str = "image/svg+xml";

/// The page, at `/console/` (and this path).
pub const INDEX: &str = "/console/index.html";

/// Every file the console serves. `index.html` names the others with absolute paths, and
/// `app.js` imports `logic.js` relative to itself.
pub static ASSETS: [Asset; 5] = [
    Asset::new(INDEX, HTML, include_bytes!("../ui/index.html")),
    Asset::new(
        "/console/app.js",
        JAVASCRIPT,
        include_bytes!("../ui/app.js"),
    ),
    Asset::new(
        "/console/logic.js",
        JAVASCRIPT,
        include_bytes!("../ui/logic.js"),
    ),
    Asset::new(
        "/console/console.css",
        CSS,
        include_bytes!("../ui/console.css"),
    ),
    Asset::new("/console/icon.svg", SVG, include_bytes!("../ui/icon.svg")),
];

/// The asset served at `path`.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// FNV-1a, 64 bits.
const fn fnv1a(mut bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    while let [byte, rest @ ..] = bytes {
        hash ^= *byte as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        bytes = rest;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // From the FNV reference test suite (draft-eastlake-fnv, FNV-1a 64).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_asset_has_its_own_path_and_tag() {
        let mut paths: Vec<_> = ASSETS.iter().map(|asset| asset.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        let mut tags: Vec<_> = ASSETS.iter().map(Asset::etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
        for asset in &ASSETS {
            assert!(asset.path.starts_with("/console/"), "{}", asset.path);
            assert!(!asset.body.is_empty(), "{}", asset.path);
            assert_eq!(asset.etag().len(), 18);
        }
    }
}
