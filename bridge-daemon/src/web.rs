//! The teaching pages built into the binary (see `build.rs`): what an installed daemon serves
//! when it has no `web-demo/` directory to serve from.

include!(concat!(env!("OUT_DIR"), "/web.rs"));

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct File {
    pub(crate) bytes: &'static [u8],
    pub(crate) etag: &'static str,
}

/// The file at `path` (relative, `/`-separated, as the request named it after checking).
pub(crate) fn file(path: &str) -> Option<File> {
    let index = FILES.binary_search_by(|(name, _, _)| (*name).cmp(path)).ok()?;
    let (_, bytes, etag) = FILES[index];
    Some(File { bytes, etag })
}

/// Whether this binary has pages in it (release builds do).
pub fn embedded() -> bool {
    !FILES.is_empty()
}

/// What the embedded pages lack, for the daemon to say at start: the browser package, and
/// Python (Pyodide), which are built files (see `build.rs`).
pub fn missing() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if file("pkg/sockbridge.js").is_none() {
        missing.push("the browser package (pkg/)");
    }
    if file("pyodide/pyodide.asm.wasm").is_none() {
        missing.push("Python (pyodide/)");
    }
    missing
}
