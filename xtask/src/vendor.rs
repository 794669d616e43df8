//! Browser libraries the page loads from its own origin (its CSP allows
//! only `'self'`, so no CDN): pinned in `www-vendor/package.json` and its
//! lockfile (exact versions, integrity hashes), installed there by `npm ci`
//! when missing or not the locked version, and their browser builds copied
//! to the gitignored `www/vendor/`, precompressed like `www/pkg`.
//! `cargo xtask build-wasm` runs this before writing the build id, so a new
//! library version is a new build for the service worker.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// The npm project holding the pinned libraries.
const VENDOR_PROJECT: &str = "www-vendor";
/// Where the page finds them.
const VENDOR_OUT: &str = "www/vendor";

/// One library: its npm package, the files the page loads (from the
/// package's directory) and the directory under [`VENDOR_OUT`] they go to.
struct Library {
    package: &'static str,
    files: &'static [&'static str],
    dir: &'static str,
}

/// uPlot: the page's charts (`www/ui/charts.js`), its ES module and CSS;
/// its MIT licence goes along.
const LIBRARIES: [Library; 1] =
    [Library { package: "uplot", files: &["dist/uPlot.esm.js", "dist/uPlot.min.css", "LICENSE"], dir: "uplot" }];

/// Installs the pinned libraries when needed and copies them to `www/vendor/`.
pub fn vendor(root: &Path) -> Result<()> {
    let project = root.join(VENDOR_PROJECT);
    if !installed_as_locked(&project)? {
        crate::ensure_node()?;
        crate::ensure_debian_package("npm", "npm")?;
        crate::run(
            Command::new("npm").current_dir(&project).args(["ci", "--no-audit", "--no-fund"]),
            "installing the page's libraries (npm ci in www-vendor/)",
        )?;
    }
    let out = root.join(VENDOR_OUT);
    for library in &LIBRARIES {
        let from = project.join("node_modules").join(library.package);
        let to = out.join(library.dir);
        std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        for file in library.files {
            let source = from.join(file);
            let name = Path::new(file).file_name().with_context(|| format!("{file} names no file"))?;
            copy_if_changed(&source, &to.join(name))?;
        }
        crate::precompress(&to)?;
    }
    Ok(())
}

/// Whether every library is in `node_modules` at the version the lockfile pins.
fn installed_as_locked(project: &Path) -> Result<bool> {
    let lock_path = project.join("package-lock.json");
    let lock = std::fs::read_to_string(&lock_path).with_context(|| format!("reading {}", lock_path.display()))?;
    let lock: serde_json::Value =
        serde_json::from_str(&lock).with_context(|| format!("parsing {}", lock_path.display()))?;
    for library in &LIBRARIES {
        let key = format!("node_modules/{}", library.package);
        let locked = lock["packages"][&key]["version"]
            .as_str()
            .with_context(|| format!("{} pins no version of {}", lock_path.display(), library.package))?;
        let manifest = project.join(&key).join("package.json");
        let Ok(text) = std::fs::read_to_string(&manifest) else { return Ok(false) };
        let installed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if installed["version"].as_str() != Some(locked) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Copies `from` to `to` unless `to` already holds the same bytes (its
/// modification time, the page's `Last-Modified`, then stays).
fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let data = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if std::fs::read(to).is_ok_and(|old| old == data) {
        return Ok(());
    }
    std::fs::write(to, &data).with_context(|| format!("writing {}", to.display()))
}
