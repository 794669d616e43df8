//! `cargo xtask` — developer tasks for the tabchain workspace.
//!
//! Run `cargo xtask --help` for the list of subcommands. Every child process
//! is spawned with [`std::process::Command`] from the workspace root and its
//! exit status is checked; failures carry context about which step failed.

mod bench;
mod cluster;
mod fuzz;
mod vendor;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// The wasm target every browser build uses.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Name of the crate compiled to wasm.
const WASM_CRATE: &str = "tabchain-wasm";
/// File stem of the artifact cargo produces for [`WASM_CRATE`].
const WASM_ARTIFACT: &str = "tabchain_wasm";
/// Seconds each fuzz target runs in `cargo xtask test`.
const FUZZ_TEST_SECS: u64 = 10;
/// RUSTFLAGS for every wasm build (and the wasm clippy run).
const WASM_RUSTFLAGS: &str = "-C target-feature=+simd128";
/// Where Debian's `nats-server` package puts the broker.
const NATS_SERVER_SBIN: &str = "/usr/sbin/nats-server";
/// The variable naming the `nats-server` binary for the tests that start a
/// broker (they fall back to `nats-server` on PATH, then [`NATS_SERVER_SBIN`]).
const NATS_SERVER_ENV: &str = "TABCHAIN_NATS_SERVER";

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer tasks for tabchain")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build `tabchain-wasm` for wasm32 and generate JS bindings into `www/pkg`; vendor the page's libraries into `www/vendor`.
    BuildWasm {
        /// Build with the release profile.
        #[arg(long)]
        release: bool,
    },
    /// Build the wasm (release) and run the relay serving `www/`.
    Serve {
        /// Network to serve.
        #[arg(long, value_enum, default_value_t = Network::Main)]
        network: Network,
        /// Address the relay listens on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: String,
        /// Address of the node's REST API.
        #[arg(long, default_value = "127.0.0.1:8001")]
        http: String,
    },
    /// Build the wasm (release) and run a relay cluster: a NATS broker, relays joined to it and a native node.
    ///
    /// The broker is `nats-server -c deploy/nats-server.conf`; the relays (`relay-1`, …) listen on
    /// consecutive ports from `--port`, each with `--cluster`, `--relay-name` and `--public-url`; the
    /// node follows `relay-1` as with `serve`. Ctrl-C, or any of them exiting, stops them all.
    Cluster {
        /// Relays to start (0: the broker alone, nothing is built).
        #[arg(long, default_value_t = 3)]
        relays: u16,
        /// Network to serve.
        #[arg(long, value_enum, default_value_t = Network::Main)]
        network: Network,
        /// Port of the first relay on 127.0.0.1; the others take the next ports.
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Address of the node's REST API.
        #[arg(long, default_value = "127.0.0.1:8100")]
        http: String,
        /// The broker's client port on 127.0.0.1; its monitoring port is this + 4000.
        #[arg(long, default_value_t = 4222)]
        nats_port: u16,
    },
    /// Run every check CI runs: fmt, clippy (native + wasm), tests, wasm build, wasm smoke test, browser tests, a short run of every fuzz target.
    Test,
    /// Run the fuzz targets of `fuzz/` (nightly and cargo-fuzz are installed when missing).
    Fuzz {
        /// One target (`fuzz/fuzz_targets/<target>.rs`); every target when absent.
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        secs: u64,
    },
    /// Run benchmarks.
    Bench {
        /// Which benchmark suite to run.
        #[arg(value_enum, default_value_t = bench::BenchSuite::Core)]
        suite: bench::BenchSuite,
        /// Extra arguments passed to the benchmark binary (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Network {
    Main,
    Dev,
}

impl Network {
    fn as_str(self) -> &'static str {
        match self {
            Network::Main => "main",
            Network::Dev => "dev",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Print the error chain ourselves: `main() -> Result` would print a
    // backtrace whenever RUST_BACKTRACE is set, burying the actual message.
    match run_cmd(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cmd(cmd: Cmd) -> Result<()> {
    let root = workspace_root();
    match cmd {
        Cmd::BuildWasm { release } => build_wasm(&root, release).map(|_| ()),
        Cmd::Serve { network, listen, http } => serve(&root, network, &listen, &http),
        Cmd::Cluster { relays, network, port, http, nats_port } => {
            cluster::cluster(&root, relays, network, port, &http, nats_port)
        }
        Cmd::Test => test(&root),
        Cmd::Fuzz { target, secs } => fuzz::fuzz(&root, target.as_deref(), secs),
        Cmd::Bench { suite, args } => bench::bench(&root, suite, &args),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo binary that launched us (falls back to `cargo` on PATH).
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A `cargo` command running in the workspace root.
fn cargo_cmd(root: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root);
    cmd
}

/// `program arg1 arg2 …` for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// Runs `cmd`, failing with `what` as context if it cannot start or exits non-zero.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("{what}: failed to start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("{what}: `{}` exited with {status}", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout, failing with `what` as context.
fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().with_context(|| format!("{what}: failed to start `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!("{what}: `{}` exited with {}\n{}", describe(cmd), out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout).with_context(|| format!("{what}: output is not UTF-8"))
}

/// Installs the wasm32 rustup target if it is missing.
fn ensure_wasm_target(root: &Path) -> Result<()> {
    let installed = output(
        Command::new("rustup").current_dir(root).args(["target", "list", "--installed"]),
        "listing installed rustup targets",
    )?;
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("xtask: installing rustup target {WASM_TARGET}");
    run(
        Command::new("rustup").current_dir(root).args(["target", "add", WASM_TARGET]),
        "installing the wasm32 rustup target",
    )
}

/// A cargo command for the wasm target with its own target dir (`target/<dir>`)
/// and the wasm RUSTFLAGS.
fn wasm_cargo(root: &Path, subcommand: &str, dir: &str) -> Command {
    let mut cmd = cargo_cmd(root);
    cmd.arg(subcommand)
        .args(["-p", WASM_CRATE, "--target", WASM_TARGET, "--target-dir"])
        .arg(root.join("target").join(dir))
        .env("RUSTFLAGS", WASM_RUSTFLAGS)
        // A stray encoded form would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Builds `tabchain-wasm` and generates the JS bindings into `www/pkg`, then
/// vendors the page's libraries (`vendor.rs`) before naming the build.
/// Returns the path of the generated `.wasm` file.
fn build_wasm(root: &Path, release: bool) -> Result<PathBuf> {
    ensure_wasm_target(root)?;
    let profile = if release { "release" } else { "debug" };
    let mut cmd = wasm_cargo(root, "build", "wasm");
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd, "building tabchain-wasm for wasm32")?;

    let input = root.join("target/wasm").join(WASM_TARGET).join(profile).join(format!("{WASM_ARTIFACT}.wasm"));
    if !input.is_file() {
        bail!("expected wasm artifact {} was not produced", input.display());
    }
    let out_dir = root.join("www/pkg");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&input)
        .web(true)
        .context("selecting the wasm-bindgen `web` target")?
        .omit_default_module_path(false)
        .typescript(true)
        .generate(&out_dir)
        .with_context(|| format!("generating JS bindings for {}", input.display()))?;

    precompress(&out_dir)?;
    vendor::vendor(root)?;
    let build = write_build_id(&root.join("www"))?;
    println!("xtask: build {build} (www/pkg/{BUILD_ID_FILE}, the service worker's cache name)");

    let wasm_out = out_dir.join(format!("{WASM_ARTIFACT}_bg.wasm"));
    let size = std::fs::metadata(&wasm_out).with_context(|| format!("reading {}", wasm_out.display()))?.len();
    println!(
        "xtask: built {WASM_CRATE} ({profile}) -> {}/{{{WASM_ARTIFACT}.js,{WASM_ARTIFACT}_bg.wasm}}",
        out_dir.display()
    );
    println!("xtask: {WASM_ARTIFACT}_bg.wasm is {size} bytes ({:.1} KiB)", size as f64 / 1024.0);
    Ok(wasm_out)
}

/// Extensions of the `www/pkg` and `www/vendor` files the relay serves precompressed.
const PRECOMPRESSED: [&str; 3] = ["wasm", "js", "css"];
/// The script in `www/pkg` naming the build, which `www/sw.js` imports.
const BUILD_ID_FILE: &str = "build-id.js";

/// Writes a `.br` (quality 11) and a `.gz` (level 9) copy of each `.wasm`,
/// `.js` and `.css` file in `dir` but the build id, after removing every old one:
/// the relay serves them instead of the file to a browser that accepts the
/// encoding, so none may outlive a build.
fn precompress(dir: &Path) -> Result<()> {
    use std::io::Write as _;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("br" | "gz") => {
                std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
            // The build id is rewritten by itself (tests do too): no copy to go stale.
            _ if path.file_name().is_some_and(|n| n == BUILD_ID_FILE) => {}
            Some(ext) if PRECOMPRESSED.contains(&ext) => files.push(path),
            _ => {}
        }
    }
    files.sort();
    for path in files {
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
        brotli::BrotliCompress(&mut data.as_slice(), &mut br, &params)
            .with_context(|| format!("compressing {} with Brotli", path.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data).with_context(|| format!("compressing {} with gzip", path.display()))?;
        let gz = gz.finish().with_context(|| format!("compressing {} with gzip", path.display()))?;
        for (ext, bytes) in [("br", &br), ("gz", &gz)] {
            let mut name = path.clone().into_os_string();
            name.push(format!(".{ext}"));
            std::fs::write(&name, bytes).with_context(|| format!("writing {}", Path::new(&name).display()))?;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("xtask: {name}: {} bytes, {} as .br, {} as .gz", data.len(), br.len(), gz.len());
    }
    Ok(())
}

/// Writes `www/pkg/build-id.js`, `self.TABCHAIN_BUILD = '<id>';`, the id
/// being the start of a SHA-256 of every file of `www` (names and contents;
/// not the precompressed copies, nor this file) and returns the id. The
/// service worker imports it and names its cache after it, so a new build is
/// a new worker whose cache replaces the old one whole.
fn write_build_id(www: &Path) -> Result<String> {
    use sha2::Digest as _;
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
            if path.is_dir() {
                walk(&path, files)?;
            } else {
                files.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(www, &mut files)?;
    let out = www.join("pkg").join(BUILD_ID_FILE);
    files.retain(|p| *p != out && !matches!(p.extension().and_then(|e| e.to_str()), Some("br" | "gz")));
    files.sort();
    let mut hash = sha2::Sha256::new();
    for path in &files {
        let name = path.strip_prefix(www).unwrap_or(path).to_string_lossy().replace('\\', "/");
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(&data);
    }
    let id: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "// Written by `cargo xtask build-wasm`: this build of www/, for the service worker's cache name.\nself.TABCHAIN_BUILD = '{id}';\n"
    );
    std::fs::write(&out, script).with_context(|| format!("writing {}", out.display()))?;
    Ok(id)
}

/// Builds what `serve` and `cluster` run: the release wasm the relay serves,
/// and the relay and the node (release). Returns the binaries' directory.
fn build_servers(root: &Path) -> Result<PathBuf> {
    build_wasm(root, true)?;
    run(
        cargo_cmd(root).args(["build", "--release", "-p", "tabchain-relay", "-p", "tabchain-node"]),
        "building the relay and the node",
    )?;
    Ok(target_dir(root)?.join("release"))
}

/// Binary `name` in `bin`, with the platform's executable suffix.
fn exe(bin: &Path, name: &str) -> PathBuf {
    bin.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The relay in `bin` serving `www/` for `network` on `listen`.
fn relay_command(root: &Path, bin: &Path, network: Network, listen: &str) -> Command {
    let mut cmd = Command::new(exe(bin, "tabchain-relay"));
    cmd.current_dir(root).arg("--www").arg(root.join("www")).args(["--listen", listen, "--network", network.as_str()]);
    cmd
}

/// Where the node that `serve` and `cluster` start keeps `network`'s chain.
fn node_data_dir(root: &Path, network: Network) -> PathBuf {
    root.join("data").join(network.as_str())
}

/// The node in `bin`, not mining, following the relay websocket `ws`, its
/// REST API on `http`, its data in [`node_data_dir`]: it keeps the chain when
/// every tab is closed.
fn node_command(root: &Path, bin: &Path, network: Network, ws: &str, http: &str) -> Command {
    let mut cmd = Command::new(exe(bin, "tabchain-node"));
    cmd.current_dir(root)
        .args(["--relay", ws, "--network", network.as_str(), "--http", http, "--data"])
        .arg(node_data_dir(root, network));
    cmd
}

/// Builds the wasm and runs the relay serving `www/`.
fn serve(root: &Path, network: Network, listen: &str, http: &str) -> Result<()> {
    let bin = build_servers(root)?;
    let mut relay = relay_command(root, &bin, network, listen)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting the relay")?;
    // Its first stdout line names the address (the port may have been 0).
    let mut line = String::new();
    if let Some(stdout) = relay.stdout.take() {
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).context("reading the relay")?;
    }
    let Some(relay_addr) = tabchain_process::parse_listening_line("tabchain-relay", &line) else {
        let _ = relay.kill();
        bail!("the relay did not start (it printed {line:?})");
    };
    let (url, ws) = (format!("http://{relay_addr}/"), format!("ws://{relay_addr}/ws"));
    // One non-mining node keeps the chain when every tab is closed.
    let data = node_data_dir(root, network);
    let node = node_command(root, &bin, network, &ws, http).stdout(std::process::Stdio::piped()).spawn();
    let mut node = match node {
        Ok(node) => node,
        Err(e) => {
            let _ = relay.kill();
            bail!("starting the node: {e}");
        }
    };
    let mut line = String::new();
    if let Some(stdout) = node.stdout.take() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    }
    let api = tabchain_process::parse_listening_line("tabchain-node", &line)
        .map_or_else(|| "(the node did not start: see above)".to_owned(), |addr| format!("http://{addr}/"));
    println!("xtask: network {} — open {url} (node REST API {api}, data in {})", network.as_str(), data.display());
    let status = relay.wait().context("waiting for the relay")?;
    let _ = node.kill();
    let _ = node.wait();
    if !status.success() {
        bail!("the relay exited with {status}");
    }
    Ok(())
}

/// Runs every check CI runs, in order, failing fast.
fn test(root: &Path) -> Result<()> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let started = Instant::now();
    let step = |name: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        println!("xtask test: ==> {name}");
        let t = Instant::now();
        let res = f().with_context(|| format!("step `{name}` failed"));
        if ci {
            println!(
                "xtask test: <== {name}: {} in {:.1}s",
                if res.is_ok() { "ok" } else { "FAILED" },
                t.elapsed().as_secs_f64()
            );
        }
        res
    };

    step("cargo fmt --check", &mut || {
        run(
            cargo_cmd(root).args(["fmt", "--all", "--", "--check"]),
            "checking formatting (run `cargo fmt --all` to fix)",
        )
    })?;
    step("cargo clippy (native)", &mut || {
        run(
            cargo_cmd(root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
            "clippy on the workspace",
        )
    })?;
    step("cargo clippy (wasm32)", &mut || {
        ensure_wasm_target(root)?;
        run(
            wasm_cargo(root, "clippy", "wasm-clippy").args(["--", "-D", "warnings"]),
            "clippy on tabchain-wasm for wasm32",
        )
    })?;
    step("cargo test", &mut || {
        // The relay's cluster tests start a real broker.
        let nats = ensure_nats_server()?;
        run(cargo_cmd(root).args(["test", "--workspace"]).env(NATS_SERVER_ENV, nats), "workspace tests")
    })?;
    step("build-wasm --release", &mut || build_wasm(root, true).map(|_| ()))?;
    step("wasm smoke test (node --test)", &mut || wasm_smoke_test(root))?;
    step("browser end-to-end tests (Chromium)", &mut || browser_e2e(root))?;
    step("fuzz targets (a short run of each)", &mut || fuzz::fuzz(root, None, FUZZ_TEST_SECS))?;

    println!("xtask test: all steps passed in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `node --test` on every `*.test.mjs` file in `wasm/tests/`, installing
/// Node.js first if it is missing.
fn wasm_smoke_test(root: &Path) -> Result<()> {
    ensure_node()?;
    let dir = root.join("wasm/tests");
    let files = test_files(&dir)?;
    // Explicit file paths work with every Node test runner version (directory
    // arguments changed meaning in Node 21).
    run(Command::new("node").current_dir(root).arg("--test").args(&files), "wasm smoke test")
}

/// Node.js, npm, Debian's Chromium and the e2e npm packages (`npm ci` in
/// `e2e/` when one of `packages` is missing); returns the `e2e/` directory.
fn ensure_browser_tools(root: &Path, packages: &[&str]) -> Result<PathBuf> {
    ensure_node()?;
    ensure_debian_package("npm", "npm")?;
    ensure_debian_package("chromium", "chromium")?;
    let e2e = root.join("e2e");
    let missing = packages.iter().any(|pkg| !e2e.join("node_modules").join(pkg).join("package.json").is_file());
    if missing {
        run(
            Command::new("npm").current_dir(&e2e).args(["ci", "--no-audit", "--no-fund"]),
            "installing the e2e npm packages (npm ci)",
        )?;
    }
    Ok(e2e)
}

/// Runs `e2e/*.test.mjs` under `node --test`: playwright-core drives Debian's
/// Chromium against a relay the tests start themselves (dev network, port 0).
/// Installs Chromium and the npm packages first when they are missing.
fn browser_e2e(root: &Path) -> Result<()> {
    let e2e = ensure_browser_tools(root, &["playwright-core", "axe-core"])?;
    run(cargo_cmd(root).args(["build", "-p", "tabchain-relay"]), "building the relay for the e2e tests")?;
    let relay = exe(&target_dir(root)?.join("debug"), "tabchain-relay");
    let files = test_files(&e2e)?;
    run(
        Command::new("node")
            .current_dir(&e2e)
            .args(["--test", "--test-concurrency=1"])
            .args(&files)
            .env("TABCHAIN_RELAY_BIN", relay)
            .env("TABCHAIN_WWW", root.join("www"))
            .env("TABCHAIN_SCREENSHOT", root.join("docs/screenshot.png"))
            .env("TABCHAIN_TREE_SCREENSHOT", root.join("docs/tree.png"))
            .env("CHROMIUM", "/usr/bin/chromium"),
        "browser end-to-end tests",
    )
}

/// The `*.test.mjs` / `*.test.js` files directly in `dir`, sorted; an error
/// when there are none (a test step that runs nothing must not pass).
fn test_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    files.retain(|p| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".test.mjs") || n.ends_with(".test.js"))
    });
    files.sort();
    if files.is_empty() {
        bail!("no *.test.mjs files in {}", dir.display());
    }
    Ok(files)
}

/// Where `program` is on PATH, as `command -v` finds it.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let out = Command::new("sh").args(["-c", &format!("command -v {program}")]).output().ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    let path = path.trim();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// Installs a Debian package when `program` is not on PATH (CI machines start bare).
fn ensure_debian_package(program: &str, package: &str) -> Result<()> {
    if find_on_path(program).is_some() {
        return Ok(());
    }
    eprintln!("xtask: `{program}` not found; installing Debian's {package} package");
    run(
        Command::new("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get update (installing {package})"),
    )?;
    run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &format!("apt-get install {package}"),
    )
}

/// The `nats-server` binary, a relay cluster's broker: on PATH, else Debian's
/// `/usr/sbin/nats-server` (not on every user's PATH); Debian's `nats-server`
/// package is installed when it is in neither.
fn ensure_nats_server() -> Result<PathBuf> {
    let find = || {
        find_on_path("nats-server")
            .or_else(|| Path::new(NATS_SERVER_SBIN).is_file().then(|| PathBuf::from(NATS_SERVER_SBIN)))
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    ensure_debian_package("nats-server", "nats-server")?;
    find().with_context(|| format!("`nats-server` is on neither PATH nor {NATS_SERVER_SBIN} after installing it"))
}

/// Installs Node.js from Debian's packages when `node` is not on PATH.
fn ensure_node() -> Result<()> {
    let found = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    eprintln!("xtask: `node` not found; installing Debian's nodejs package");
    run(
        Command::new("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get update (installing Node.js)",
    )?;
    run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "nodejs"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install nodejs",
    )
}

/// Cargo's target directory for the workspace, as cargo resolves it
/// (`CARGO_TARGET_DIR`, `build.target-dir` or `target/`).
fn target_dir(root: &Path) -> Result<PathBuf> {
    let json =
        output(cargo_cmd(root).args(["metadata", "--format-version", "1", "--no-deps"]), "reading cargo metadata")?;
    let metadata: serde_json::Value = serde_json::from_str(&json).context("parsing cargo metadata")?;
    metadata["target_directory"].as_str().map(PathBuf::from).context("cargo metadata has no target_directory")
}
