//! What `/proc` says about a process: its CPU time and its peak RSS.

use anyhow::{Context, Result};

/// User plus system CPU time process `pid` has used so far, in seconds
/// (fields 14 and 15 of `/proc/PID/stat`).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).with_context(|| format!("no ')' in {path}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3: utime is field 14, stime field 15.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (utime, stime) =
        ticks(11).zip(ticks(12)).with_context(|| format!("no utime and stime in {path}: {stat:.200}"))?;
    Ok((utime + stime) as f64 / clock_ticks_per_second())
}

/// Peak resident set size of process `pid` so far (`VmHWM`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .with_context(|| format!("no VmHWM line in {path}"))?;
    Ok(kib * 1024)
}

/// The unit of the CPU times in `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(not(target_os = "linux"))]
fn clock_ticks_per_second() -> f64 {
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0);
        }
        assert!(cpu_seconds(pid).unwrap() > 0.0);
        assert!(peak_rss_bytes(pid).unwrap() > 1 << 20);
    }
}
