//! The `recur` operation in two forms that compute the same function:
//!
//! `S_t = Diag(decay_t) S_{t−1} − erase_t (along_tᵀ S_{t−1}) + k_t v_tᵀ`, `o_t = S_tᵀ q_t`
//! per head, with `S` a `dk × dv` matrix starting at zero.
//!
//! - [`stepwise`]: one step per position; the reference, and the form used for decays that are
//!   not all positive (the chunked form works with `log decay`) or per channel (see [`recur`]).
//! - [`chunked`]: positions grouped in chunks of [`CHUNK`]. Inside a chunk everything is dense
//!   batched matmuls over all chunks at once; only the state hand-over between chunks is
//!   sequential, so the loop runs `T / CHUNK` times instead of `T`. Decays enter as pairwise
//!   ratios `exp(L_t − L_s)` of cumulative log decays (never divided out, so strong decays cannot
//!   overflow), and the rank-one erase is solved with the UT transform: the erased reads
//!   `r_t = S_{t−1}ᵀ along_t` satisfy `(I + A) R = …` with `A` strictly lower triangular, and
//!   `(I + A)⁻¹ = (I − A)(I + A²)(I + A⁴)(I + A⁸)` exactly for a chunk of 16.
//!
//! Derivation, with `Γ_t/Γ_s` the decay product over `(s, t]` (per channel):
//! `S_t = Γ_t S_0 + Σ_{s≤t} Γ_t/Γ_s (k_s v_sᵀ − e_s r_sᵀ)`, so
//! `r_t + Σ_{s<t} (a_t · Γ_{t−1}/Γ_s e_s) r_s = (Γ_{t−1} a_t)ᵀ S_0 + Σ_{s<t} (a_t · Γ_{t−1}/Γ_s k_s) v_s`.

use burn::tensor::{Bool, Tensor};

use crate::backend::Numerics;

/// Positions per chunk. A power of two, so that the product form of `(I + A)⁻¹` is exact.
pub const CHUNK: usize = 16;
/// Squarings in the product form: `2^SQUARINGS = CHUNK`.
const SQUARINGS: usize = 4;
/// Decays are clamped here before `log`, so an underflowed gate (0 in f32) stays finite.
const MIN_DECAY: f64 = 1e-30;

/// A decay operand: a number, or per head (`h` wide) / per key channel (`h·dk` wide).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per `recur` call, never stored
pub enum Decay {
    /// The same decay everywhere.
    Number(f64),
    /// `[b|1, t|1, h | h·dk]`.
    Tensor(Tensor<3>),
}

/// The inputs of one `recur`, as `[b|1, t|1, width]` tensors (widths `h·dk`, `h·dv`, …).
#[derive(Clone, Debug)]
pub struct RecurInputs {
    /// Query.
    pub q: Tensor<3>,
    /// Key written.
    pub k: Tensor<3>,
    /// Value written.
    pub v: Tensor<3>,
    /// Decay; none means 1.
    pub decay: Option<Decay>,
    /// Erase vector and the direction read for erasing, always together.
    pub erase: Option<(Tensor<3>, Tensor<3>)>,
    /// Heads.
    pub h: usize,
    /// Sequence length of the output.
    pub steps: usize,
}

/// `recur` in the faster form that is exact for these inputs. Chunked when the decay is absent,
/// a number or per head and positive, or per channel within `FACTOR_SPAN` (from
/// [`Numerics::PerChannelChunked`] on), checked on the values: a decay is data, e.g. `1 − 2^…`
/// or a learned gate. Stepwise otherwise: beyond the span a per-channel decay would need its
/// pairwise ratios as a `CHUNK × CHUNK × dk` tensor per chunk, which measured slower than the
/// steps (docs/performance.md).
pub fn recur(inputs: RecurInputs, numerics: Numerics) -> Tensor<3> {
    let chunk = match &inputs.decay {
        None => true,
        Some(Decay::Number(s)) => *s > 0.0,
        Some(Decay::Tensor(t)) if t.dims()[2] == inputs.h => t.clone().min().into_scalar::<f32>() > 0.0,
        Some(Decay::Tensor(t)) => numerics != Numerics::PerChannelSteps && factorisable(t, inputs.steps),
    };
    if chunk { chunked(inputs) } else { stepwise(inputs) }
}

/// The largest `|Σ log decay|` over a chunk for which per-channel pairwise factors are computed
/// as a product of two exponentials, `e^L_t · e^−L_s`: each stays within `e^±40` (about 1e±17),
/// far from `f32`'s overflow and underflow.
const FACTOR_SPAN: f64 = 40.0;

/// Whether every partial sum of log decays inside a chunk stays within [`FACTOR_SPAN`]. A decay
/// of 0 or below is clamped to [`MIN_DECAY`] as the chunked form does, so its log alone breaks
/// the span and such decays keep the steps.
fn factorisable(decay: &Tensor<3>, steps: usize) -> bool {
    let [b, _, w] = decay.dims();
    let chunks = steps.div_ceil(CHUNK);
    let log = decay.clone().detach().expand([b, steps, w]).clamp_min(MIN_DECAY).log();
    let log = match chunks * CHUNK - steps {
        0 => log,
        padding => {
            let zeros = Tensor::zeros([b, padding, w], &log.device());
            Tensor::cat(vec![log, zeros], 1)
        }
    };
    let sums = log.reshape([b, chunks, CHUNK, w]).cumsum(2);
    f64::from(sums.abs().max().into_scalar::<f32>()) <= FACTOR_SPAN
}

/// `[b, t, h·m]` → `[batch, steps, h, m]`, broadcasting a batch or time of 1.
fn heads(x: Tensor<3>, h: usize, batch: usize, steps: usize) -> Tensor<4> {
    let [b, t, w] = x.dims();
    x.reshape([b, t, h, w / h]).expand([batch, steps, h, w / h])
}

fn batch_of(inputs: &RecurInputs) -> usize {
    let mut b = inputs.q.dims()[0].max(inputs.k.dims()[0]).max(inputs.v.dims()[0]);
    if let Some(Decay::Tensor(d)) = &inputs.decay {
        b = b.max(d.dims()[0]);
    }
    if let Some((e, a)) = &inputs.erase {
        b = b.max(e.dims()[0]).max(a.dims()[0]);
    }
    b
}

/// `[batch, steps, h, m]` → the value at each time as a column `[batch, h, m, 1]`.
///
/// In two levels, groups of about √steps positions and then single positions, because the
/// gradient of a slice is a zero tensor the size of what was sliced: slicing every position out
/// of the whole sequence costs `steps²` in the backward pass, this `2·steps·√steps`. Each position
/// still receives its one gradient plus zeros, so the values are the same bits.
fn columns(x: Tensor<4>) -> Vec<Tensor<4>> {
    let [batch, steps, h, m] = x.dims();
    let group = steps.isqrt().max(1);
    x.split(group, 1).into_iter().flat_map(|g| g.split(1, 1)).map(|x| x.reshape([batch, h, m, 1])).collect()
}

/// The step-by-step form.
pub fn stepwise(inputs: RecurInputs) -> Tensor<3> {
    let (h, steps, batch) = (inputs.h, inputs.steps, batch_of(&inputs));
    let split = |x: Tensor<3>| columns(heads(x, h, batch, steps));
    let (q, k, v) = (split(inputs.q), split(inputs.k), split(inputs.v));
    let (dk, dv) = (q[0].dims()[2], v[0].dims()[2]);
    let decay = inputs.decay.map(|d| match d {
        Decay::Number(s) => Err(s),
        Decay::Tensor(t) => Ok(split(t)),
    });
    let erase = inputs.erase.map(|(e, a)| (split(e), split(a)));
    let at = |x: &[Tensor<4>], i: usize| x[i].clone();
    let mut state = Tensor::<4>::zeros([batch, h, dk, dv], &q[0].device());
    let mut outputs = Vec::with_capacity(steps);
    for i in 0..steps {
        let write = at(&k, i) * at(&v, i).reshape([batch, h, 1, dv]);
        let erased = erase.as_ref().map(|(e, a)| at(e, i) * (at(a, i) * state.clone()).sum_dim(2));
        let decayed = match &decay {
            None => state,
            Some(Err(s)) => state.mul_scalar(*s),
            Some(Ok(d)) => state * at(d, i),
        };
        state = match erased {
            Some(erased) => decayed - erased + write,
            None => decayed + write,
        };
        let out = (at(&q, i) * state.clone()).sum_dim(2);
        outputs.push(out.reshape([batch, 1, h * dv]));
    }
    Tensor::cat(outputs, 1)
}

/// `[batch, steps, h, m]` → `[batch, h, chunks, CHUNK, m]`, zero-padded at the end. Padding
/// (zero keys, values and erases, log decay 0) changes no earlier output: the form is causal.
fn to_chunks(x: Tensor<4>, chunks: usize) -> Tensor<5> {
    let [b, t, h, m] = x.dims();
    let padded = chunks * CHUNK;
    let x = if padded > t {
        let zeros = Tensor::<4>::zeros([b, padded - t, h, m], &x.device());
        Tensor::cat(vec![x, zeros], 1)
    } else {
        x
    };
    x.reshape([b, chunks, CHUNK, h, m]).permute([0, 3, 1, 2, 4])
}

/// `Σ_c x[t,c] y[s,c] exp(lx[t,c] − ly[s,c])` for `s ≤ t` (`s < t` when `strict`), else 0, for
/// every chunk: `[…, CHUNK, CHUNK]`. The log decays are per head (last dim 1) or per channel.
///
/// Per head the ratio is formed once per pair. Per channel it is factorised into one matmul,
/// `(x·e^lx)(y·e^−ly)ᵀ`, as flash-linear-attention's chunked GLA does: exact while no factor
/// overflows, which the caller ensures by keeping the log decays within [`FACTOR_SPAN`].
fn pairwise(x: Tensor<5>, lx: Tensor<5>, y: Tensor<5>, ly: Tensor<5>, strict: bool) -> Tensor<5> {
    // True where s cannot feed t.
    let future = Tensor::<2, Bool>::tril_mask([CHUNK, CHUNK], if strict { -1 } else { 0 }, &x.device());
    if lx.dims()[4] == 1 {
        // exp(−∞) = 0 with a zero gradient, so no NaN.
        let bias = Tensor::<2>::zeros([CHUNK, CHUNK], &x.device()).mask_fill(future, f64::NEG_INFINITY);
        let gate = lx - ly.swap_dims(3, 4) + bias.reshape([1, 1, 1, CHUNK, CHUNK]);
        x.matmul(y.swap_dims(3, 4)) * gate.exp()
    } else {
        // The future's entries are finite (the span bounds them), then multiplied away.
        let keep = Tensor::<2>::ones([CHUNK, CHUNK], &x.device()).mask_fill(future, 0.0);
        let scores = (x * lx.exp()).matmul((y * ly.neg().exp()).swap_dims(3, 4));
        scores * keep.reshape([1, 1, 1, CHUNK, CHUNK])
    }
}

/// `(I + A)⁻¹` for strictly lower triangular `A` (`[…, CHUNK, CHUNK]`):
/// `Σ_{n<CHUNK} (−A)ⁿ = (I − A)(I + A²)(I + A⁴)(I + A⁸)`.
fn unit_lower_inverse(a: Tensor<5>) -> Tensor<5> {
    let eye = Tensor::<2>::eye(CHUNK, &a.device()).reshape([1, 1, 1, CHUNK, CHUNK]);
    let mut inverse = eye.clone() - a.clone();
    let mut power = a;
    for _ in 1..SQUARINGS {
        power = power.clone().matmul(power);
        inverse = inverse.matmul(eye.clone() + power.clone());
    }
    inverse
}

/// The chunked form (see the module docs). Needs every decay positive, and per-channel decays
/// within `FACTOR_SPAN` ([`recur`] checks both).
pub fn chunked(inputs: RecurInputs) -> Tensor<3> {
    let (h, steps, batch) = (inputs.h, inputs.steps, batch_of(&inputs));
    let chunks = steps.div_ceil(CHUNK);
    let split = |x: Tensor<3>| to_chunks(heads(x, h, batch, steps), chunks);
    let (q, k, v) = (split(inputs.q), split(inputs.k), split(inputs.v));
    let (dk, dv) = (q.dims()[4], v.dims()[4]);
    let device = q.device();
    // Log decay per step, `[batch, h, chunks, CHUNK, 1 | dk]`.
    let log_decay = match inputs.decay {
        None => Tensor::<5>::zeros([batch, h, chunks, CHUNK, 1], &device),
        Some(Decay::Number(s)) => to_chunks(Tensor::<4>::full([batch, steps, h, 1], s.ln(), &device), chunks),
        Some(Decay::Tensor(d)) => split(d.clamp_min(MIN_DECAY).log()),
    };
    let cd = log_decay.dims()[4];
    let cumulative = log_decay.clone().cumsum(3); // L_t: log Γ over (chunk start, t]
    let before = cumulative.clone() - log_decay; // L_{t−1}
    let end = cumulative.clone().narrow(3, CHUNK - 1, 1); // L at the chunk's last step
    let to_end = (end.clone() - cumulative.clone()).exp(); // Γ_end / Γ_s

    // Per chunk, all at once: output = read · S_0 + local; next S_0 = Γ_end S_0 + transfer · S_0 + carried.
    let mut read = q.clone() * cumulative.clone().exp();
    let mut local =
        pairwise(q.clone(), cumulative.clone(), k.clone(), cumulative.clone(), false).matmul(v.clone());
    let mut carried = (k.clone() * to_end.clone()).swap_dims(3, 4).matmul(v.clone());
    let mut transfer = None;
    if let Some((e, a)) = inputs.erase {
        let (e, a) = (split(e), split(a));
        let inverse =
            unit_lower_inverse(pairwise(a.clone(), before.clone(), e.clone(), cumulative.clone(), true));
        let keys = pairwise(a.clone(), before.clone(), k, cumulative.clone(), true);
        // The erased reads R = w · S_0 + u.
        let w = inverse.clone().matmul(a * before.exp());
        let u = inverse.matmul(keys.matmul(v));
        let erased_read = pairwise(q, cumulative.clone(), e.clone(), cumulative, false);
        read = read - erased_read.clone().matmul(w.clone());
        local = local - erased_read.matmul(u.clone());
        let erase_to_end = (e * to_end).swap_dims(3, 4);
        carried = carried - erase_to_end.clone().matmul(u);
        transfer = Some(erase_to_end.matmul(w).neg());
    }

    let chunk = |x: &Tensor<5>, i: usize| {
        let [b, h, _, r, c] = x.dims();
        x.clone().narrow(2, i, 1).reshape([b, h, r, c])
    };
    let mut state = Tensor::<4>::zeros([batch, h, dk, dv], &device);
    let mut outputs = Vec::with_capacity(chunks);
    for i in 0..chunks {
        outputs.push((chunk(&read, i).matmul(state.clone()) + chunk(&local, i)).unsqueeze_dim::<5>(2));
        let kept = state.clone() * chunk(&end, i).exp().reshape([batch, h, cd, 1]);
        state = match &transfer {
            Some(transfer) => kept + chunk(transfer, i).matmul(state) + chunk(&carried, i),
            None => kept + chunk(&carried, i),
        };
    }
    Tensor::cat(outputs, 2)
        .permute([0, 2, 3, 1, 4])
        .reshape([batch, chunks * CHUNK, h * dv])
        .narrow(1, 0, steps)
}

#[cfg(test)]
mod tests;
