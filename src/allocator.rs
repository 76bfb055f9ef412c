//! The C allocator's settings for this process: set once, at start, before any thread exists.

/// Extra memory glibc's malloc takes (or keeps) whenever it grows (or trims) a heap.
///
/// The default, 128 KiB, is made for small programs. Replay reads events on one thread and
/// frees their bodies on others, while the state it builds grows by hundreds of megabytes; with
/// the default, every read batch trimmed a heap and grew it again, page by page: 25,000
/// `mprotect` calls (0.4 s of system time) for a million events. With 64 MiB, a few dozen
/// (`docs/performance.md`). The pad is address space until it is used, and each heap
/// keeps at most this much free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD_BYTES: libc::c_int = 64 << 20;

/// Allocations from this size up get pages of their own (`mmap`), returned at `free`.
///
/// Setting the pad above turns off glibc's adaptive threshold, leaving it at 128 KiB. Training
/// allocates and frees tensors of 100 KiB to a few MiB thousands of times a step; below the
/// threshold they reuse the heap instead of faulting in fresh zeroed pages every time
/// (docs/performance.md, "Where a training step's time goes"). 32 MiB is glibc's largest.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 32 << 20;

/// Applies the settings (glibc only; other allocators keep their own defaults).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a malloc parameter; it is called before any other thread.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD_BYTES);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
