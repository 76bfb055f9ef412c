//! Fitness, ASI-Arch's Eq. 2 with the paper's `/3` (as weights):
//! `w_L·σ(k·clamp((L_ref − L)/(s_L·L_ref), −1, 1)) + w_B·σ(k·clamp((B − B_ref)/(s_B·B_ref), −1, 1)) + w_J·(J − 1)/9`,
//! where `L` is the held-out language-modelling loss, `B` the mean held-out accuracy over the
//! other tasks and `J` the built-in judge's score on 1-10; every term is relative to the
//! reference baseline, which the judge anchors at 5.
//!
//! Two named fitnesses share these terms and differ in the built-in judge's innovation score
//! ([`FitnessKind`]); the scales `s_L`, `s_B` are constants of a campaign's config, chosen from
//! the measured seed-to-seed spread (`lineage bench fitness`, docs/discovery.md).

use lineage_events::payload::{FitnessComponents, FitnessConstants, JudgeScore, TrainingMetrics};
use lineage_replay::fitness::Weights;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Which fitness a campaign uses (`fitness.name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitnessKind {
    /// ASI-Arch's: the judge's innovation score grows with distance from the nearest baseline,
    /// whatever the candidate measured.
    AsiArch,
    /// Innovation is credited only with measured benefit: distance times the gain, in units of
    /// the calibrated scales, so a distant candidate that merely matches the reference earns
    /// the reference's innovation score.
    Calibrated,
}

impl FitnessKind {
    /// Every fitness, by its recorded name.
    pub const ALL: [(&str, FitnessKind); 2] =
        [("asi-arch", FitnessKind::AsiArch), ("calibrated", FitnessKind::Calibrated)];

    /// The fitness a name means, if it is one.
    pub fn named(name: &str) -> Option<FitnessKind> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The fitness of a campaign's constants; configs are validated before they are recorded,
    /// so an unknown name is a log from a newer build: read as the paper's.
    pub fn of(constants: &FitnessConstants) -> FitnessKind {
        Self::named(&constants.name).unwrap_or(FitnessKind::AsiArch)
    }
}

/// What the judge looks at besides the metrics.
#[derive(Clone, Copy, Debug)]
pub struct JudgeInputs {
    /// Structural distance (0..1) from the nearest seed baseline: how new the design is.
    pub distance_from_baselines: f64,
    /// Parameters of the candidate and of the reference.
    pub params: (u64, u64),
}

/// Relative gains over the reference: accuracy (over `max(B_ref, 0.05)`) and loss.
fn gains(candidate: &TrainingMetrics, reference: &TrainingMetrics) -> (f64, f64) {
    let gain_b = (candidate.benchmark_mean - reference.benchmark_mean) / reference.benchmark_mean.max(0.05);
    let gain_l = (reference.loss_val_final - candidate.loss_val_final) / reference.loss_val_final.max(1e-6);
    (gain_b, gain_l)
}

/// The built-in judge (no LLM): three sub-scores on 1-10, each 5 for the reference, weighted
/// as ASI-Arch's judge prompt weights them (performance 0.3, innovation 0.25, complexity 0.45).
/// - `asi-arch`: performance `5 + 5·tanh(2·(gain_B + gain_L))` (relative accuracy and loss
///   gains), innovation `5 + 5·distance from the nearest baseline`;
/// - `calibrated`: with `m = gain_B/s_B + gain_L/s_L` the gains in units of the scales at
///   which the fitness terms saturate, performance `5 + 5·tanh(m)` and innovation
///   `5 + 5·distance·clamp(m/2, 0, 1)`: distance earns nothing without a measured gain;
/// - complexity: `5 + 5·tanh(2·ln(params_ref / params))`, fewer parameters score higher (the
///   payload key and the rationale both say `complexity`).
pub fn judge(
    candidate: &TrainingMetrics,
    reference: &TrainingMetrics,
    inputs: JudgeInputs,
    constants: &FitnessConstants,
) -> JudgeScore {
    let (gain_b, gain_l) = gains(candidate, reference);
    let clamp = |x: f64| x.clamp(1.0, 10.0);
    let distance = inputs.distance_from_baselines.clamp(0.0, 1.0);
    let (performance, innovation, credited) = match FitnessKind::of(constants) {
        FitnessKind::AsiArch => {
            (clamp(5.0 + 5.0 * (2.0 * (gain_b + gain_l)).tanh()), clamp(5.0 + 5.0 * distance), String::new())
        }
        FitnessKind::Calibrated => {
            // Gains in units of the scales, which are many times the seed noise, relative to the
            // reference exactly as the terms take them.
            let relative = |delta: f64, base: f64| delta / base.abs().max(1e-6);
            let measured =
                relative(candidate.benchmark_mean - reference.benchmark_mean, reference.benchmark_mean)
                    / constants.benchmark_scale
                    + relative(reference.loss_val_final - candidate.loss_val_final, reference.loss_val_final)
                        / constants.loss_scale;
            let benefit = (measured / 2.0).clamp(0.0, 1.0);
            (
                clamp(5.0 + 5.0 * measured.tanh()),
                clamp(5.0 + 5.0 * distance * benefit),
                format!(", credited at {benefit:.2} of it for the measured gain"),
            )
        }
    };
    let (params, params_ref) = (inputs.params.0.max(1) as f64, inputs.params.1.max(1) as f64);
    let complexity = clamp(5.0 + 5.0 * (2.0 * (params_ref / params).ln()).tanh());
    let score = 0.3 * performance + 0.25 * innovation + 0.45 * complexity;
    let rationale = format!(
        "performance {performance:.2} (accuracy {:+.1}%, loss {:+.1}% vs reference); innovation {innovation:.2} \
         (distance {:.2} from the nearest baseline{credited}); complexity {complexity:.2} ({} vs {} parameters; fewer score higher)",
        100.0 * gain_b,
        100.0 * gain_l,
        inputs.distance_from_baselines,
        inputs.params.0,
        inputs.params.1,
    );
    JudgeScore { score, performance, innovation, complexity, rationale, exchange: None }
}

/// The loss and benchmark terms of Eq. 2 against the reference.
pub fn terms(candidate: &TrainingMetrics, reference: &TrainingMetrics, c: &FitnessConstants) -> (f64, f64) {
    let relative = |delta: f64, scale: f64, base: f64| {
        let x = delta / (scale * base.abs().max(1e-6));
        sigmoid(c.steepness * x.clamp(-1.0, 1.0))
    };
    let loss_term =
        relative(reference.loss_val_final - candidate.loss_val_final, c.loss_scale, reference.loss_val_final);
    let benchmark_term = relative(
        candidate.benchmark_mean - reference.benchmark_mean,
        c.benchmark_scale,
        reference.benchmark_mean,
    );
    (loss_term, benchmark_term)
}

/// The components and the total ([`Weights::total`]).
pub fn fitness(
    candidate: &TrainingMetrics,
    reference: &TrainingMetrics,
    judge: &JudgeScore,
    c: &FitnessConstants,
) -> (FitnessComponents, f64) {
    let (loss_term, benchmark_term) = terms(candidate, reference, c);
    let judge_term = lineage_replay::fitness::judge_term(judge.score);
    let components = FitnessComponents { loss_term, benchmark_term, judge_term };
    // The one total, which counterfactual re-weighting uses too.
    let total = Weights::of(c).total(&components);
    (components, total)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn metrics(loss: f64, bench: f64) -> TrainingMetrics {
        TrainingMetrics {
            loss_train_final: loss,
            loss_val_final: loss,
            tasks: BTreeMap::new(),
            benchmark_mean: bench,
            params: 1000,
            steps: 1,
            tokens_seen: 1,
            tokens_per_s: 1.0,
            wall_ms: 1,
            loss_curve: Vec::new(),
        }
    }

    fn constants() -> FitnessConstants {
        FitnessConstants {
            name: "asi-arch".into(),
            reference_arch: "deltanet".into(),
            loss_scale: 0.1,
            benchmark_scale: 0.1,
            steepness: 6.0,
            loss_weight: 1.0 / 3.0,
            benchmark_weight: 1.0 / 3.0,
            judge_weight: 1.0 / 3.0,
        }
    }

    #[test]
    fn the_reference_scores_one_half_and_gains_saturate_at_ten_percent() {
        let r = metrics(2.0, 0.5);
        let inputs = JudgeInputs { distance_from_baselines: 0.0, params: (1000, 1000) };
        let j = judge(&r, &r, inputs, &constants());
        assert!((j.score - 5.0).abs() < 1e-12, "the reference is anchored at 5");
        let (c, total) = fitness(&r, &r, &j, &constants());
        assert_eq!((c.loss_term, c.benchmark_term), (0.5, 0.5));
        assert!((total - (0.5 + 0.5 + 4.0 / 9.0) / 3.0).abs() < 1e-12);
        // 10% better accuracy and 10% lower loss: both terms at σ(6).
        let better = metrics(1.8, 0.55);
        let (c, _) = fitness(&better, &r, &j, &constants());
        assert!((c.loss_term - sigmoid(6.0)).abs() < 1e-9 && (c.benchmark_term - sigmoid(6.0)).abs() < 1e-9);
        let much_better = metrics(1.0, 0.9);
        let (c2, _) = fitness(&much_better, &r, &j, &constants());
        assert_eq!((c2.loss_term, c2.benchmark_term), (sigmoid(6.0), sigmoid(6.0)), "clamped at ±10%");
    }

    #[test]
    fn the_calibrated_judge_credits_distance_only_with_measured_benefit() {
        let calibrated = FitnessConstants { name: "calibrated".into(), ..constants() };
        let reference = metrics(2.0, 0.5);
        let far = JudgeInputs { distance_from_baselines: 0.8, params: (1000, 1000) };
        // The paper's judge pays for distance alone; the calibrated one does not.
        assert!(judge(&reference, &reference, far, &constants()).innovation > 8.9);
        assert_eq!(judge(&reference, &reference, far, &calibrated).innovation, 5.0);
        let worse = metrics(2.2, 0.4);
        assert_eq!(judge(&worse, &reference, far, &calibrated).innovation, 5.0, "a loss earns no credit");
        // Gains at the saturating scales on both terms: the full distance is credited.
        let better = metrics(1.8, 0.55);
        let j = judge(&better, &reference, far, &calibrated);
        assert!((j.innovation - 9.0).abs() < 1e-9, "{}", j.innovation);
        // Half of that gain: half the credit.
        let j = judge(&metrics(1.9, 0.525), &reference, far, &calibrated);
        assert!((j.innovation - 7.0).abs() < 1e-9, "{}", j.innovation);
        assert!(j.rationale.contains("credited at 0.50"), "{}", j.rationale);
    }

    #[test]
    fn fitness_names_resolve_and_old_configs_mean_the_papers() {
        assert_eq!(FitnessKind::named("calibrated"), Some(FitnessKind::Calibrated));
        assert_eq!(FitnessKind::named("eq2"), None);
        let old: FitnessConstants = serde_json::from_str(
            r#"{"reference_arch":"deltanet","loss_scale":0.1,"benchmark_scale":0.1,"steepness":6.0,"loss_weight":1.0,"benchmark_weight":1.0,"judge_weight":1.0}"#,
        )
        .unwrap();
        assert_eq!(FitnessKind::of(&old), FitnessKind::AsiArch);
        assert!(
            !serde_json::to_string(&old).unwrap().contains("name"),
            "the paper's fitness is written as before"
        );
    }
}
