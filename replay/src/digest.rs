//! What the state hash covers: the decisions and measurements of a campaign, with every
//! number that depends on the machine's speed left out (durations, throughput, timed check
//! numbers) and no event ids or campaign id (they differ between two runs of the same seed).
//! Floats are hashed by their bits, so "the same" means bit-identical.

use std::collections::BTreeMap;

use lineage_events::payload::{NoveltyVerdict, Stage, TrainingFailure};
use lineage_events::{ArchId, Hash, HashWriter};
use serde::Serialize;

use crate::state::{CampaignState, Phase, RunRecord};

/// The state hash: SHA-256 of the digest's JSON, streamed into the hasher (a long campaign's
/// digest is tens of megabytes; it is never held whole).
pub(crate) fn hash(state: &CampaignState) -> Hash {
    let mut runs: Vec<_> = state.runs.iter().collect();
    runs.sort_by(|a, b| a.0.cmp(b.0));
    let digest = Digest {
        seed: state.started.as_ref().map(|s| s.seed),
        archs: Lazy(|| state.order.iter().map(|id| arch_digest(state, id))),
        runs: Lazy(|| runs.iter().map(|(id, run)| run_digest(id.as_str(), run))),
        insights: Lazy(|| {
            state.insights.iter().map(|i| {
                let data: BTreeMap<&str, u64> =
                    i.insight.data.iter().map(|(k, v)| (k.as_str(), v.to_bits())).collect();
                (i.insight.analyst.as_str(), i.insight.kind.as_str(), data)
            })
        }),
        experiments_spent: state.experiments_spent,
    };
    let mut writer = HashWriter::default();
    serde_json::to_writer(&mut writer, &digest).expect("the digest serialises");
    writer.finish()
}

#[derive(Serialize)]
#[serde(bound = "Lazy<A>: Serialize, Lazy<R>: Serialize, Lazy<I>: Serialize")]
struct Digest<A, R, I> {
    seed: Option<u64>,
    archs: Lazy<A>,
    runs: Lazy<R>,
    insights: Lazy<I>,
    experiments_spent: u32,
}

/// A sequence serialised from an iterator as it is produced.
struct Lazy<F>(F);

impl<F: Fn() -> It, It: Iterator<Item: Serialize>> Serialize for Lazy<F> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

#[derive(Serialize)]
struct ArchDigest<'a> {
    arch: &'a str,
    experiment: u32,
    parent: Option<&'a str>,
    references: Vec<&'a str>,
    program_hash: String,
    phase: Phase,
    novelty: Option<NoveltyVerdict>,
    checks: Vec<(u32, bool)>,
    repairs: Vec<(&'a str, String)>,
    fitness: Option<[u64; 4]>,
    promoted: bool,
    discovery: Option<(bool, u64, u64)>,
}

#[derive(Serialize)]
struct RunDigest<'a> {
    run: &'a str,
    arch: &'a str,
    stage: Stage,
    seed: u64,
    result: Option<ResultDigest>,
    failure: Option<&'a str>,
}

#[derive(Serialize)]
struct ResultDigest {
    loss_train: u64,
    loss_val: u64,
    tasks: BTreeMap<String, (Option<u64>, Option<u64>)>,
    benchmark: u64,
    params: u64,
    steps: u32,
    tokens: u64,
    curve: Vec<(u32, u64)>,
}

fn failure_kind(f: &TrainingFailure) -> &'static str {
    match f {
        TrainingFailure::Diverged { .. } => "diverged",
        TrainingFailure::TimedOut { .. } => "timed_out",
        TrainingFailure::Leakage { .. } => "leakage",
        TrainingFailure::TooSlow { .. } => "too_slow",
        TrainingFailure::Error { .. } => "error",
    }
}

fn arch_digest<'a>(state: &'a CampaignState, id: &'a ArchId) -> ArchDigest<'a> {
    let a = &state.archs[id];
    ArchDigest {
        arch: id.as_str(),
        experiment: a.proposal.experiment,
        parent: a.proposal.parent.as_ref().map(|p| p.as_str()),
        references: a.proposal.references.iter().map(|r| r.as_str()).collect(),
        program_hash: a.program_hash.to_hex(),
        phase: state.phase(id),
        novelty: a.novelty.as_ref().map(|(n, _)| n.verdict),
        checks: a.checks.iter().map(|(attempt, passed, _)| (*attempt, *passed)).collect(),
        repairs: a.repairs.iter().map(|(r, _)| (r.rule.as_str(), r.program_hash.to_hex())).collect(),
        fitness: a.fitness.as_ref().map(|(f, _)| {
            let c = &f.components;
            [f.total.to_bits(), c.loss_term.to_bits(), c.benchmark_term.to_bits(), c.judge_term.to_bits()]
        }),
        promoted: a.promoted.is_some(),
        discovery: a
            .verification
            .as_ref()
            .map(|v| (v.discovery, v.gain_mean.to_bits(), v.gain_std.to_bits())),
    }
}

fn run_digest<'a>(id: &'a str, r: &'a RunRecord) -> RunDigest<'a> {
    RunDigest {
        run: id,
        arch: r.scheduled.arch.as_str(),
        stage: r.scheduled.stage,
        seed: r.scheduled.seed,
        result: r.finished.as_ref().map(|(f, _)| {
            let m = &f.metrics;
            ResultDigest {
                loss_train: m.loss_train_final.to_bits(),
                loss_val: m.loss_val_final.to_bits(),
                tasks: m
                    .tasks
                    .iter()
                    .map(|(k, t)| (k.clone(), (t.accuracy.map(f64::to_bits), t.loss.map(f64::to_bits))))
                    .collect(),
                benchmark: m.benchmark_mean.to_bits(),
                params: m.params,
                steps: m.steps,
                tokens: m.tokens_seen,
                curve: m.loss_curve.iter().map(|p| (p.step, p.loss.to_bits())).collect(),
            }
        }),
        failure: r.failed.as_ref().map(|f| failure_kind(&f.failure)),
    }
}
