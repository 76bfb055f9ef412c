//! Fitness, ASI-Arch's Eq. 2 with the paper's `/3` (as weights):
//! `w_L·σ(k·clamp((L_ref − L)/(s_L·L_ref), −1, 1)) + w_B·σ(k·clamp((B − B_ref)/(s_B·B_ref), −1, 1)) + w_J·(J − 1)/9`,
//! where `L` is the held-out language-modelling loss, `B` the mean held-out accuracy over the
//! other tasks and `J` the built-in judge's score on 1-10; every term is relative to the
//! reference baseline, which the judge anchors at 5.

use lineage_events::payload::{FitnessComponents, FitnessConstants, JudgeScore, TrainingMetrics};
use lineage_replay::fitness::Weights;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// What the judge looks at besides the metrics.
#[derive(Clone, Copy, Debug)]
pub struct JudgeInputs {
    /// Structural distance (0..1) from the nearest seed baseline: how new the design is.
    pub distance_from_baselines: f64,
    /// Parameters of the candidate and of the reference.
    pub params: (u64, u64),
}

/// The built-in judge (no LLM): three sub-scores on 1-10, each 5 for the reference, weighted
/// as ASI-Arch's judge prompt weights them (performance 0.3, innovation 0.25, complexity 0.45).
/// - performance: `5 + 5·tanh(2·(relative accuracy gain + relative loss gain))`;
/// - innovation: `5 + 5·distance from the nearest baseline`;
/// - complexity (simplicity): `5 + 5·tanh(2·ln(params_ref / params))`, fewer parameters better.
pub fn judge(candidate: &TrainingMetrics, reference: &TrainingMetrics, inputs: JudgeInputs) -> JudgeScore {
    let gain_b = (candidate.benchmark_mean - reference.benchmark_mean) / reference.benchmark_mean.max(0.05);
    let gain_l = (reference.loss_val_final - candidate.loss_val_final) / reference.loss_val_final.max(1e-6);
    let clamp = |x: f64| x.clamp(1.0, 10.0);
    let performance = clamp(5.0 + 5.0 * (2.0 * (gain_b + gain_l)).tanh());
    let innovation = clamp(5.0 + 5.0 * inputs.distance_from_baselines.clamp(0.0, 1.0));
    let (params, params_ref) = (inputs.params.0.max(1) as f64, inputs.params.1.max(1) as f64);
    let complexity = clamp(5.0 + 5.0 * (2.0 * (params_ref / params).ln()).tanh());
    let score = 0.3 * performance + 0.25 * innovation + 0.45 * complexity;
    let rationale = format!(
        "performance {performance:.2} (accuracy {:+.1}%, loss {:+.1}% vs reference); innovation {innovation:.2} \
         (distance {:.2} from the nearest baseline); simplicity {complexity:.2} ({} vs {} parameters)",
        100.0 * gain_b,
        100.0 * gain_l,
        inputs.distance_from_baselines,
        inputs.params.0,
        inputs.params.1,
    );
    JudgeScore { score, performance, innovation, complexity, rationale, exchange: None }
}

/// The components and the total ([`Weights::total`]).
pub fn fitness(
    candidate: &TrainingMetrics,
    reference: &TrainingMetrics,
    judge: &JudgeScore,
    c: &FitnessConstants,
) -> (FitnessComponents, f64) {
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
        let j = judge(&r, &r, inputs);
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
}
