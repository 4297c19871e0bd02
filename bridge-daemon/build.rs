//! Embeds the teaching pages in release builds, so an installed daemon (`cargo install`) serves
//! them, with the browser package and Python, without a checkout.
//!
//! The pages are `web-demo/` as committed. The browser package (`web-demo/pkg/`) and Pyodide
//! (`web-demo/pyodide/`) are built files: they are taken from the checkout when
//! `scripts/build-web.sh` has built them, and otherwise built here by that script, into `OUT_DIR`
//! (as `cargo install --git` needs: its checkout has none). That needs what the script needs: the
//! wasm32 target, the wasm-bindgen CLI at the pinned version, and npm. Without them the daemon is
//! built all the same, with a warning, and says at start what its pages lack.
//!
//! Debug builds embed nothing (they serve the checkout's `web-demo/` from disk), nor does
//! `SOCKBRIDGE_EMBED_WEB=0`.

#![allow(clippy::expect_used, reason = "a build script reports failure by panicking")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SOCKBRIDGE_EMBED_WEB");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("../web-demo");
    let wanted = std::env::var("PROFILE").as_deref() == Ok("release")
        && std::env::var("SOCKBRIDGE_EMBED_WEB").as_deref() != Ok("0")
        && web.is_dir();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if wanted {
        println!("cargo:rerun-if-changed={}", web.display());
        collect(&web, &web, &mut files, true);
        let built = if web.join("pkg/sockbridge.js").is_file() && web.join("pyodide/pyodide.asm.wasm").is_file() {
            web.clone()
        } else {
            build_web(&manifest, &out)
        };
        for part in ["pkg", "pyodide"] {
            let dir = built.join(part);
            println!("cargo:rerun-if-changed={}", dir.display());
            if dir.is_dir() {
                collect(&built, &dir, &mut files, false);
            } else {
                println!(
                    "cargo:warning=the teaching pages are embedded without web-demo/{part}/ (run scripts/build-web.sh)"
                );
            }
        }
    }
    files.sort();
    let mut code = String::from("/// The embedded web root: (path, contents, ETag), by path.\n");
    code.push_str("pub(crate) static FILES: &[(&str, &[u8], &str)] = &[\n");
    for (name, path) in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let tag = format!("\"{:016x}-{:x}\"", fnv1a(&bytes), bytes.len());
        let _ = writeln!(code, "    ({name:?}, include_bytes!({:?}), {tag:?}),", path.display().to_string());
    }
    code.push_str("];\n");
    std::fs::write(out.join("web.rs"), code).expect("write web.rs");
}

/// The files under `dir`, named by their path from `root`; at the top (`pages`), not the built
/// directories or anything hidden.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>, pages: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" || name == "__pycache__" {
            continue;
        }
        if pages && dir == root && matches!(name.as_str(), "pkg" | "pyodide") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files, pages);
        } else if let Ok(relative) = path.strip_prefix(root) {
            files.push((relative.to_string_lossy().into_owned(), path.clone()));
        }
    }
}

/// Runs `scripts/build-web.sh` into `OUT_DIR/web`, with a target directory of its own (the outer
/// build holds the workspace's), and returns that directory (empty if the script failed).
fn build_web(manifest: &Path, out: &Path) -> PathBuf {
    let dest = out.join("web");
    let script = manifest.join("../scripts/build-web.sh");
    let mut command = Command::new("bash");
    command.arg(&script).env_clear().env("SOCKBRIDGE_WEB_OUT", &dest).env("CARGO_TARGET_DIR", out.join("target"));
    // Only what the script's tools need, so nothing of this build's settings reaches the inner one.
    for var in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "TMPDIR", "LANG", "USER"] {
        if let Some(value) = std::env::var_os(var) {
            command.env(var, value);
        }
    }
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => println!(
            "cargo:warning=scripts/build-web.sh failed ({status}); the pages are embedded without the package or Python"
        ),
        Err(e) => println!(
            "cargo:warning=scripts/build-web.sh could not run ({e}); the pages are embedded without the package or Python"
        ),
    }
    dest
}

/// FNV-1a, 64 bits: the files' ETags.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
