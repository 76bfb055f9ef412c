//! lineage patch: elementwise passes, loop nests, copies and reductions along a dimension split
//! across the threads of the current rayon pool.
//!
//! Upstream keeps an elementwise pass on one thread below 4 Mi elements (the in-place SIMD
//! kernels) or always (the generic loops and broadcast loop nests), tiled copies below 256 Ki or
//! 1 Mi, and reductions along a dimension always, so at lineage's sizes — tensors of 10^4 to
//! 10^6 elements — a training step given two threads ran most of its work on one. A pass is
//! split from 64 Ki elements on (measured on lineage's training step with the pool's other
//! threads kept awake, lineage-arch's `hot_pool`, against PyTorch in the same runs: from 128 Ki
//! 4-12% slower, from 32 Ki no faster; docs/performance.md). Each element is computed by the
//! same instructions whichever thread runs it, and a reduction is split between its outputs,
//! never along the dimension it adds up, so the values are bit for bit those of one thread. The
//! one reduction upstream split along its operand, a whole-tensor sum, is kept on one thread
//! (`ops/reduce.rs`).

use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// The fewest elements worth handing to another thread.
pub(crate) const GRAIN: usize = 32 * 1024;

/// The piece length to split `len` elements into, or `None` to stay on this thread: one piece
/// per thread of the current pool, each (but the last) at least [`GRAIN`] and a multiple of 64
/// elements (a whole number of SIMD vectors and cache lines).
#[inline]
fn piece(len: usize) -> Option<usize> {
    #[cfg(feature = "rayon")]
    {
        let threads = rayon::current_num_threads();
        if threads > 1 && len >= 2 * GRAIN {
            return Some(len.div_ceil(threads).max(GRAIN).next_multiple_of(64));
        }
    }
    let _ = len;
    None
}

/// Whether a pass over `len` elements is split between the pool's threads.
#[inline]
pub(crate) fn splits(len: usize) -> bool {
    piece(len).is_some()
}

/// `f` over `data`, piece by piece, on the pool's threads when it pays.
#[inline]
pub(crate) fn for_each_mut<T: Send>(data: &mut [T], f: impl Fn(&mut [T]) + Sync + Send) {
    for_each_units_mut(data, 1, 1, |_, piece| f(piece))
}

/// `f` over `dst` and the same positions of `src` (as long), piece by piece.
#[inline]
pub(crate) fn zip_mut<T: Send, U: Sync>(
    dst: &mut [T],
    src: &[U],
    f: impl Fn(&mut [T], &[U]) + Sync + Send,
) {
    debug_assert_eq!(dst.len(), src.len());
    #[cfg(feature = "rayon")]
    if let Some(piece) = piece(dst.len()) {
        use rayon::prelude::*;
        dst.par_chunks_mut(piece)
            .zip(src.par_chunks(piece))
            .for_each(|(d, s)| f(d, s));
        return;
    }
    f(dst, src)
}

/// A new vector of `len` elements, written piece by piece: `f(start, piece)` must write every
/// slot of `piece`, the elements at `start..start + piece.len()`.
#[inline]
pub(crate) fn fill_new<T: Copy + Send>(
    len: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    fill_new_runs(len, 1, f)
}

/// How many units each piece of `units` units takes, when a unit is `unit` elements and `work`
/// elements' worth of work, or `None` to stay on this thread: the pieces of [`piece`], rounded
/// up to whole units and to whole cache lines of `f32` (two threads writing one line would pass
/// it back and forth: a reduction's narrow output, written once per row added).
#[inline]
fn piece_units(units: usize, unit: usize, work: usize) -> Option<usize> {
    let line = 16 / gcd(unit, 16);
    piece(units * work)
        .map(|p| p.div_ceil(work).next_multiple_of(line))
        .filter(|&u| u < units)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A new vector of `runs` runs of `run_len` elements, written piece by piece: `f(first, piece)`
/// must write every slot of `piece`, the runs `first..first + piece.len() / run_len`. For loop
/// nests whose innermost run is the unit of work (`zip.rs`).
#[inline]
pub(crate) fn fill_new_runs<T: Copy + Send>(
    runs: usize,
    run_len: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    debug_assert!(run_len > 0, "a loop nest's runs are never empty");
    let len = runs * run_len;
    let mut out: Vec<T> = Vec::with_capacity(len);
    let slots = &mut out.spare_capacity_mut()[..len];
    #[cfg(feature = "rayon")]
    if let Some(piece) = piece_units(runs, run_len, run_len) {
        use rayon::prelude::*;
        slots
            .par_chunks_mut(piece * run_len)
            .enumerate()
            .for_each(|(i, slots)| f(i * piece, slots));
        // SAFETY: every piece was written by `f`, as its contract requires.
        unsafe { out.set_len(len) };
        return out;
    }
    f(0, slots);
    // SAFETY: as above, one piece.
    unsafe { out.set_len(len) };
    out
}

/// `f(first, piece)` over `data`, runs of `run_len` elements, in pieces of whole runs (`first`
/// is the piece's first run).
#[inline]
pub(crate) fn for_each_runs_mut<T: Send>(
    data: &mut [T],
    run_len: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    for_each_units_mut(data, run_len, 1, f)
}

/// `f(first, piece)` over `out`, in pieces of whole units of `unit` elements (`first` is the
/// piece's first unit), where computing one element of `out` reads `work` elements: how a
/// reduction's outputs are split.
#[inline]
pub(crate) fn for_each_units_mut<T: Send>(
    out: &mut [T],
    unit: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    debug_assert!(unit > 0 && out.len() % unit == 0, "whole units of at least one element");
    #[cfg(feature = "rayon")]
    if let Some(piece) = piece_units(out.len() / unit, unit, unit * work) {
        use rayon::prelude::*;
        out.par_chunks_mut(piece * unit)
            .enumerate()
            .for_each(|(i, chunk)| f(i * piece, chunk));
        return;
    }
    let _ = work;
    f(0, out)
}
