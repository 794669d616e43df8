//! `cargo xtask fuzz [target] [--secs N]` and the fuzz step of `cargo xtask
//! test`: installs nightly and cargo-fuzz when missing, builds every target
//! of `fuzz/` once, runs each in turn (one process, one core) and prints the
//! executions and coverage libFuzzer reports.
//!
//! Corpus: libFuzzer writes what it finds to the first directory, the
//! gitignored `fuzz/corpus/<target>/`, and reads the checked-in seeds,
//! `fuzz/seeds/<target>/`, as the second. A crash is saved under
//! `fuzz/artifacts/<target>/`; the whole libFuzzer output of a run is in
//! `fuzz/logs/<target>.log`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{output, run};

/// Sanitizer for the builds: none. The targets are safe Rust, where
/// AddressSanitizer finds nothing a panic would not, at half the speed.
const SANITIZER: &str = "none";

/// What libFuzzer reported for one run.
#[derive(Debug, Default)]
struct RunStats {
    target: String,
    secs: u64,
    executions: Option<u64>,
    per_sec: Option<u64>,
    /// The last status line's `cov:` (edges reached) and `ft:` (features).
    coverage: Option<(u64, u64)>,
    corpus: Option<String>,
}

/// The targets: `fuzz/fuzz_targets/*.rs`, by name.
pub fn targets(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(names)
}

/// A `cargo +nightly fuzz …` command in `fuzz/`'s parent, without the
/// toolchain choices of the cargo that runs xtask.
fn cargo_fuzz(root: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["+nightly", "fuzz"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Installs the nightly toolchain (minimal profile) and cargo-fuzz when missing.
pub fn ensure_tools(root: &Path) -> Result<()> {
    let toolchains =
        output(Command::new("rustup").current_dir(root).args(["toolchain", "list"]), "listing rustup toolchains")?;
    if !toolchains.lines().any(|l| l.starts_with("nightly-")) {
        eprintln!("xtask: installing the nightly toolchain (cargo-fuzz needs it)");
        run(
            Command::new("rustup").current_dir(root).args(["toolchain", "install", "nightly", "--profile", "minimal"]),
            "installing the nightly toolchain",
        )?;
    }
    let has_cargo_fuzz = Command::new("cargo-fuzz")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cargo_fuzz {
        eprintln!("xtask: installing cargo-fuzz");
        run(
            Command::new("cargo").current_dir(root).args(["install", "cargo-fuzz", "--locked"]),
            "installing cargo-fuzz",
        )?;
    }
    Ok(())
}

/// Builds every target, then runs `only` (or every target) for `secs`
/// seconds each, one after the other; prints a table of what libFuzzer
/// reported and fails on the first crash.
pub fn fuzz(root: &Path, only: Option<&str>, secs: u64) -> Result<()> {
    let all = targets(root)?;
    let chosen: Vec<String> = match only {
        Some(name) if all.iter().any(|t| t == name) => vec![name.to_owned()],
        Some(name) => bail!("no fuzz target `{name}`; the targets are {}", all.join(", ")),
        None => all,
    };
    ensure_tools(root)?;
    run(cargo_fuzz(root).args(["build", "--sanitizer", SANITIZER]), "building the fuzz targets")?;
    let mut table = Vec::new();
    for target in &chosen {
        let stats = run_target(root, target, secs)?;
        println!("{}", format_stats(&stats));
        table.push(stats);
    }
    println!("xtask fuzz: {} target(s), 0 crashes", table.len());
    for stats in &table {
        println!("  {}", format_stats(stats));
    }
    Ok(())
}

fn format_stats(s: &RunStats) -> String {
    let num = |n: Option<u64>| n.map_or("?".to_owned(), |n| n.to_string());
    let (cov, ft) = s.coverage.map_or(("?".to_owned(), "?".to_owned()), |(c, f)| (c.to_string(), f.to_string()));
    format!(
        "{}: {} executions in {} s ({}/s), cov {cov}, ft {ft}, corpus {}",
        s.target,
        num(s.executions),
        s.secs,
        num(s.per_sec),
        s.corpus.as_deref().unwrap_or("?")
    )
}

/// Runs one target for `secs` seconds; its output goes to `fuzz/logs/`.
fn run_target(root: &Path, target: &str, secs: u64) -> Result<RunStats> {
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let logs = fuzz.join("logs");
    for dir in [&corpus, &logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    println!("xtask fuzz: {target} for {secs} s (log: {})", log_path.display());
    let mut cmd = cargo_fuzz(root);
    cmd.args(["run", "--sanitizer", SANITIZER, target])
        .arg(&corpus)
        .args(seeds.is_dir().then_some(&seeds))
        .arg("--")
        .arg(format!("-max_total_time={secs}"))
        .arg("-print_final_stats=1")
        .stdout(log.try_clone().context("sharing the log file")?)
        .stderr(log);
    let status = cmd.status().with_context(|| format!("starting the fuzz run of {target}"))?;
    let text = std::fs::read_to_string(&log_path).with_context(|| format!("reading {}", log_path.display()))?;
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
        bail!(
            "fuzz target `{target}` failed ({status}): the input is saved under {} (full log {})",
            fuzz.join("artifacts").join(target).display(),
            log_path.display()
        );
    }
    Ok(parse_stats(target, secs, &text))
}

/// Reads libFuzzer's final stats (`-print_final_stats=1`) and its last
/// status line (`#N DONE cov: C ft: F corp: …`).
fn parse_stats(target: &str, secs: u64, log: &str) -> RunStats {
    let stat =
        |name: &str| log.lines().find_map(|l| l.strip_prefix(name)?.trim_start_matches(':').trim().parse::<u64>().ok());
    let status = log.lines().rev().find(|l| l.starts_with('#') && l.contains(" cov: "));
    let field = |line: &str, name: &str| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name)?;
        words.next().map(str::to_owned)
    };
    RunStats {
        target: target.to_owned(),
        secs,
        executions: stat("stat::number_of_executed_units"),
        per_sec: stat("stat::average_exec_per_sec"),
        coverage: status.and_then(|l| Some((field(l, "cov:")?.parse().ok()?, field(l, "ft:")?.parse().ok()?))),
        corpus: status.and_then(|l| field(l, "corp:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_stats() {
        let log = "#2\tINITED cov: 10 ft: 11 corp: 3/99b exec/s: 0 rss: 40Mb\n\
                   #4096\tpulse  cov: 120 ft: 300 corp: 20/1Kb lim: 40 exec/s: 2048 rss: 41Mb\n\
                   #50000\tDONE   cov: 130 ft: 320 corp: 22/1201b lim: 60 exec/s: 4999 rss: 42Mb\n\
                   Done 50000 runs in 11 second(s)\n\
                   stat::number_of_executed_units: 50000\n\
                   stat::average_exec_per_sec:     4545\n\
                   stat::new_units_added:          19\n";
        let stats = parse_stats("wire", 10, log);
        assert_eq!(stats.executions, Some(50_000));
        assert_eq!(stats.per_sec, Some(4_545));
        assert_eq!(stats.coverage, Some((130, 320)));
        assert_eq!(stats.corpus.as_deref(), Some("22/1201b"));
    }
}
