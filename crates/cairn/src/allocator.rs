//! How the process's memory allocator is tuned for a node's work, set once at start.

/// Turns off glibc's fast bins. A node frees report-sized blocks (an envelope, a signed
/// report, a page of a store tree) all the time, and glibc sweeps every fast bin back into its
/// free lists whenever a block of 64 KiB or more is freed, or a large one asked for: on the
/// TAXII write path that sweeping took about a tenth of the time. Small blocks are still served
/// from the per-thread caches, so memory use does not change. Other C libraries are left as
/// they are.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes a parameter of the allocator; it is called before any
        // other thread starts. A failure (0) leaves glibc's defaults, which are correct.
        let _ = unsafe { libc::mallopt(libc::M_MXFAST, 0) };
    }
}
