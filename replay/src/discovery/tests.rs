//! The discovery rule on planted seed results: the paired t-test with Holm's correction, its
//! edge cases, and the version-1 rule old verdicts are re-derived with.

use super::*;

/// Scores by seed 1, 2, …
fn scores(values: &[f64]) -> BTreeMap<u64, f64> {
    values.iter().enumerate().map(|(i, v)| (i as u64 + 1, *v)).collect()
}

/// A candidate scoring `gains` above a baseline that scores 0.5 on every seed.
fn gaining(gains: &[f64]) -> (BTreeMap<u64, f64>, BTreeMap<u64, f64>) {
    (scores(&gains.iter().map(|g| 0.5 + g).collect::<Vec<_>>()), scores(&vec![0.5; gains.len()]))
}

fn alone(candidate: &BTreeMap<u64, f64>, baseline: &BTreeMap<u64, f64>) -> Verdict {
    let mut v = verdicts(std::slice::from_ref(candidate), baseline);
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn a_clear_gain_over_five_seeds_is_a_discovery() {
    let candidate = scores(&[0.80, 0.83, 0.81, 0.82, 0.79]);
    let baseline = scores(&[0.60, 0.61, 0.59, 0.62, 0.60]);
    let v = alone(&candidate, &baseline);
    assert!(v.discovery, "{v:?}");
    let t = &v.test;
    assert_eq!((t.name.as_str(), t.correction.as_str(), t.alpha), ("paired-t-one-sided", "holm", 0.05));
    assert_eq!((t.pairs, t.df, t.family), (5, 4, 1));
    // mpmath, from the same float gains.
    assert!(close(v.gain_mean, 0.206, 1e-15) && close(v.gain_std, 0.013_416_407_864_998_734, 1e-15));
    assert!(close(t.t.unwrap(), 34.333_333_333_333_35, 1e-9), "{t:?}");
    assert!(close(t.p_value, 2.146_867_168_179_791e-6, 1e-15), "{t:?}");
    assert_eq!(t.p_adjusted, t.p_value, "a family of one is not corrected");
    assert!(close(t.lower_bound.unwrap(), 0.193_208_919_282_040_13, 1e-14), "{t:?}");
    // Deterministic: the same bits again, and the recorded form matches itself only.
    assert_eq!(alone(&candidate, &baseline), v);
    let mut recorded = recorded(&v);
    assert!(v.matches(&recorded));
    recorded.test.as_mut().unwrap().p_value = f64::from_bits(t.p_value.to_bits() + 1);
    assert!(!v.matches(&recorded), "one ulp off the p-value");
}

#[test]
fn pure_noise_is_not_a_discovery() {
    let v = alone(&scores(&[0.62, 0.58, 0.61, 0.60, 0.615]), &scores(&[0.60, 0.61, 0.60, 0.61, 0.60]));
    assert!(!v.discovery, "{v:?}");
    assert!(close(v.test.p_value, 0.459_660_370_526_946_15, 1e-14), "{v:?}");
    assert!(v.test.lower_bound.unwrap() < 0.0, "the bound admits no gain");
    // A steady-looking gain on three seeds is still within what three seeds can show.
    let v = alone(&scores(&[0.62, 0.60, 0.64]), &scores(&[0.60, 0.60, 0.60]));
    assert!(v.gain_mean > 0.0 && !v.discovery, "{v:?}");
    assert!(close(v.test.p_value, 0.112_701_665_379_258_31, 1e-14), "{v:?}");
}

#[test]
fn one_paired_seed_is_never_a_discovery() {
    let untested = |v: &Verdict| {
        let t = &v.test;
        !v.discovery && t.t.is_none() && t.p_value == 1.0 && t.p_adjusted == 1.0 && t.lower_bound.is_none()
    };
    // However large: one seed gives no spread to test against.
    let v = alone(&scores(&[0.95]), &scores(&[0.40]));
    assert_eq!((v.gain_mean, v.gain_std, v.test.pairs, v.test.df), (0.95 - 0.40, 0.0, 1, 0));
    assert!(untested(&v), "{v:?}");
    // Two seeds each, but only one shared: one paired gain.
    let candidate = BTreeMap::from([(1, 0.95), (2, 0.96)]);
    let v = alone(&candidate, &BTreeMap::from([(1, 0.40), (3, 0.41)]));
    assert_eq!((v.gain_mean, v.test.pairs), (0.95 - 0.40, 1));
    assert!(untested(&v), "{v:?}");
    // No shared seed: no gain at all.
    let v = alone(&scores(&[0.95]), &BTreeMap::from([(2, 0.40)]));
    assert_eq!((v.gain_mean, v.gain_std, v.test.pairs), (0.0, 0.0, 0));
    assert!(untested(&v), "{v:?}");
}

#[test]
fn a_negative_gain_is_never_a_discovery() {
    let v = alone(&scores(&[0.40, 0.41, 0.40, 0.39, 0.42]), &scores(&[0.60, 0.60, 0.61, 0.60, 0.60]));
    assert!(v.gain_mean < -0.19 && !v.discovery, "{v:?}");
    assert!(v.test.t.unwrap() < -20.0 && v.test.p_value > 0.999_99, "{v:?}");
    assert!(v.test.lower_bound.unwrap() < v.gain_mean);
}

#[test]
fn a_candidate_significant_alone_may_not_be_after_holm() {
    let (significant, baseline) = gaining(&[0.04, 0.02, -0.005, 0.04, 0.01]);
    let (noise, _) = gaining(&[0.01, -0.02, 0.0, 0.015, -0.01]);
    let v = alone(&significant, &baseline);
    assert!(v.discovery && close(v.test.p_value, 0.036_822_629_372_113_7, 1e-9), "{v:?}");

    let both = verdicts(&[noise.clone(), significant.clone()], &baseline);
    let (n, s) = (&both[0], &both[1]);
    assert_eq!((n.test.family, s.test.family), (2, 2));
    assert_eq!(s.test.p_value.to_bits(), v.test.p_value.to_bits(), "its own test is unchanged");
    assert_eq!(s.test.p_adjusted, 2.0 * s.test.p_value, "the smaller p-value, times the family");
    assert!(!s.discovery && !n.discovery, "{both:?}");
    assert_eq!(n.test.p_adjusted, n.test.p_value.max(s.test.p_adjusted), "step-down, monotone");
    // The order of the family does not change anyone's verdict.
    let swapped = verdicts(&[significant, noise], &baseline);
    assert_eq!((&swapped[0], &swapped[1]), (s, n));
}

#[test]
fn holm_adjusts_step_down_and_monotone() {
    let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
    let expected = [0.03, 0.06, 0.06, 0.02];
    for (a, e) in adjusted.iter().zip(expected) {
        assert!(close(*a, e, 1e-16), "{adjusted:?}");
    }
    assert_eq!(holm(&[0.6, 0.7, 1.0]), [1.0, 1.0, 1.0], "capped at 1");
    assert_eq!(holm(&[0.02, 0.02]), [0.04, 0.04], "ties");
    assert!(holm(&[]).is_empty());
}

#[test]
fn gains_with_no_spread_are_the_limit_of_the_test() {
    // The same positive gain on every seed: t is infinite, recorded as none; p = 0.
    let (candidate, baseline) = (scores(&[0.625, 0.625]), scores(&[0.5, 0.5]));
    let v = alone(&candidate, &baseline);
    assert_eq!((v.gain_mean, v.gain_std), (0.125, 0.0));
    assert!(v.discovery, "{v:?}");
    assert_eq!(
        (v.test.t, v.test.p_value, v.test.p_adjusted, v.test.lower_bound),
        (None, 0.0, 0.0, Some(0.125))
    );
    // No gain at all, or the same loss on every seed: p = 1.
    for score in [0.5, 0.375] {
        let v = alone(&scores(&[score; 3]), &scores(&[0.5; 3]));
        assert!(!v.discovery && v.test.t.is_none() && v.test.p_value == 1.0, "{v:?}");
        assert_eq!(v.test.lower_bound, Some(score - 0.5));
    }
    // Equal gains whose mean rounds off their value: a spread of ~1e-17, p ≈ 0 the same way.
    let (candidate, baseline) = gaining(&[0.1, 0.1, 0.1]);
    let v = alone(&candidate, &baseline);
    assert!(v.discovery && v.test.p_value < 1e-12, "{v:?}");
}

#[test]
fn every_recorded_number_is_finite() {
    // Coarse scores (steps of 1/64, like accuracies), any number of seeds: never NaN or ∞.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 65) as f64 / 64.0
    };
    for n in 0..12 {
        for _ in 0..50 {
            let family: Vec<_> =
                (0..3).map(|_| scores(&(0..n).map(|_| next()).collect::<Vec<_>>())).collect();
            let baseline = scores(&(0..n).map(|_| next()).collect::<Vec<_>>());
            for v in verdicts(&family, &baseline) {
                let t = &v.test;
                let numbers = [v.gain_mean, v.gain_std, t.p_value, t.p_adjusted];
                let optional = [t.t, t.lower_bound].into_iter().flatten();
                assert!(numbers.into_iter().chain(optional).all(f64::is_finite), "{v:?}");
                assert!((0.0..=1.0).contains(&t.p_value) && t.p_value <= t.p_adjusted && t.p_adjusted <= 1.0);
                // JSON writes a non-finite float as null, which would not decode back.
                let json = serde_json::to_string(&recorded(&v)).unwrap();
                assert_eq!(serde_json::from_str::<VerificationConcluded>(&json).unwrap(), recorded(&v));
            }
        }
    }
}

#[test]
fn the_version_1_rule_is_kept_as_it_was() {
    // A clear gain on three seeds.
    let v = verdict_v1(&scores(&[0.80, 0.83, 0.81]), &scores(&[0.60, 0.61, 0.59]));
    assert!(v.discovery && close(v.gain_mean, (0.20 + 0.22 + 0.22) / 3.0, 1e-12), "{v:?}");
    // Gains varying more than their mean.
    let v = verdict_v1(&scores(&[0.62, 0.55, 0.70]), &scores(&[0.60, 0.50, 0.70]));
    assert!(v.gain_mean > 0.0 && v.gain_mean < v.gain_std && !v.discovery, "{v:?}");
    // Steady gains, but smaller than the baseline's own seed-to-seed spread (0.1).
    let v = verdict_v1(&scores(&[0.65, 0.55, 0.75]), &scores(&[0.60, 0.50, 0.70]));
    assert!(close(v.gain_mean, 0.05, 1e-12) && v.gain_std < 1e-12 && !v.discovery, "{v:?}");
    // One seed: never.
    let v = verdict_v1(&scores(&[0.95]), &scores(&[0.40]));
    assert_eq!((v.gain_mean, v.gain_std, v.discovery), (0.95 - 0.40, 0.0, false));
    // It matches a verdict without a test only, and the new rule one with its test only.
    let mut old = recorded(&alone(&scores(&[0.95]), &scores(&[0.40])));
    old.test = None;
    assert!(v.matches(&old));
    assert!(!alone(&scores(&[0.95]), &scores(&[0.40])).matches(&old));
    old.test = recorded(&alone(&scores(&[0.95]), &scores(&[0.40]))).test;
    assert!(!v.matches(&old));
}

/// The verdict as a `VerificationConcluded` would record it.
fn recorded(v: &Verdict) -> VerificationConcluded {
    VerificationConcluded {
        arch: ArchId::new("e0001").unwrap(),
        best_baseline: ArchId::new("deltanet").unwrap(),
        gain_mean: v.gain_mean,
        gain_std: v.gain_std,
        discovery: v.discovery,
        runs: Vec::new(),
        test: Some(v.test.clone()),
        real_text: None,
    }
}

/// On real text the rule runs on minus the held-out loss: a discovery needs a clear benchmark
/// gain and a clear loss reduction; either alone is not one.
#[test]
fn a_discovery_needs_both_tests_where_the_stage_has_real_text() {
    let clear = alone(&scores(&[0.81, 0.83, 0.82]), &scores(&[0.60, 0.61, 0.59]));
    let noise = alone(&scores(&[0.61, 0.58, 0.62]), &scores(&[0.60, 0.61, 0.59]));
    let minus = |losses: &[f64]| scores(&losses.iter().map(|l| -l).collect::<Vec<_>>());
    let text_better = alone(&minus(&[1.50, 1.52, 1.51]), &minus(&[1.60, 1.63, 1.61]));
    let text_worse = alone(&minus(&[1.70, 1.66, 1.72]), &minus(&[1.60, 1.63, 1.61]));
    assert!(text_better.discovery && text_better.gain_mean > 0.09, "{text_better:?}");
    assert!(!text_worse.discovery && text_worse.gain_mean < 0.0, "{text_worse:?}");
    assert!(discovery(&clear, None), "no real-text task: the benchmark test alone");
    assert!(discovery(&clear, Some(&text_better)));
    assert!(!discovery(&clear, Some(&text_worse)), "a benchmark gain that real text refutes");
    assert!(!discovery(&noise, Some(&text_better)), "a real-text gain alone");
    // Recorded as a real-text test, it matches only on its task.
    let recorded = text_better.clone().real_text("lm:kjv");
    assert!(text_better.matches_real_text("lm:kjv", &recorded));
    assert!(!text_better.matches_real_text("lm:other", &recorded));
}
