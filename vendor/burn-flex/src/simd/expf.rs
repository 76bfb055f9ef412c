//! lineage patch: `exp` and `sigmoid` of `f32` slices, vectorised, bit for bit the values the
//! scalar kernels computed before.
//!
//! The scalar kernels called the C library's `expf` once per element (and `sigmoid` branched
//! on the sign, which mispredicts on half of a layer's activations). glibc (2.28 and later, on
//! x86-64 with FMA: its `__expf_fma`) computes `expf` as below: a 32-entry table of `2^(i/32)`
//! and a cubic in double precision, with the multiply-adds fused. [`expf`] is that algorithm
//! step for step, so it returns the same bits; [`exp_inplace`] and [`sigmoid_inplace`] run it
//! on four lanes at once with AVX2 and FMA, and fall back to [`expf`] elsewhere. lineage's
//! `arch/tests/kernels.rs` compares them with the C library's on every `f32`.

/// `2^(i/32)` as f64 bits, less `i << 47` (glibc's `__exp2f_data.tab`).
const TABLE: [u64; 32] = [
    0x3ff0000000000000,
    0x3fefd9b0d3158574,
    0x3fefb5586cf9890f,
    0x3fef9301d0125b51,
    0x3fef72b83c7d517b,
    0x3fef54873168b9aa,
    0x3fef387a6e756238,
    0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715,
    0x3feef1a7373aa9cb,
    0x3feedea64c123422,
    0x3feece086061892d,
    0x3feebfdad5362a27,
    0x3feeb42b569d4f82,
    0x3feeab07dd485429,
    0x3feea47eb03a5585,
    0x3feea09e667f3bcd,
    0x3fee9f75e8ec5f74,
    0x3feea11473eb0187,
    0x3feea589994cce13,
    0x3feeace5422aa0db,
    0x3feeb737b0cdc5e5,
    0x3feec49182a3f090,
    0x3feed503b23e255d,
    0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47,
    0x3fef199bdd85529c,
    0x3fef3720dcef9069,
    0x3fef5818dcfba487,
    0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da,
    0x3fefd0765b6e4540,
];
/// `32 / ln 2`.
const INV_LN2_N: f64 = f64::from_bits(0x40471547652b82fe);
/// Adding it rounds to an integer in the low bits of the mantissa.
const SHIFT: f64 = f64::from_bits(0x4338000000000000);
/// The cubic's coefficients, scaled for the table: `C0 r³ + C1 r² + C2 r + 1`.
const C0: f64 = f64::from_bits(0x3ebc6af84b912394);
const C1: f64 = f64::from_bits(0x3f2ebfce50fac4f3);
const C2: f64 = f64::from_bits(0x3f962e42ff0c52d6);
/// `abstop(88.0)`: from here on the argument may overflow, underflow, or not be finite.
const SPECIAL_ABSTOP: u32 = 0x42b;
/// Above this `exp` overflows to infinity.
const OVERFLOW: f32 = f32::from_bits(0x42b17217);
/// Below this `exp` underflows to zero.
const UNDERFLOW: f32 = f32::from_bits(0xc2cff1b4);
/// Below this (and not below [`UNDERFLOW`]) the result is the smallest subnormal.
const MAY_UNDERFLOW: f32 = f32::from_bits(0xc2ce8ecf);

fn abstop(x: f32) -> u32 {
    (x.to_bits() >> 20) & 0x7ff
}

/// `e^x`, for `abstop(x) < SPECIAL_ABSTOP` or in the extended range the special cases hand back.
#[inline(always)]
fn expf_core(x: f32) -> f32 {
    let xd = x as f64;
    let kd = INV_LN2_N.mul_add(xd, SHIFT);
    let ki = kd.to_bits();
    let kd = kd - SHIFT;
    let r = INV_LN2_N.mul_add(xd, -kd);
    let s = f64::from_bits(TABLE[(ki % 32) as usize].wrapping_add(ki << 47));
    let z = C0.mul_add(r, C1);
    let r2 = r * r;
    let y = C2.mul_add(r, 1.0);
    let y = z.mul_add(r2, y);
    (y * s) as f32
}

/// `e^x`, the same bits as glibc's `expf` (FMA build), including infinities, NaN and
/// underflow.
#[inline]
pub fn expf(x: f32) -> f32 {
    if abstop(x) >= SPECIAL_ABSTOP {
        if x == f32::NEG_INFINITY {
            return 0.0;
        }
        if abstop(x) >= 0x7f8 {
            return x + x;
        }
        if x > OVERFLOW {
            return f32::INFINITY;
        }
        if x < UNDERFLOW {
            return 0.0;
        }
        if x < MAY_UNDERFLOW {
            return f32::from_bits(1);
        }
    }
    expf_core(x)
}

/// `1 / (1 + e^−x)`: the same bits as burn-flex's scalar sigmoid (`1/(1+e^−x)` for `x ≥ 0`,
/// `e^x/(1+e^x)` below), without its branch.
#[inline]
pub fn sigmoidf(x: f32) -> f32 {
    let e = expf(-x.abs());
    if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) }
}

/// `x ← e^x` for every element.
pub fn exp_inplace(values: &mut [f32]) {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe { x86::exp_inplace(values) };
        return;
    }
    for x in values {
        *x = expf(*x);
    }
}

/// `x ← 1 / (1 + e^−x)` for every element.
pub fn sigmoid_inplace(values: &mut [f32]) {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe { x86::sigmoid_inplace(values) };
        return;
    }
    for x in values {
        *x = sigmoidf(*x);
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn avx2_fma() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod x86 {
    use core::arch::x86_64::*;

    use super::*;

    /// [`expf_core`] on four lanes, and a mask of the lanes that need [`expf`]'s special cases.
    #[target_feature(enable = "avx2,fma")]
    fn exp4(x: __m128) -> (__m128, i32) {
        let bits = _mm_castps_si128(x);
        let top = _mm_and_si128(_mm_srli_epi32::<20>(bits), _mm_set1_epi32(0x7ff));
        let special = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(
            top,
            _mm_set1_epi32(SPECIAL_ABSTOP as i32 - 1),
        )));
        let xd = _mm256_cvtps_pd(x);
        let inv = _mm256_set1_pd(INV_LN2_N);
        let shift = _mm256_set1_pd(SHIFT);
        let kd = _mm256_fmadd_pd(inv, xd, shift);
        let ki = _mm256_castpd_si256(kd);
        let kd = _mm256_sub_pd(kd, shift);
        let r = _mm256_fmsub_pd(inv, xd, kd);
        let index = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
        // SAFETY: every index is below 32, the table's length.
        let t = unsafe { _mm256_i64gather_epi64::<8>(TABLE.as_ptr().cast(), index) };
        let s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64::<47>(ki)));
        let z = _mm256_fmadd_pd(_mm256_set1_pd(C0), r, _mm256_set1_pd(C1));
        let r2 = _mm256_mul_pd(r, r);
        let y = _mm256_fmadd_pd(_mm256_set1_pd(C2), r, _mm256_set1_pd(1.0));
        let y = _mm256_fmadd_pd(z, r2, y);
        (_mm256_cvtpd_ps(_mm256_mul_pd(y, s)), special)
    }

    /// Redoes the lanes of `out` that `special` marks with the scalar [`expf`] of `x`.
    fn fix_special(x: __m128, out: __m128, special: i32) -> __m128 {
        let mut xs = [0f32; 4];
        let mut outs = [0f32; 4];
        // SAFETY: unaligned stores of four floats into four-float arrays.
        unsafe {
            _mm_storeu_ps(xs.as_mut_ptr(), x);
            _mm_storeu_ps(outs.as_mut_ptr(), out);
        }
        for lane in 0..4 {
            if special & (1 << lane) != 0 {
                outs[lane] = expf(xs[lane]);
            }
        }
        // SAFETY: an unaligned load of a four-float array.
        unsafe { _mm_loadu_ps(outs.as_ptr()) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn exp_lanes(x: __m128) -> __m128 {
        let (out, special) = exp4(x);
        if special != 0 { fix_special(x, out, special) } else { out }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp_inplace(values: &mut [f32]) {
        let mut chunks = values.chunks_exact_mut(4);
        for chunk in &mut chunks {
            // SAFETY: `chunk` holds four floats.
            unsafe {
                let x = _mm_loadu_ps(chunk.as_ptr());
                _mm_storeu_ps(chunk.as_mut_ptr(), exp_lanes(x));
            }
        }
        for x in chunks.into_remainder() {
            *x = expf(*x);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn sigmoid_inplace(values: &mut [f32]) {
        let sign = _mm_set1_ps(-0.0);
        let one = _mm_set1_ps(1.0);
        let mut chunks = values.chunks_exact_mut(4);
        for chunk in &mut chunks {
            // SAFETY: `chunk` holds four floats.
            unsafe {
                let x = _mm_loadu_ps(chunk.as_ptr());
                let e = exp_lanes(_mm_or_ps(x, sign)); // e^−|x|
                let denominator = _mm_add_ps(one, e);
                let positive = _mm_div_ps(one, denominator);
                let negative = _mm_div_ps(e, denominator);
                // x ≥ 0 (false for NaN, as in the scalar form).
                let non_negative = _mm_cmp_ps::<_CMP_GE_OQ>(x, _mm_setzero_ps());
                _mm_storeu_ps(chunk.as_mut_ptr(), _mm_blendv_ps(negative, positive, non_negative));
            }
        }
        for x in chunks.into_remainder() {
            *x = sigmoidf(*x);
        }
    }
}
