//! lineage patch: elementwise passes split across the threads of the current rayon pool.
//!
//! Upstream keeps an elementwise pass on one thread below 4 Mi elements (the in-place SIMD
//! kernels) or always (the generic loops), so at lineage's sizes — tensors of 10^4 to 10^6
//! elements — a training step given two threads ran most of its elementwise work on one.
//! A pass is split from 128 Ki elements on (measured on lineage's training step: from 64 Ki it
//! was 4% slower, from 256 Ki 15%). Each element is computed by the same
//! instructions whichever thread runs it, so the values are bit for bit those of one thread;
//! only passes without a reduction are split here (and the one reduction upstream split, a
//! whole-tensor sum, is kept on one thread: `ops/reduce.rs`).

use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// The fewest elements worth handing to another thread.
pub(crate) const GRAIN: usize = 64 * 1024;

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

/// `f` over `data`, piece by piece, on the pool's threads when it pays.
#[inline]
pub(crate) fn for_each_mut<T: Send>(data: &mut [T], f: impl Fn(&mut [T]) + Sync + Send) {
    #[cfg(feature = "rayon")]
    if let Some(piece) = piece(data.len()) {
        use rayon::prelude::*;
        data.par_chunks_mut(piece).for_each(f);
        return;
    }
    f(data)
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
    let mut out: Vec<T> = Vec::with_capacity(len);
    let slots = &mut out.spare_capacity_mut()[..len];
    #[cfg(feature = "rayon")]
    if let Some(piece) = piece(len) {
        use rayon::prelude::*;
        slots
            .par_chunks_mut(piece)
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
