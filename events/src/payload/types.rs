//! The payload of every event type, and the value types they share.
//!
//! **Boundary**: these types are persisted. Changing a field's meaning or removing a field needs a
//! new schema version for that event type and an upcaster from the old one (see
//! [`super::Upcasters`]). Adding an optional field (`#[serde(default)]`) does not.
//!
//! Naming: events are past-tense facts; units are the last word of a field name (`wall_ms`).

use std::collections::BTreeMap;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::hash::Hash;
use crate::ids::{ArchId, EventId, RunId};

use super::llm::{LlmConfig, LlmLedger, ProposerDraw};

// ---------------------------------------------------------------------------------------------
// Campaign configuration, recorded in full in `CampaignStarted`.

/// The resolved configuration of a campaign: every knob, after presets, files and flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignConfig {
    /// Preset the configuration started from (`smoke`, `quick`, ...), if any.
    pub preset: Option<String>,
    /// When the campaign stops.
    pub budget: Budget,
    /// Training runs the campaign process trains itself, at once (0: workers train them all).
    pub trainers: u32,
    /// Runs in flight at once, trained by the campaign process or by workers
    /// (`lineage worker`); absent means `trainers` ([`CampaignConfig::parallel`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
    /// How parents and references are drawn from the pool.
    pub selection: SelectionConfig,
    /// When a proposal counts as a duplicate.
    pub novelty: NoveltyConfig,
    /// Attempts the debugger gets before an architecture is abandoned.
    pub repair_attempts_max: u32,
    /// Fitness constants (paper, Eq. 2).
    pub fitness: FitnessConstants,
    /// When a training run is stopped as implausible.
    pub sanity: SanityConfig,
    /// Stage 1: many candidates, tiny scale.
    pub exploration: StageConfig,
    /// Stage 2: the best candidates, larger scale, several seeds.
    pub verification: StageConfig,
    /// How many of the best exploration candidates are promoted to verification.
    pub promote_top: u32,
    /// Analysts started with the campaign (built-in names).
    pub analysts: Vec<String>,
    /// Seed baselines trained first (names from `lineage arch baselines`); empty means all.
    #[serde(default)]
    pub baselines: Vec<String>,
    /// The model the LLM roles talk to; none when every role is built in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmConfig>,
}

impl CampaignConfig {
    /// Runs in flight at once: `parallel`, or `trainers` when it is absent.
    pub fn parallel(&self) -> u32 {
        self.parallel.unwrap_or(self.trainers)
    }
}

/// Limits on a campaign; the first one reached ends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Proposed architectures (baselines not counted).
    pub experiments_max: u32,
    /// Wall-clock time, if bounded.
    pub wall_s_max: Option<u64>,
    /// Summed training time over all trainers, if bounded.
    pub compute_s_max: Option<u64>,
}

/// Candidate-pool and sampling rules. ASI-Arch: pool of 50, parent uniform from ranks 1-10,
/// four references uniform from ranks 11-50.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectionConfig {
    /// Policy name (`top-k-uniform` is the paper's).
    pub policy: CompactString,
    /// Candidates kept in the pool (ranked by fitness).
    pub pool_capacity: u32,
    /// Ranks (1-based, inclusive) the parent is drawn from.
    pub parent_ranks: (u32, u32),
    /// Ranks (1-based, inclusive) the references are drawn from.
    pub reference_ranks: (u32, u32),
    /// References drawn per proposal.
    pub references_count: u32,
    /// `rank-weighted`: ranks over which the parent's weight halves (twice as many on a plateau a
    /// stagnation analyst reported). 2 in logs written before it was a setting.
    #[serde(default = "half_rank_before", skip_serializing_if = "is_half_rank_before")]
    pub half_rank: f64,
    /// Operator weights carried over from earlier campaigns (`lineage operator-prior` pools
    /// their edit statistics), multiplied into the weights the campaign's own insights set; the
    /// random-search control ignores them. Empty in logs written before there was a prior.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operator_prior: BTreeMap<String, f64>,
}

fn half_rank_before() -> f64 {
    2.0
}

fn is_half_rank_before(ranks: &f64) -> bool {
    *ranks == 2.0
}

/// Duplicate detection thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoveltyConfig {
    /// Below this structural distance (0 = same structure) a proposal is a near duplicate.
    pub structural_distance_min: f64,
    /// Below this distance between outputs on fixed probe inputs a proposal is a near duplicate.
    pub behavioural_distance_min: f64,
    /// Re-proposals allowed after a duplicate verdict before the experiment is dropped.
    pub reproposals_max: u32,
}

/// Constants of the fitness `(σ(s·clamp(ΔL/(a·L_ref))) + σ(s·clamp(ΔB/(b·B_ref))) + (J−1)/9) / 3`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitnessConstants {
    /// Which fitness: `asi-arch` (the paper's Eq. 2 with its judge, whose innovation term
    /// rewards distance from the baselines alone) or `calibrated` (the same terms, with a judge
    /// that credits distance only in proportion to measured benefit; docs/discovery.md). Absent
    /// in logs written before there was a choice, which used `asi-arch`.
    #[serde(default = "asi_arch", skip_serializing_if = "is_asi_arch")]
    pub name: CompactString,
    /// The baseline every candidate is compared with (ASI-Arch: DeltaNet).
    pub reference_arch: CompactString,
    /// Relative loss change that saturates the loss term (paper: 0.1).
    pub loss_scale: f64,
    /// Relative benchmark change that saturates the benchmark term (paper: 0.1).
    pub benchmark_scale: f64,
    /// Sigmoid steepness (paper: 6).
    pub steepness: f64,
    /// Weight of the loss term.
    pub loss_weight: f64,
    /// Weight of the benchmark term.
    pub benchmark_weight: f64,
    /// Weight of the judge term.
    pub judge_weight: f64,
}

fn asi_arch() -> CompactString {
    "asi-arch".into()
}

fn is_asi_arch(name: &CompactString) -> bool {
    name == "asi-arch"
}

/// Training-sanity stops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SanityConfig {
    /// A validation loss below `ratio × reference loss` is treated as leakage (paper: 0.9).
    pub leakage_loss_ratio: f64,
    /// A run slower than `factor ×` the median of its peers is stopped (paper: 2-3).
    pub slow_factor: f64,
}

/// Model size, training budget and tasks of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageConfig {
    /// Blocks.
    pub layers: u32,
    /// Model width.
    pub d_model: u32,
    /// Heads of the token mixer.
    pub heads: u32,
    /// Optimiser steps per run.
    pub steps: u32,
    /// Sequences per step.
    pub batch: u32,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Wall-clock limit of one run.
    pub run_wall_s_max: u64,
    /// Seeds each candidate is trained with.
    pub seeds: u32,
    /// Tasks trained and evaluated.
    pub tasks: Vec<TaskSpec>,
    /// Held-out batches per task each run is evaluated on. Absent in logs written before it
    /// was configurable, which evaluated on 4.
    #[serde(default = "eval_batches_before", skip_serializing_if = "is_eval_batches_before")]
    pub eval_batches: u32,
}

fn eval_batches_before() -> u32 {
    4
}

fn is_eval_batches_before(n: &u32) -> bool {
    *n == 4
}

/// A generated task and its settings (interpreted by `lineage-arch`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Task name, e.g. `mqar`, `parity`, `lm`.
    pub name: CompactString,
    /// Task settings, e.g. `vocab = 64`, `pairs = 8`.
    #[serde(default)]
    pub settings: BTreeMap<String, f64>,
    /// A named text the task reads instead of generating one, e.g. `kjv` for `lm` (the King
    /// James Bible). Absent (and not written, so a spec without it serialises exactly as before
    /// the field existed) for generated tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<CompactString>,
}

/// Where a campaign (or a run) executed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: CompactString,
    /// Operating system and CPU architecture, e.g. `linux-x86_64`.
    pub platform: CompactString,
    /// Logical CPUs.
    pub cpus: u32,
}

// ---------------------------------------------------------------------------------------------
// Values shared by several events.

/// Exploration (many candidates, tiny) or verification (few, larger, several seeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage 1.
    Exploration,
    /// Stage 2.
    Verification,
}

/// A random draw a decision depended on: the seed of the generator and what it produced, so
/// the decision can be re-derived and audited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomDraw {
    /// Seed of the generator used for this draw (derived from the campaign seed).
    #[serde(with = "super::seeds::seed_text")]
    pub seed: u64,
    /// What the seed was derived from, e.g. `select/experiment-17`.
    pub stream: CompactString,
    /// The values drawn, in order (indices, ranks).
    pub values: Vec<u64>,
}

/// One member of the candidate pool as it stood when a draw was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolEntry {
    /// 1-based rank by fitness.
    pub rank: u32,
    /// The candidate.
    pub arch: ArchId,
    /// Its fitness then.
    pub fitness: f64,
}

/// Who wrote a program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proposer {
    /// A baseline shipped with lineage, seeding the campaign.
    Baseline {
        /// Baseline name, e.g. `deltanet`.
        name: String,
    },
    /// The built-in mutation / crossover proposer.
    BuiltIn {
        /// Operator applied, e.g. `mutate:add-gate` or `crossover`.
        operator: String,
    },
    /// An LLM; the exchange is recorded in an `LlmExchanged` event.
    Llm {
        /// Model name.
        model: String,
        /// The `LlmExchanged` event with the prompt and reply.
        exchange: EventId,
    },
    /// A person.
    Human {
        /// Who.
        name: String,
    },
}

/// One edit a proposal made to its parent, as the proposer describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// Edit class, used for statistics (e.g. `add-gate`, `swap-activation`, `crossover`).
    pub kind: CompactString,
    /// Human-readable detail.
    pub detail: String,
}

/// Verdict of the duplicate check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoveltyVerdict {
    /// New.
    Novel,
    /// Same canonical program as an earlier architecture.
    ExactDuplicate,
    /// Same structure or behaviour, within the configured thresholds.
    NearDuplicate,
}

/// A diagnostic from the architecture language: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Machine-readable error class (e.g. `shape-mismatch`, `non-causal`), for repair rules.
    pub class: CompactString,
    /// 1-based line, 0 when not tied to a location.
    pub line: u32,
    /// 1-based column, 0 when not tied to a location.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// A suggested fix.
    pub suggestion: Option<String>,
}

/// One pre-training check and its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// Check name: `type-shape`, `causality`, `complexity`, `finite`.
    pub check: CompactString,
    /// Whether it passed.
    pub passed: bool,
    /// The measurements behind the verdict (e.g. `growth_exponent`, `max_future_delta`).
    pub numbers: BTreeMap<String, f64>,
    /// Problems found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Result of one repair attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairOutcome {
    /// The patched program passes every check.
    Repaired,
    /// The patch applied but a check still fails.
    StillFailing,
    /// No repair rule matched the diagnostic.
    NoRuleApplies,
}

/// Held-out result on one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Accuracy in [0, 1] on held-out data, for tasks scored by accuracy.
    pub accuracy: Option<f64>,
    /// Held-out loss (nats per supervised token).
    pub loss: Option<f64>,
}

/// One point of a sampled training-loss curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Optimiser step.
    pub step: u32,
    /// Training loss at that step.
    pub loss: f64,
}

/// What a finished training run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingMetrics {
    /// Final training loss.
    pub loss_train_final: f64,
    /// Final validation loss (language modelling when trained, else mean task loss).
    pub loss_val_final: f64,
    /// Held-out metrics per task name.
    pub tasks: BTreeMap<String, TaskMetrics>,
    /// Mean accuracy over the accuracy-scored tasks: the benchmark score.
    pub benchmark_mean: f64,
    /// Trainable parameters.
    pub params: u64,
    /// Optimiser steps taken.
    pub steps: u32,
    /// Training tokens processed.
    pub tokens_seen: u64,
    /// Training throughput.
    pub tokens_per_s: f64,
    /// Wall time of the run.
    pub wall_ms: u64,
    /// Sampled training-loss curve.
    pub loss_curve: Vec<CurvePoint>,
}

/// Why a run did not finish normally.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrainingFailure {
    /// Loss became NaN or infinite.
    Diverged {
        /// Step at which it was noticed.
        step: u32,
    },
    /// The run hit its wall-clock limit.
    TimedOut {
        /// Time spent.
        wall_ms: u64,
    },
    /// Loss implausibly far below the reference baseline: information leakage.
    Leakage {
        /// The run's validation loss.
        loss: f64,
        /// The reference baseline's.
        reference_loss: f64,
    },
    /// Much slower than its peers.
    TooSlow {
        /// The run's time (so far).
        wall_ms: u64,
        /// Median time of peer runs.
        peers_median_ms: u64,
    },
    /// The model failed to build or run.
    Error {
        /// The error, as reported.
        message: String,
    },
}

/// How a compared architecture relates to the analysed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The parent it was derived from.
    Parent,
    /// The parent's parent.
    Grandparent,
    /// Another child of the same parent.
    Sibling,
    /// A seed baseline.
    Baseline,
}

/// A comparison between the analysed architecture and another one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The other architecture.
    pub against: ArchId,
    /// How it relates.
    pub relation: Relation,
    /// Validation loss difference (this − other).
    pub loss_delta: f64,
    /// Per-task accuracy difference (this − other).
    pub task_deltas: BTreeMap<String, f64>,
}

/// The three fitness terms, each in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitnessComponents {
    /// `σ(s·clamp((L_ref − L)/(a·L_ref), −1, 1))`.
    pub loss_term: f64,
    /// `σ(s·clamp((B − B_ref)/(b·B_ref), −1, 1))`.
    pub benchmark_term: f64,
    /// `(J − 1) / 9`.
    pub judge_term: f64,
}

/// The built-in judge's score, on ASI-Arch's 1-10 scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeScore {
    /// Overall score J in [1, 10] (reference baseline anchored at 5).
    pub score: f64,
    /// Performance sub-score (weight 0.3).
    pub performance: f64,
    /// Innovation sub-score (weight 0.25).
    pub innovation: f64,
    /// Complexity sub-score (weight 0.45).
    pub complexity: f64,
    /// Why.
    pub rationale: String,
    /// The `LlmExchanged` whose reply gave the sub-scores and rationale, when a model judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<EventId>,
}

// ---------------------------------------------------------------------------------------------
// Event payloads, one struct per event type.

/// The first event of every campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignStarted {
    /// Human name.
    pub name: String,
    /// Root seed; every other seed is derived from it and recorded where used.
    #[serde(with = "super::seeds::seed_text")]
    pub seed: u64,
    /// The full resolved configuration (boxed: it is by far the largest payload field, and
    /// inline it would set the size of every [`crate::Payload`], one event a campaign or a
    /// million).
    pub config: Box<CampaignConfig>,
    /// lineage version that started the campaign.
    pub code_version: String,
    /// Training backend, e.g. `flex` or `tch-cuda`.
    pub backend: String,
    /// Where it started.
    pub host: HostInfo,
}

/// A parent and references drawn from the pool for one experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParentSelected {
    /// Experiment number (1-based).
    pub experiment: u32,
    /// Selection policy used.
    pub policy: CompactString,
    /// The pool as it stood.
    pub pool: Vec<PoolEntry>,
    /// The random draw.
    pub draw: RandomDraw,
    /// Chosen parent.
    pub parent: ArchId,
    /// Chosen references.
    pub references: Vec<ArchId>,
    /// With a mixed researcher: whether this experiment's proposal is the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposer_draw: Option<ProposerDraw>,
}

/// A new architecture was proposed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchitectureProposed {
    /// Its id.
    pub arch: ArchId,
    /// Experiment number (0 for seed baselines).
    pub experiment: u32,
    /// Parent it derives from (none for baselines).
    pub parent: Option<ArchId>,
    /// References consulted.
    pub references: Vec<ArchId>,
    /// What it changes and why.
    pub motivation: String,
    /// The program text.
    pub program: String,
    /// Hash of the canonical form of the program.
    pub program_hash: Hash,
    /// Who wrote it.
    pub proposer: Proposer,
    /// The edits made to the parent.
    pub edits: Vec<Edit>,
    /// Analyses and insights the proposal relied on.
    pub evidence: Vec<EventId>,
    /// Randomness the proposer used.
    pub draw: Option<RandomDraw>,
    /// The cognition-base entries (ids) the proposer's prompt included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cognition: Vec<String>,
}

/// The duplicate check's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoveltyJudged {
    /// The proposal judged.
    pub arch: ArchId,
    /// Verdict.
    pub verdict: NoveltyVerdict,
    /// The closest earlier architecture.
    pub nearest: Option<ArchId>,
    /// Structural distance to it (0 = identical structure).
    pub structural_distance: Option<f64>,
    /// Output distance to it on the probe inputs.
    pub behavioural_distance: Option<f64>,
}

/// The engineer compiled a program and ran every pre-training check.
///
/// Version 2 added [`Self::quadratic_allowed`]; version 1 recorded it as the number
/// `quadratic_allowed` (1 or 0) of the complexity check, and is upcast from there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImplementationChecked {
    /// The architecture.
    pub arch: ArchId,
    /// Hash of the program that was checked (changes after a repair).
    pub program_hash: Hash,
    /// 0 for the proposal, n after the n-th repair.
    pub attempt: u32,
    /// Every check with its verdict and numbers.
    pub checks: Vec<CheckOutcome>,
    /// All checks passed.
    pub passed: bool,
    /// The checks accepted quadratic cost: the program is the quadratic reference baseline,
    /// which is trained and ranked but never a parent.
    pub quadratic_allowed: bool,
    /// Trainable parameters at exploration size, when it compiled.
    pub params: Option<u64>,
}

/// The debugger tried to repair a failing program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepairAttempted {
    /// The architecture.
    pub arch: ArchId,
    /// 1-based attempt.
    pub attempt: u32,
    /// What the debugger concluded from the diagnostics.
    pub diagnosis: String,
    /// Repair rule applied.
    pub rule: CompactString,
    /// The patch, as a diff against the failing program.
    pub patch: String,
    /// The patched program.
    pub program: String,
    /// Its canonical hash.
    pub program_hash: Hash,
    /// Result.
    pub outcome: RepairOutcome,
    /// The `LlmExchanged` whose reply made the patch, when the model made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<EventId>,
}

/// An architecture was dropped; it will not be trained (further).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchitectureAbandoned {
    /// The architecture.
    pub arch: ArchId,
    /// Why, in words.
    pub reason: String,
}

/// A training run was queued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingScheduled {
    /// The run.
    pub run: RunId,
    /// What it trains.
    pub arch: ArchId,
    /// Stage.
    pub stage: Stage,
    /// Seed for initialisation and data.
    #[serde(with = "super::seeds::seed_text")]
    pub seed: u64,
    /// Hash of the program trained.
    pub program_hash: Hash,
}

/// A trainer picked a run up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingStarted {
    /// The run.
    pub run: RunId,
    /// What it trains.
    pub arch: ArchId,
    /// Trainer instance.
    pub trainer: CompactString,
    /// Backend, e.g. `flex`.
    pub backend: CompactString,
    /// Compute threads.
    pub threads: u32,
    /// Machine.
    pub host: HostInfo,
    /// The lease of a worker's claim (`lineage worker`): the run is the worker's while a sign of
    /// life — this start, a `LeaseRenewed` or a `TrainingProgress` — is never older than this;
    /// after that anyone may record `LeaseExpired` and the run may start again. Absent: a
    /// trainer of the campaign process itself, which holds the run until that process stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}

/// A sample of a run's progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingProgress {
    /// The run.
    pub run: RunId,
    /// What it trains.
    pub arch: ArchId,
    /// Optimiser step.
    pub step: u32,
    /// Training loss.
    pub loss: f64,
    /// Learning rate at this step.
    pub learning_rate: f64,
    /// Tokens processed so far.
    pub tokens_seen: u64,
    /// Time since the run started.
    pub wall_ms: u64,
}

/// A run finished and was evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingFinished {
    /// The run.
    pub run: RunId,
    /// What it trained.
    pub arch: ArchId,
    /// Stage.
    pub stage: Stage,
    /// Seed used.
    #[serde(with = "super::seeds::seed_text")]
    pub seed: u64,
    /// Backend used.
    pub backend: CompactString,
    /// Compute threads used.
    pub threads: u32,
    /// Hash of the program trained.
    pub program_hash: Hash,
    /// What it measured.
    pub metrics: TrainingMetrics,
}

/// A run ended without a result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingFailed {
    /// The run.
    pub run: RunId,
    /// What it trained.
    pub arch: ArchId,
    /// Why.
    pub failure: TrainingFailure,
    /// 1-based training attempt (the debugger may retry).
    pub attempt: u32,
}

/// An analyst's analysis of one result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRecorded {
    /// The architecture analysed.
    pub arch: ArchId,
    /// Analyst name.
    pub analyst: CompactString,
    /// One-paragraph summary.
    pub summary: String,
    /// Individual findings.
    pub findings: Vec<String>,
    /// Comparisons with parent, siblings, baselines.
    pub comparisons: Vec<Comparison>,
    /// Named numbers (effect sizes, attributions).
    pub numbers: BTreeMap<String, f64>,
    /// Events this analysis is based on.
    pub cites: Vec<EventId>,
    /// The `LlmExchanged` whose reply wrote the summary and findings, when a model wrote them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<EventId>,
}

/// Fitness of an architecture at a stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitnessAssigned {
    /// The architecture.
    pub arch: ArchId,
    /// Stage the fitness belongs to.
    pub stage: Stage,
    /// The three terms.
    pub components: FitnessComponents,
    /// Weighted mean of the terms.
    pub total: f64,
    /// Reference baseline used.
    pub reference: ArchId,
    /// The judge's score and rationale.
    pub judge: JudgeScore,
    /// Constants used.
    pub constants: FitnessConstants,
}

/// An architecture moved to the verification stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromotedToVerification {
    /// The architecture.
    pub arch: ArchId,
    /// Its exploration rank.
    pub rank: u32,
    /// Its exploration fitness.
    pub fitness: f64,
    /// Seeds it will be trained with.
    #[serde(with = "super::seeds::seeds_text")]
    pub seeds: Vec<u64>,
}

/// Verification finished: is it a discovery? (Version 2: with the test the verdict rests on;
/// version 3: with the real-text test beside it, where the stage has a real-text task.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerificationConcluded {
    /// The architecture.
    pub arch: ArchId,
    /// The best baseline at verification scale.
    pub best_baseline: ArchId,
    /// Mean gain in benchmark score over that baseline, over the seeds both were trained with.
    pub gain_mean: f64,
    /// Sample standard deviation of those gains (0 for fewer than two).
    pub gain_std: f64,
    /// Whether it is a discovery: by the test (`test`), or for a version-1 verdict by the
    /// version-1 rule (`test` is `None`).
    pub discovery: bool,
    /// The verification runs.
    pub runs: Vec<RunId>,
    /// The statistical test that decided `discovery` (`lineage_replay::discovery`). `None` only
    /// for a verdict recorded as version 1, which ran no test: it was decided by the version-1
    /// rule (mean gain positive and above both the standard deviation of the gains and the
    /// baseline's own seed-to-seed standard deviation, over at least two paired seeds), which
    /// states no error rate; no test numbers exist for it. Version 2 always writes the field
    /// (the key is required), and `verify` fails a version-2 verdict without a test.
    #[serde(deserialize_with = "Option::deserialize")]
    pub test: Option<GainTest>,
    /// The same test on the held-out loss of the verification stage's real-text task (the
    /// first task with a corpus), where it has one: a discovery must gain there too. `None`
    /// when the stage has no real-text task, and for verdicts recorded before version 3.
    /// Version 3 always writes the key, and `verify` fails a verdict whose stage has a
    /// real-text task and whose verdict has no such test.
    #[serde(deserialize_with = "Option::deserialize")]
    pub real_text: Option<RealTextTest>,
}

/// A verdict's test on real text: the candidate's held-out loss on the real-text task against
/// the baseline's, paired by seed (the gain is the baseline's loss minus the candidate's, in
/// nats per byte, so positive is better).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RealTextTest {
    /// The task, as its results are keyed in the runs' metrics (e.g. `lm:kjv`).
    pub task: CompactString,
    /// Mean loss reduction over the paired seeds (0 for none).
    pub gain_mean: f64,
    /// Sample standard deviation of those reductions (0 for fewer than two).
    pub gain_std: f64,
    /// The test and its correction over the candidates concluded together.
    pub test: GainTest,
}

/// The test behind a verdict: is the candidate's mean gain over the baseline, paired by seed,
/// above zero beyond chance, with the error rate controlled over every candidate concluded
/// together? Every number is finite (JSON holds no NaN or infinity): where a statistic is
/// undefined or infinite it is `None`, and the docs of `lineage_replay::discovery` say why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GainTest {
    /// The test: `paired-t-one-sided` (Student's t on the per-seed gains; H0: mean gain ≤ 0,
    /// H1: mean gain > 0).
    pub name: CompactString,
    /// The family-wise error rate the conclusion is held to.
    pub alpha: f64,
    /// Paired seeds: seeds both the candidate and the baseline have a result for.
    pub pairs: u32,
    /// Degrees of freedom, `pairs − 1` (0 for fewer than two pairs).
    pub df: u32,
    /// The t statistic, `gain_mean / (gain_std / √pairs)`; `None` when it is undefined or
    /// infinite (fewer than two pairs, or gains with no spread).
    pub t: Option<f64>,
    /// One-sided p-value of this candidate alone.
    pub p_value: f64,
    /// The correction for testing several candidates at once: `holm` (Holm–Bonferroni).
    pub correction: CompactString,
    /// Candidates concluded together: the family the correction is over.
    pub family: u32,
    /// The Holm-adjusted p-value: the null is rejected when it is at most `alpha`.
    pub p_adjusted: f64,
    /// One-sided `1 − alpha` lower confidence bound of the mean gain (t-based, for this
    /// candidate alone: not adjusted for the family); `None` for fewer than two pairs.
    pub lower_bound: Option<f64>,
}

/// A campaign-level lesson an analyst drew; steers the researcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InsightRecorded {
    /// Analyst name.
    pub analyst: CompactString,
    /// Insight class (e.g. `edit-effect`, `stagnation`, `pareto`).
    pub kind: CompactString,
    /// The lesson, in words.
    pub text: String,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// Machine-usable content (e.g. `edit:add-gate` → weight).
    pub data: BTreeMap<String, f64>,
    /// Events it is based on.
    pub cites: Vec<EventId>,
}

/// An account of what was spent since the previous one (the orchestrator records one as each
/// experiment ends); the campaign's totals are their sums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetSpent {
    /// Experiments accounted for.
    pub experiments: u32,
    /// Their training time, summed over trainers.
    pub compute_ms: u64,
    /// Campaign wall time since the previous account.
    pub wall_ms: u64,
    /// Tokens and money spent on each LLM role since the previous account.
    #[serde(default, skip_serializing_if = "LlmLedger::is_empty")]
    pub llm: LlmLedger,
}

/// The campaign was paused (Ctrl-C, or a budget awaiting a decision).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignPaused {
    /// Why.
    pub reason: String,
}

/// The experiment budget was raised (`lineage resume --experiments N`). A finished campaign is
/// reopened by it: exploration goes on to the new budget, the candidates not yet verified are
/// verified in a new round, and a new `CampaignFinished` ends it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignExtended {
    /// The new experiment budget (proposed experiments, baselines not counted).
    pub experiments_max: u32,
    /// The budget it replaces.
    pub previous_max: u32,
}

/// The campaign was given a name (`lineage campaigns rename`): commands accept it in place of
/// the id, which never changes. The latest name is in force. It comments on the campaign and
/// changes none of its decisions (it may follow the end; the state hash leaves it out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignNamed {
    /// The name.
    pub name: String,
}

/// The campaign continues after a pause or crash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignResumed {
    /// Last event seen before resuming.
    pub from_seq: u64,
    /// Work that was re-dispatched (run ids, architecture ids).
    pub redispatched: Vec<String>,
    /// Where it resumed.
    pub host: HostInfo,
}

/// The campaign ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignFinished {
    /// Why (budget reached, stopped by the user).
    pub reason: String,
    /// Experiments run.
    pub experiments: u32,
    /// Hash of the replayed state at this point; `replay` must reproduce it.
    pub state_hash: Hash,
    /// How many events `state_hash` covers (the orchestrator's view when it decided). Analysts
    /// in other processes may commit between that and this event; absent in logs written
    /// before it was recorded, where the hash covers every event before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_events: Option<u64>,
}

/// A checkpoint of the log signed with the campaign's signing key: whoever holds the key
/// attests that the log, from event 0 up to and including event `seq`, hashes to `head_hash`.
/// Written only by a campaign run with a signing key (the key itself is never recorded); not
/// part of the state hash, so a signed and an unsigned run of the same seed hash the same.
///
/// The signature is Ed25519 over [`crate::signing::head_message`]: a domain tag, the campaign
/// id, `seq` and `head_hash` (docs/events.md gives the exact bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadSigned {
    /// Position of the last event signed: the head when the checkpoint was made.
    pub seq: u64,
    /// That event's hash.
    pub head_hash: Hash,
    /// The Ed25519 public key, 64 hex digits.
    pub public_key: String,
    /// The Ed25519 signature, 128 hex digits.
    pub signature: String,
}

#[cfg(test)]
mod task_spec_tests {
    use super::*;

    #[test]
    fn a_task_spec_without_a_corpus_is_written_as_before_the_field_existed() {
        for old in
            [r#"{"name":"lm","settings":{}}"#, r#"{"name":"mqar","settings":{"pairs":8.0,"vocab":64.0}}"#]
        {
            let spec: TaskSpec = serde_json::from_str(old).unwrap();
            assert_eq!(spec.corpus, None);
            assert_eq!(serde_json::to_string(&spec).unwrap(), old, "byte for byte");
        }
        let bare: TaskSpec = serde_json::from_str(r#"{"name":"lm"}"#).unwrap();
        assert_eq!(bare, TaskSpec { name: "lm".into(), settings: BTreeMap::new(), corpus: None });
    }

    #[test]
    fn a_task_spec_keeps_its_corpus() {
        let json = r#"{"name":"lm","settings":{},"corpus":"kjv"}"#;
        let spec: TaskSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.corpus.as_deref(), Some("kjv"));
        assert_eq!(serde_json::to_string(&spec).unwrap(), json);
    }
}
