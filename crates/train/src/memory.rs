//! How the process's allocator treats large blocks.
//!
//! glibc's `malloc` hands every block above its mmap threshold (at most 32 MB) straight back to
//! the system when it is freed. Training allocates a fresh gradient of W every step — 49 MB at
//! 1000 classes of 64 × 64 × 3 — so each step paid for twelve thousand page faults and for
//! zeroing the pages again: a fifth of an epoch (`perf`). Serving large blocks from the heap and
//! keeping freed memory for reuse removes that cost (the 1000-class bench: 21.4 → 14.7 s an
//! epoch), at the price of the process keeping its peak memory until it exits.

/// Keeps freed memory for reuse (see the module documentation). Call once, first thing in
/// `main`; a no-op outside glibc.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists and before large allocations.
    unsafe {
        // Never map a block of its own: take every size from the heap...
        libc::mallopt(libc::M_MMAP_MAX, 0);
        // ...and give the heap's top back only beyond 2 GB of free memory.
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
