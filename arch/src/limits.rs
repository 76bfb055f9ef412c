//! Every bound on a model, its training and a program's size, each with its reason, in one
//! place: the campaign config (validated in `lineage-actors`), `lineage arch train` and
//! `lineage arch check` refuse anything outside them before any work starts, with one line
//! naming the key, the value and the allowed range ([`LimitError`]).
//!
//! The sizes are bounded so that no single value can ask for an allocation the machine cannot
//! make: each one alone stays far below a machine's memory at the smallest setting of the
//! others. Whether a *combination* fits is the memory budget's question
//! ([`crate::cost::training_memory`], checked by [`crate::checks::run_all_within`]).

use std::fmt::Display;

use crate::lang::Dims;

/// An inclusive range of allowed values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range<T> {
    /// Smallest allowed value.
    pub min: T,
    /// Largest allowed value.
    pub max: T,
}

impl<T: PartialOrd + Copy + Display> Range<T> {
    /// `min..=max`.
    pub const fn new(min: T, max: T) -> Self {
        Self { min, max }
    }

    /// Whether `value` is allowed (a NaN never is).
    pub fn contains(&self, value: T) -> bool {
        self.min <= value && value <= self.max
    }

    /// `value`, or the refusal naming `key` (as its caller spells it, e.g. `exploration.batch`
    /// or `--batch`).
    pub fn check(&self, key: &str, value: T) -> Result<T, LimitError> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(LimitError::new(key, value, format!("{}..={}", self.min, self.max)))
        }
    }
}

/// A value outside its documented range. The message is one line: the key, the value, the
/// range. Tell the user; nothing was started or recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value} is out of range: allowed {allowed}")]
pub struct LimitError {
    /// The key or flag, as the caller names it.
    pub key: String,
    /// The value given.
    pub value: String,
    /// What is allowed, e.g. `1..=4096`.
    pub allowed: String,
}

impl LimitError {
    /// `key = value` is not within `allowed`.
    pub fn new(key: &str, value: impl Display, allowed: impl Into<String>) -> Self {
        Self { key: key.to_owned(), value: value.to_string(), allowed: allowed.into() }
    }
}

// ---------------------------------------------------------------------------------------------
// Model and training sizes (a campaign stage, `lineage arch train`).

/// Model width. Every value of a program is at most [`crate::lang::check::WIDTH_MAX_FACTOR`] × d wide,
/// so one projection at d = 4096 already holds 268M floats (1 GiB); wider is no CPU model.
pub const D_MODEL: Range<u32> = Range::new(1, 4096);
/// Heads of the token mixer; d must be a multiple. A head narrower than one channel is no head,
/// and 256 heads is past any published mixer.
pub const HEADS: Range<u32> = Range::new(1, 256);
/// Blocks. Memory and time grow linearly with them; 128 is far past any model trained on CPU.
pub const LAYERS: Range<u32> = Range::new(1, 128);
/// Sequences per step. Activation memory grows linearly with it; the budget decides whether a
/// batch fits, this bound only refuses sizes no machine has memory for.
pub const BATCH: Range<u32> = Range::new(1, 4096);
/// Optimiser steps per run. The loss of every step is kept for the curve, and a million steps
/// at the smallest size is days of CPU time.
pub const STEPS: Range<u32> = Range::new(1, 1_000_000);
/// Peak learning rate: positive; above 1 AdamW diverges at once on every baseline.
pub const LEARNING_RATE: Range<f64> = Range::new(1e-9, 1.0);
/// Wall-clock limit of one run, seconds: at least one, at most a week.
pub const RUN_WALL_S: Range<u64> = Range::new(1, 7 * 24 * 3600);
/// Seeds each candidate is trained with in a stage: each is a full run.
pub const STAGE_SEEDS: Range<u32> = Range::new(1, 64);
/// Held-out batches per task a run is evaluated on: forward passes only, but each one more is
/// a training step's forward half.
pub const EVAL_BATCHES: Range<u32> = Range::new(1, 1024);
/// Tasks of a stage: trained round-robin, so each one more dilutes the others.
pub const STAGE_TASKS: Range<usize> = Range::new(1, 16);
/// Token vocabulary of a generated task (byte-level language modelling uses 256).
pub const VOCAB_MAX: u32 = 4096;
/// Longest sequence a task trains on: attention's scores grow with its square, and the
/// state-tracking tasks test on sequences up to this long.
pub const SEQ_LEN_MAX: u32 = 8192;
/// Operations of one training run (forward and backward, every step; [`crate::cost`]): about
/// a day at a teraflop per second, far past anything a CPU campaign runs.
pub const TRAIN_OPS_MAX: f64 = 1e17;

// ---------------------------------------------------------------------------------------------
// Memory budget (the reading of the machine's memory happens in the caller: this crate reads
// no host state).

/// Share of the machine's memory a campaign's training runs may use together, by default:
/// half, leaving the rest to the system, the store and the checks.
pub const MEMORY_SHARE_DEFAULT: f64 = 0.5;
/// Memory assumed when the machine's cannot be read: small enough for any machine that runs
/// a campaign at all.
pub const MEMORY_FALLBACK_BYTES: u64 = 4 << 30;
/// A configured memory budget, MiB: at least what the smallest baseline needs at the smallest
/// stage size, at most 16 TiB.
pub const MEMORY_BUDGET_MIB: Range<u64> = Range::new(64, 16 << 20);

// ---------------------------------------------------------------------------------------------
// Program size (`lineage arch check`, and every check a campaign runs).

/// Largest program text, bytes. A mixer has at most [`crate::lang::check::NODES_MAX`] operations; a
/// program thousands of times longer than one can never check, and the cap bounds the work
/// spent finding out.
pub const PROGRAM_BYTES_MAX: usize = 1 << 20;
/// Most bindings in one program (aliases such as `y = x` are bindings without operations, so
/// this is looser than [`crate::lang::check::NODES_MAX`]).
pub const BINDINGS_MAX: usize = 32_768;
/// Deepest expression tree: a long chain `a + b + c + …` nests one level per operator, and
/// every pass over a program recurses through it.
pub const EXPRESSION_DEPTH_MAX: u32 = 256;
/// Errors reported per parse or type check before it stops: the first ones say what to fix,
/// and every further one costs work and rendering.
pub const DIAGNOSTICS_MAX: usize = 100;

// ---------------------------------------------------------------------------------------------
// Campaign-level bounds (validated by `lineage-actors`' config).

/// Proposed architectures per campaign: at least one (a campaign with none only trains the
/// baselines, which `lineage arch train` does); the log holds a few dozen events for each.
pub const EXPERIMENTS: Range<u32> = Range::new(1, 100_000);
/// Wall-clock or summed training time of a campaign, seconds: up to a year.
pub const CAMPAIGN_S: Range<u64> = Range::new(1, 365 * 24 * 3600);
/// Training runs one process trains at once: each is a thread training one model (0: a
/// campaign process that leaves all training to workers).
pub const TRAINERS: Range<u32> = Range::new(0, 256);
/// Runs in flight at once across a campaign's process and its workers: each holds a scheduled
/// run and, for exploration, an experiment in progress.
pub const PARALLEL: Range<u32> = Range::new(1, 4096);
/// Candidates kept in the pool: at least one, or no parent can ever be drawn (a campaign with
/// none would end claiming no baseline could be trained).
pub const POOL_CAPACITY: Range<u32> = Range::new(1, 10_000);
/// A rank in the pool (1-based) that parents or references are drawn from.
pub const POOL_RANK: Range<u32> = Range::new(1, 10_000);
/// References drawn per proposal: each is shown to the proposer.
pub const REFERENCES: Range<u32> = Range::new(0, 64);
/// Re-proposals after a duplicate verdict.
pub const REPROPOSALS: Range<u32> = Range::new(0, 1000);
/// Repair attempts per architecture: each is a check.
pub const REPAIR_ATTEMPTS: Range<u32> = Range::new(0, 100);
/// Candidates promoted to verification (0: explore only); each trains every verification seed.
pub const PROMOTE_TOP: Range<u32> = Range::new(0, 1000);
/// Structural distance threshold: distances are in [0, 1].
pub const STRUCTURAL_DISTANCE: Range<f64> = Range::new(0.0, 1.0);
/// Behavioural distance threshold: a distance between outputs of normalised models.
pub const BEHAVIOURAL_DISTANCE: Range<f64> = Range::new(0.0, 1e3);
/// Fitness constants (scales, steepness, weights): non-negative and finite; the scales must be
/// positive, so their range starts above 0.
pub const FITNESS_CONSTANT: Range<f64> = Range::new(0.0, 1e6);
/// Fitness scales: relative changes that saturate a term.
pub const FITNESS_SCALE: Range<f64> = Range::new(1e-9, 1e6);
/// Leakage ratio: a share of the reference loss, strictly between 0 and 1 (checked open).
pub const LEAKAGE_LOSS_RATIO: Range<f64> = Range::new(0.0, 1.0);
/// Slow factor: a run this many times slower than its peers' median is stopped; above 1 or
/// every run is too slow.
pub const SLOW_FACTOR: Range<f64> = Range::new(1.0, 1e3);

/// The model and training sizes of one run, for [`check_train`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainSizes {
    /// Model width.
    pub d_model: u32,
    /// Heads.
    pub heads: u32,
    /// Blocks.
    pub layers: u32,
    /// Optimiser steps.
    pub steps: u32,
    /// Sequences per step.
    pub batch: u32,
    /// Peak learning rate.
    pub learning_rate: f64,
}

impl TrainSizes {
    /// The sizes as [`Dims`].
    pub fn dims(&self) -> Dims {
        Dims { d: self.d_model, h: self.heads }
    }
}

/// Checks `sizes` against [`D_MODEL`], [`HEADS`], [`LAYERS`], [`STEPS`], [`BATCH`] and
/// [`LEARNING_RATE`], and that d is a multiple of the heads. `key` names each field as the
/// caller spells it: it gets `d_model`, `heads`, `layers`, `steps`, `batch`, `learning_rate`.
pub fn check_train(sizes: &TrainSizes, key: impl Fn(&str) -> String) -> Result<(), LimitError> {
    D_MODEL.check(&key("d_model"), sizes.d_model)?;
    HEADS.check(&key("heads"), sizes.heads)?;
    if !sizes.d_model.is_multiple_of(sizes.heads) {
        return Err(LimitError::new(
            &key("d_model"),
            sizes.d_model,
            format!("a multiple of {} = {}", key("heads"), sizes.heads),
        ));
    }
    LAYERS.check(&key("layers"), sizes.layers)?;
    STEPS.check(&key("steps"), sizes.steps)?;
    BATCH.check(&key("batch"), sizes.batch)?;
    LEARNING_RATE.check(&key("learning_rate"), sizes.learning_rate)?;
    Ok(())
}

/// How `lineage arch train` names each field: its flags (`--d-model`, `--lr`, …).
pub fn train_flag(field: &str) -> String {
    match field {
        "learning_rate" => "--lr".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> TrainSizes {
        TrainSizes { d_model: 64, heads: 4, layers: 2, steps: 300, batch: 16, learning_rate: 3e-3 }
    }

    #[test]
    fn every_out_of_range_flag_is_one_line_naming_it() {
        assert_eq!(check_train(&sizes(), train_flag), Ok(()));
        let cases: [(&str, TrainSizes); 7] = [
            ("--steps = 4000000000", TrainSizes { steps: 4_000_000_000, ..sizes() }),
            ("--batch = 1000000000", TrainSizes { batch: 1_000_000_000, ..sizes() }),
            ("--d-model = 1000000000", TrainSizes { d_model: 1_000_000_000, ..sizes() }),
            ("--layers = 100000", TrainSizes { layers: 100_000, ..sizes() }),
            ("--heads = 0", TrainSizes { heads: 0, ..sizes() }),
            (
                "--d-model = 66 is out of range: allowed a multiple of --heads = 4",
                TrainSizes { d_model: 66, ..sizes() },
            ),
            ("--lr = NaN", TrainSizes { learning_rate: f64::NAN, ..sizes() }),
        ];
        for (expected, bad) in cases {
            let message = check_train(&bad, train_flag).unwrap_err().to_string();
            assert!(message.starts_with(expected), "{message:?} should start with {expected:?}");
            assert_eq!(message.lines().count(), 1);
        }
        let message = check_train(&TrainSizes { batch: 0, ..sizes() }, train_flag).unwrap_err();
        assert_eq!(message.to_string(), "--batch = 0 is out of range: allowed 1..=4096");
    }
}
