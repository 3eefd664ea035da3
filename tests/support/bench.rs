//! What the benchmarks that run `cairn run` processes share: a release build of the binary,
//! a process's peak memory.

use std::process::Command;

/// Builds the release `cairn` binary a benchmark runs, so that it is never an older build, and
/// lets the build's writes reach disk first, so that the node's flushes are not queued behind
/// them.
pub fn build_release_cairn() {
    let status = crate::processes::cargo()
        .args(["build", "--release", "-p", "cairn", "--bin", "cairn"])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building cairn failed");
    let _ = Command::new("sync").status();
}

/// The peak resident memory of a process (VmHWM), in MiB; NaN once it has ended.
pub fn peak_memory_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
