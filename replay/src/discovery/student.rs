//! Student's t distribution for whole degrees of freedom — the upper tail and its quantile —
//! computed with IEEE-754's correctly rounded operations only (`+ − × ÷ √`), no `libm`: the
//! same bits on every machine and every build of Rust, so `verify` re-derives a recorded
//! p-value bit for bit wherever it runs (a paired test's degrees of freedom, seeds − 1, are
//! whole).
//!
//! The tail is the closed form for integer `ν` (Abramowitz & Stegun 26.7.3–4): with
//! `θ = atan(t/√ν)`, `A(t|ν) = P(|T| ≤ t)` is `sin θ · Σ_k d_k cos^{2k} θ` for even `ν` and
//! `(2/π)(θ + sin θ cos θ · Σ_k c_k cos^{2k} θ)` for odd `ν`, where `sin θ = t/√(ν + t²)` and
//! `cos² θ = ν/(ν + t²)`. Only odd `ν` needs `θ` itself: [`atan`] here, by argument halving and
//! its Taylor series. Absolute error about 1e-16, tested against mpmath.

use std::f64::consts::{FRAC_PI_2, PI};

/// `P(T > t)` for Student's t with `df ≥ 1` degrees of freedom: the one-sided p-value of `t`.
/// In `[0, 1]`; `t` must be finite.
pub fn upper_tail(t: f64, df: u32) -> f64 {
    debug_assert!(df >= 1 && t.is_finite());
    let central = central(t.abs(), df);
    let tail = if t >= 0.0 { (1.0 - central) / 2.0 } else { (1.0 + central) / 2.0 };
    tail.clamp(0.0, 1.0)
}

/// The `t` with `P(T > t) = p` (`0 < p < 0.5`, `df ≥ 1`): the least float whose tail, as
/// [`upper_tail`] computes it, is at most `p`, found by bisection (deterministic: the same
/// steps on every machine).
pub fn upper_quantile(p: f64, df: u32) -> f64 {
    debug_assert!(p > 0.0 && p < 0.5 && df >= 1);
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while upper_tail(hi, df) > p {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if upper_tail(mid, df) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// `A(t|ν) = P(|T| ≤ t)` for `t ≥ 0`.
fn central(t: f64, df: u32) -> f64 {
    let nu = f64::from(df);
    let r = nu + t * t;
    let sin = t / r.sqrt();
    let cos2 = nu / r;
    if df.is_multiple_of(2) {
        // 1 + (1/2)cos² + (1·3)/(2·4)cos⁴ + … up to cos^{ν−2}.
        let (mut term, mut sum) = (1.0, 1.0);
        for k in 1..df / 2 {
            let k = f64::from(k);
            term = term * cos2 * (2.0 * k - 1.0) / (2.0 * k);
            sum += term;
        }
        sin * sum
    } else {
        let theta = atan(t / nu.sqrt());
        if df == 1 {
            return 2.0 * theta / PI;
        }
        // cos · (1 + (2/3)cos² + (2·4)/(3·5)cos⁴ + … up to cos^{ν−3}).
        let (mut term, mut sum) = (1.0, 1.0);
        for k in 1..(df - 1) / 2 {
            let k = f64::from(k);
            term = term * cos2 * (2.0 * k) / (2.0 * k + 1.0);
            sum += term;
        }
        2.0 * (theta + sin * cos2.sqrt() * sum) / PI
    }
}

/// `atan(x)` for finite `x ≥ 0`, with basic operations only: `π/2 − atan(1/x)` above 1, then
/// `atan(x) = 2·atan(x / (1 + √(1 + x²)))` until `x ≤ 1/8`, then the Taylor series, whose terms
/// shrink 64-fold each, to convergence.
fn atan(x: f64) -> f64 {
    if x > 1.0 {
        return FRAC_PI_2 - atan(1.0 / x);
    }
    let (mut y, mut scale) = (x, 1.0);
    while y > 0.125 {
        y /= 1.0 + (1.0 + y * y).sqrt();
        scale *= 2.0;
    }
    let y2 = y * y;
    let (mut power, mut sum) = (y, 0.0);
    for k in 0..40_u32 {
        let term = power / f64::from(2 * k + 1);
        let next = if k.is_multiple_of(2) { sum + term } else { sum - term };
        if next == sum {
            break;
        }
        sum = next;
        power *= y2;
    }
    scale * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atan_agrees_with_the_platform_to_a_few_ulps() {
        for i in 0..=4000 {
            let x = f64::from(i) * 0.0075;
            let (ours, platform) = (atan(x), x.atan());
            assert!((ours - platform).abs() <= 4.0 * f64::EPSILON * platform.max(1e-300), "atan({x})");
        }
        assert_eq!(atan(0.0), 0.0);
        assert!((atan(1e300) - FRAC_PI_2).abs() < 1e-15);
    }

    #[test]
    fn the_tail_agrees_with_closed_forms_and_mpmath() {
        // ν = 1 (Cauchy): P(T > t) = 1/2 − atan(t)/π; ν = 2: (1 − t/√(2 + t²))/2.
        for t in [0.0, 0.3, 1.0, 2.5, 40.0] {
            assert!((upper_tail(t, 1) - (0.5 - f64::atan(t) / PI)).abs() < 1e-15, "{t}");
            assert!((upper_tail(t, 2) - (1.0 - t / (2.0 + t * t).sqrt()) / 2.0).abs() < 1e-15, "{t}");
        }
        assert_eq!(upper_tail(1.0, 1), 0.25);
        // mpmath, 30 digits: betainc(ν/2, 1/2, 0, ν/(ν+t²), regularized)/2.
        let reference = [
            (2.0, 5, 0.050_969_739_414_929_18),
            (1.5, 3, 0.115_291_932_622_411_53),
            (3.0, 4, 0.019_970_984_035_859_414),
            (0.5, 7, 0.316_203_567_844_642_1),
            (10.0, 2, 0.004_926_228_511_662_845),
            (25.0, 9, 6.294_725_189_495_184e-10),
            (4.0, 1, 0.077_979_130_377_369_33),
            (0.1, 12, 0.460_997_785_228_412_93),
        ];
        for (t, df, p) in reference {
            assert!((upper_tail(t, df) - p).abs() < 1e-14, "t {t}, df {df}: {} vs {p}", upper_tail(t, df));
            assert!((upper_tail(-t, df) - (1.0 - p)).abs() < 1e-14, "the lower side of t {t}, df {df}");
        }
        assert_eq!(upper_tail(0.0, 6), 0.5);
        assert!(upper_tail(1e12, 3) < 1e-30 && upper_tail(1e12, 3) >= 0.0);
        assert!(upper_tail(-1e12, 4) <= 1.0 && upper_tail(-1e12, 4) > 1.0 - 1e-15);
    }

    #[test]
    fn the_quantiles_are_the_tables() {
        // t_{0.95, ν}, from mpmath.
        let table = [
            (1, 6.313_751_514_675_043),
            (2, 2.919_985_580_353_725_7),
            (3, 2.353_363_434_801_823_8),
            (4, 2.131_846_786_326_650_3),
            (5, 2.015_048_373_333_024_2),
            (9, 1.833_112_932_656_237_2),
            (10, 1.812_461_122_811_676_4),
            (30, 1.697_260_886_593_957_8),
            (1000, 1.646_378_817_285_464_7),
        ];
        for (df, q) in table {
            let ours = upper_quantile(0.05, df);
            assert!((ours - q).abs() < 1e-12 * q, "df {df}: {ours} vs {q}");
            assert!(upper_tail(ours, df) <= 0.05);
        }
    }
}
