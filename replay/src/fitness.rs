//! The fitness total of ASI-Arch's Eq. 2: the weighted sum of the three terms (loss, benchmark,
//! judge). The analyst computes the terms from a run's metrics; the total is defined once, here,
//! so that the analyst's recorded fitness and a counterfactual's re-weighting agree bit for bit.

use lineage_events::payload::{FitnessComponents, FitnessConstants};
use serde::Serialize;

/// The judge term of Eq. 2 from a judge score on 1-10: `(J − 1) / 9`, so 1 scores 0 and 10
/// scores 1. Defined once: the analyst records it and verify re-derives it, bit for bit.
pub fn judge_term(score: f64) -> f64 {
    (score - 1.0) / 9.0
}

/// The weights of the three fitness terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Weights {
    /// Weight of the loss term.
    pub loss: f64,
    /// Weight of the benchmark term.
    pub benchmark: f64,
    /// Weight of the judge term.
    pub judge: f64,
}

impl Weights {
    /// The weights a campaign's fitness constants set.
    pub fn of(constants: &FitnessConstants) -> Self {
        Self {
            loss: constants.loss_weight,
            benchmark: constants.benchmark_weight,
            judge: constants.judge_weight,
        }
    }

    /// The total: `w_L·loss + w_B·benchmark + w_J·judge`, summed in that order (recorded
    /// fitness depends on the order: floating-point addition is not associative).
    pub fn total(&self, c: &FitnessComponents) -> f64 {
        self.loss * c.loss_term + self.benchmark * c.benchmark_term + self.judge * c.judge_term
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_weights_each_term() {
        let c = FitnessComponents { loss_term: 0.25, benchmark_term: 0.5, judge_term: 1.0 };
        let w = Weights { loss: 1.0, benchmark: 2.0, judge: 4.0 };
        assert_eq!(w.total(&c), 0.25 + 1.0 + 4.0);
        let only_loss = Weights { loss: 1.0, benchmark: 0.0, judge: 0.0 };
        assert_eq!(only_loss.total(&c), 0.25);
    }
}
