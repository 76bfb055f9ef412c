//! Training one recorded program: parse, check at the stage's size, build the stage's tasks,
//! train, measure. The Trainer actor runs it for every scheduled run, and reproducing a
//! recorded run (`lineage verify --reproduce`) runs the same function, so the two cannot drift.

use std::collections::BTreeMap;

use burn::tensor::Device;
use lineage_arch::backend::Numerics;
use lineage_arch::checks::Budget;
use lineage_arch::cost::{TrainShape, training_memory};
use lineage_arch::lang::{self, Dims};
use lineage_arch::model::ModelWeights;
use lineage_arch::tasks::{self, Task};
use lineage_arch::train::{Progress, TrainConfig, TrainReport, train, train_model};
use lineage_events::Hash;
use lineage_events::payload::{CampaignConfig, CurvePoint, StageConfig, TaskMetrics, TrainingMetrics};

const MIB: f64 = (1u64 << 20) as f64;

/// Why a program could not be trained: nothing was trained. The message is what a
/// `TrainingFailed` event records, so its wording is part of the log.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainingError {
    /// The program text does not parse (it did when it was checked: the record is damaged or
    /// was written by another version of the language). Record the run as failed / tell the
    /// user.
    #[error("the program no longer parses")]
    Parse,
    /// The program does not type-check at the stage's model size. Record the run as failed /
    /// tell the user.
    #[error("the program does not type-check at d = {d}, h = {heads}")]
    TypeCheck {
        /// Model width.
        d: u32,
        /// Heads.
        heads: u32,
    },
    /// A task of the stage could not be built from its settings (the config was validated,
    /// so only a config from another version does this). Record the run as failed / tell the
    /// user which task.
    #[error("{message}")]
    Task {
        /// The task.
        task: String,
        /// What is wrong with its settings.
        message: String,
    },
    /// Training the program at the stage's size needs more memory than one run may use (it fit
    /// when it was checked, on a machine with more). Record the run as failed / tell the user.
    #[error("training needs an estimated {needed_mib} MiB, over the budget of {budget_mib} MiB per run")]
    OverBudget {
        /// The estimate ([`lineage_arch::cost::training_memory`]), MiB.
        needed_mib: u64,
        /// What one run may use, MiB.
        budget_mib: u64,
    },
}

/// A finished training run: what it measured, the wall-clock bound it ran under, and the hash
/// of the program it trained.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The report (a stopped run says so in `stop`).
    pub report: TrainReport,
    /// The wall-clock bound in force, in seconds.
    pub wall_s_max: f64,
    /// The canonical hash of the program trained.
    pub program_hash: Hash,
}

/// The compute threads each of `trainers` runs trained at once by one process gets: the threads
/// of rayon's global pool — the machine's cores, or `RAYON_NUM_THREADS` — shared evenly, at
/// least one each. Ask from outside any pool (inside one, rayon counts that pool's).
pub fn threads_per_trainer(trainers: u32) -> u32 {
    (lineage_arch::backend::threads() / trainers.max(1)).max(1)
}

/// A pool of `threads` compute threads for one trainer. The `flex` backend computes on rayon's
/// current pool, so a run trained inside [`rayon::ThreadPool::install`] uses these threads and
/// no others, and [`lineage_arch::backend::threads`] there — the count a run records — is
/// `threads`: the same count gives the same results bit for bit.
pub fn pool(threads: u32) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1) as usize)
        .thread_name(|i| format!("train-{i}"))
        .build()
        .expect("a thread pool starts")
}

/// The training configuration a stage implies: its sizes and schedule, the shared constants of
/// [`TrainConfig::for_stage`].
pub fn train_config(stage: &StageConfig, seed: u64) -> TrainConfig {
    let config = TrainConfig::for_stage(
        stage.layers,
        stage.steps,
        stage.batch,
        stage.learning_rate,
        stage.run_wall_s_max as f64,
        seed,
    );
    TrainConfig { eval_batches: stage.eval_batches, ..config }
}

/// The training run a stage implies, for the memory and compute estimate: its sizes, and the
/// longest sequence and largest vocabulary of its tasks. `None` when a task cannot be built.
pub fn train_shape(stage: &StageConfig) -> Option<TrainShape> {
    let tasks: Vec<Box<dyn Task>> = stage
        .tasks
        .iter()
        .map(|t| tasks::build(&t.name, &t.settings, t.corpus.as_deref()))
        .collect::<Result<_, _>>()
        .ok()?;
    Some(TrainShape::of(&tasks, stage.layers, stage.batch, stage.steps))
}

/// The budget every program of a campaign must fit before it is checked: training at both
/// stages' sizes within `memory_bytes`.
pub fn budget(config: &CampaignConfig, memory_bytes: u64) -> Budget {
    let stages = [("exploration", &config.exploration), ("verification", &config.verification)];
    let runs = stages
        .into_iter()
        .filter_map(|(label, stage)| {
            let dims = Dims { d: stage.d_model, h: stage.heads };
            train_shape(stage).map(|shape| (label.to_owned(), dims, shape))
        })
        .collect();
    Budget { runs, memory_bytes }
}

/// Trains `program` at `stage`'s size on its tasks with `seed`, on `device`. `slow_limit_s`
/// stops it sooner than the stage's wall-clock limit (the sanity stop of a run much slower than
/// its peers); `memory_bytes`, when given, refuses a program whose estimated training memory is
/// over it before anything is allocated; `progress` sees every step.
pub fn train_program(
    program: &str,
    stage: &StageConfig,
    seed: u64,
    slow_limit_s: Option<f64>,
    memory_bytes: Option<u64>,
    device: &Device,
    progress: impl FnMut(Progress),
) -> Result<Trained, TrainingError> {
    let (program, graph, task_list) = prepare(program, stage, memory_bytes)?;
    let mut config = train_config(stage, seed);
    if let Some(limit) = slow_limit_s {
        config.wall_s_max = config.wall_s_max.min(limit);
    }
    let report = train(&graph, &task_list, &config, device, progress);
    Ok(Trained { report, wall_s_max: config.wall_s_max, program_hash: Hash(lang::program_hash(&program).0) })
}

/// Whether `program` can be trained at `stage`'s size within `memory_bytes` here: what
/// [`train_program`] checks before it allocates anything. A worker asks before it claims a run.
pub fn trainable(program: &str, stage: &StageConfig, memory_bytes: u64) -> Result<(), TrainingError> {
    prepare(program, stage, Some(memory_bytes)).map(|_| ())
}

/// A program ready to train: parsed, its graph at the stage's size, the stage's tasks.
type Prepared = (lang::ast::Program, lang::graph::Graph, Vec<Box<dyn Task>>);

/// Parses and checks the program at the stage's size, builds the stage's tasks, and holds the
/// estimated training memory to `memory_bytes`.
fn prepare(program: &str, stage: &StageConfig, memory_bytes: Option<u64>) -> Result<Prepared, TrainingError> {
    let program = lang::parse(program).map_err(|_| TrainingError::Parse)?;
    let dims = Dims { d: stage.d_model, h: stage.heads };
    let graph = lang::check(&program, dims)
        .graph
        .ok_or(TrainingError::TypeCheck { d: stage.d_model, heads: stage.heads })?;
    let task_list: Vec<Box<dyn Task>> = stage
        .tasks
        .iter()
        .map(|t| tasks::build(&t.name, &t.settings, t.corpus.as_deref()))
        .collect::<Result<_, _>>()
        .map_err(|e| TrainingError::Task { task: e.task, message: e.message })?;
    if let Some(budget) = memory_bytes {
        let shape = TrainShape::of(&task_list, stage.layers, stage.batch, stage.steps);
        let needed = training_memory(&graph, &shape).total_bytes;
        if needed > budget as f64 {
            return Err(TrainingError::OverBudget {
                needed_mib: (needed / MIB).ceil() as u64,
                budget_mib: budget >> 20,
            });
        }
    }
    Ok((program, graph, task_list))
}

/// Trains a recorded run again — its program text, its stage's config, its seed — on `threads`
/// compute threads (the count it was recorded with) with the `numerics` it was recorded with,
/// and returns what it measures, to compare with what was recorded (bit for bit on the same
/// backend).
pub fn reproduce(
    program: &str,
    stage: &StageConfig,
    seed: u64,
    threads: u32,
    numerics: Numerics,
    device: &Device,
) -> Result<TrainingMetrics, TrainingError> {
    reproduce_model(program, stage, seed, threads, numerics, device).map(|(metrics, _, _)| metrics)
}

/// [`reproduce`], keeping the trained model: the program's graph at the stage's size and the
/// weights the run ended with (what `lineage export-arch` writes out).
pub fn reproduce_model(
    program: &str,
    stage: &StageConfig,
    seed: u64,
    threads: u32,
    numerics: Numerics,
    device: &Device,
) -> Result<(TrainingMetrics, lang::graph::Graph, ModelWeights), TrainingError> {
    pool(threads).install(|| {
        let (_, mut graph, task_list) = prepare(program, stage, None)?;
        graph.numerics = numerics;
        let (report, weights) = train_model(&graph, &task_list, &train_config(stage, seed), device, |_| {});
        Ok((metrics(&report), graph, weights))
    })
}

/// The metrics recorded for a report: `loss_val_final` is the language-modelling held-out loss
/// when `lm` is among the tasks, else the mean held-out loss.
pub fn metrics(report: &TrainReport) -> TrainingMetrics {
    let tasks: BTreeMap<String, TaskMetrics> = report
        .tasks
        .iter()
        .map(|t| (t.task.clone(), TaskMetrics { accuracy: t.accuracy, loss: Some(t.loss) }))
        .collect();
    let loss_val_final = report.tasks.iter().find(|t| t.task == "lm").map(|t| t.loss).unwrap_or_else(|| {
        report.tasks.iter().map(|t| t.loss).sum::<f64>() / report.tasks.len().max(1) as f64
    });
    TrainingMetrics {
        loss_train_final: report.loss_train_final,
        loss_val_final,
        tasks,
        benchmark_mean: report.benchmark_mean(),
        params: report.params,
        steps: report.steps,
        tokens_seen: report.tokens_seen,
        tokens_per_s: report.tokens_per_s(),
        wall_ms: report.wall_ms,
        loss_curve: report
            .loss_curve
            .iter()
            .map(|(step, loss)| CurvePoint { step: *step, loss: *loss })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
