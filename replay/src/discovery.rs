//! The discovery rule: when a promoted candidate's verification scores beat the promoted
//! baseline's by more than seed-to-seed variation. Defined once, here, as a pure function of the
//! scores by seed: the analyst concludes verification with it, and `verify` re-derives every
//! recorded verdict with it from the runs the verdict names, bit for bit.

use std::collections::BTreeMap;

use lineage_events::payload::{Stage, VerificationConcluded};
use lineage_events::{ArchId, RunId};

use crate::state::CampaignState;

/// The verdict on one promoted candidate against the best baseline, from their verification
/// scores (benchmark mean by seed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Mean gain over the baseline on the seeds both were trained with.
    pub gain_mean: f64,
    /// Sample standard deviation of those gains (0 for fewer than two).
    pub gain_std: f64,
    /// The discovery rule: a positive gain larger than both the seed-to-seed spread of the
    /// gains and of the baseline's own score, on at least two paired seeds. One seed gives no
    /// spread to compare with, so it is never a discovery.
    pub discovery: bool,
}

impl Verdict {
    /// Whether a recorded verdict says exactly this (the floats bit for bit).
    pub fn matches(&self, recorded: &VerificationConcluded) -> bool {
        self.gain_mean.to_bits() == recorded.gain_mean.to_bits()
            && self.gain_std.to_bits() == recorded.gain_std.to_bits()
            && self.discovery == recorded.discovery
    }
}

/// The discovery rule on verification scores by seed: the candidate's and the baseline's.
/// Gains are paired by seed (a seed only one of them has is left out of the gains); the
/// baseline's spread is over all its seeds.
pub fn verdict(candidate: &BTreeMap<u64, f64>, baseline: &BTreeMap<u64, f64>) -> Verdict {
    let base_values: Vec<f64> = baseline.values().copied().collect();
    let base_std = std_dev(&base_values);
    let gains: Vec<f64> =
        candidate.iter().filter_map(|(seed, score)| baseline.get(seed).map(|b| score - b)).collect();
    let gain_mean = gains.iter().sum::<f64>() / gains.len().max(1) as f64;
    let gain_std = std_dev(&gains);
    let discovery = gains.len() >= 2 && gain_mean > 0.0 && gain_mean > gain_std && gain_mean > base_std;
    Verdict { gain_mean, gain_std, discovery }
}

/// Verification scores of `arch` by seed (benchmark mean, and the run), finished runs only:
/// what the analyst concludes from.
pub fn verification_scores(state: &CampaignState, arch: &ArchId) -> BTreeMap<u64, (f64, RunId)> {
    state
        .runs
        .iter()
        .filter(|(_, r)| &r.scheduled.arch == arch && r.scheduled.stage == Stage::Verification)
        .filter_map(|(id, r)| {
            r.finished.as_ref().map(|(f, _)| (r.scheduled.seed, (f.metrics.benchmark_mean, id.clone())))
        })
        .collect()
}

/// Sample standard deviation (0 for fewer than two values).
fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}
