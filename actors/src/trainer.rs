//! A Trainer: trains one scheduled run with burn, records its start, a sampled loss curve as
//! progress events, and the result — or the failure, including the training-sanity stops: a
//! loss implausibly far below the baselines' (information leakage) and a run much slower than
//! its peers. A pool of them runs on a `SyncArbiter`, one run per thread.

use std::collections::BTreeMap;

use actix::prelude::*;
use lineage_arch::lang::{self, Dims};
use lineage_arch::tasks::{self, Task};
use lineage_arch::train::{Stop, TrainConfig, TrainReport, train};
use lineage_events::payload::{
    CurvePoint, Stage, TaskMetrics, TrainingFailed, TrainingFailure, TrainingFinished, TrainingMetrics,
    TrainingProgress, TrainingStarted,
};

use crate::messages::{Decision, Train};
use crate::shared::Shared;

/// Progress events per run (plus the last step).
const PROGRESS_POINTS: u32 = 10;

/// A trainer actor (one per pool thread).
pub struct Trainer {
    shared: Shared,
    name: String,
}

impl Trainer {
    /// Trainer number `index` of the pool.
    pub fn new(shared: Shared, index: usize) -> Self {
        Self { shared, name: format!("trainer-{index}") }
    }
}

impl Actor for Trainer {
    type Context = SyncContext<Self>;
}

/// The training configuration a stage implies (constants documented in docs/campaigns.md).
pub fn train_config(stage: &lineage_events::payload::StageConfig, seed: u64) -> TrainConfig {
    TrainConfig {
        layers: stage.layers,
        steps: stage.steps,
        batch: stage.batch,
        learning_rate: stage.learning_rate,
        warmup_steps: (stage.steps / 10).max(1),
        weight_decay: 0.01,
        grad_norm_max: 1.0,
        seed,
        wall_s_max: stage.run_wall_s_max as f64,
        eval_batches: 4,
        curve_points: 20,
    }
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

impl Handler<Train> for Trainer {
    type Result = ();

    fn handle(&mut self, msg: Train, _: &mut Self::Context) {
        let shared = self.shared.clone();
        let stage = shared.stage(msg.stage).clone();
        let cause = Some(msg.cause);
        let started = TrainingStarted {
            run: msg.run.clone(),
            arch: msg.arch.clone(),
            trainer: self.name.as_str().into(),
            backend: lineage_arch::backend::name().into(),
            threads: lineage_arch::backend::threads(),
            host: crate::campaign::host(),
        };
        let start_key = format!("start/{}/{}", msg.run, msg.previous_starts);
        shared.record_blocking(vec![Decision::new(start_key, &self.name, started).caused_by(cause)]);

        let failed = |failure: TrainingFailure| TrainingFailed {
            run: msg.run.clone(),
            arch: msg.arch.clone(),
            failure,
            attempt: msg.previous_starts,
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let program = lang::parse(&msg.program).map_err(|_| "the program no longer parses".to_owned())?;
            let graph =
                lang::check(&program, Dims { d: stage.d_model, h: stage.heads }).graph.ok_or_else(|| {
                    format!("the program does not type-check at d = {}, h = {}", stage.d_model, stage.heads)
                })?;
            let task_list: Vec<Box<dyn Task>> = stage
                .tasks
                .iter()
                .map(|t| tasks::build(&t.name, &t.settings).map_err(|e| e.message))
                .collect::<Result<_, _>>()?;
            let mut config = train_config(&stage, msg.seed);
            if let Some(limit) = msg.slow_limit_ms {
                config.wall_s_max = config.wall_s_max.min(limit as f64 / 1000.0);
            }
            let every = (stage.steps / PROGRESS_POINTS).max(1);
            let last = stage.steps - 1;
            let report = train(&graph, &task_list, &config, &shared.device, |p| {
                if p.step % every == every - 1 || p.step == last {
                    let progress = TrainingProgress {
                        run: msg.run.clone(),
                        arch: msg.arch.clone(),
                        step: p.step,
                        loss: p.loss,
                        learning_rate: p.learning_rate,
                        tokens_seen: p.tokens_seen,
                        wall_ms: p.wall_ms,
                    };
                    let key = format!("progress/{}/{}/{}", msg.run, msg.previous_starts, p.step);
                    shared.record_blocking(vec![Decision::new(key, &self.name, progress).caused_by(cause)]);
                }
            });
            Ok::<_, String>((report, config.wall_s_max, lineage_events::Hash(lang::program_hash(&program).0)))
        }));
        let decision = match outcome {
            Err(_) => Err(failed(TrainingFailure::Error { message: "training panicked".into() })),
            Ok(Err(message)) => Err(failed(TrainingFailure::Error { message })),
            Ok(Ok((report, wall_s_max, program_hash))) => match report.stop {
                Some(Stop::Diverged { step }) => Err(failed(TrainingFailure::Diverged { step })),
                Some(Stop::TimedOut { .. }) => {
                    let slow = msg.slow_limit_ms.is_some_and(|l| (l as f64 / 1000.0) <= wall_s_max);
                    Err(failed(if slow {
                        TrainingFailure::TooSlow {
                            wall_ms: report.wall_ms,
                            peers_median_ms: (msg.slow_limit_ms.unwrap_or(0) as f64
                                / shared.config.sanity.slow_factor)
                                as u64,
                        }
                    } else {
                        TrainingFailure::TimedOut { wall_ms: report.wall_ms }
                    }))
                }
                None => {
                    let metrics = metrics(&report);
                    let leak = msg.stage == Stage::Exploration
                        && msg.leakage_reference.is_some_and(|r| {
                            metrics.loss_val_final < (1.0 - shared.config.sanity.leakage_loss_ratio) * r
                        });
                    if leak {
                        Err(failed(TrainingFailure::Leakage {
                            loss: metrics.loss_val_final,
                            reference_loss: msg.leakage_reference.unwrap_or_default(),
                        }))
                    } else {
                        Ok(TrainingFinished {
                            run: msg.run.clone(),
                            arch: msg.arch.clone(),
                            stage: msg.stage,
                            seed: msg.seed,
                            backend: lineage_arch::backend::name().into(),
                            threads: lineage_arch::backend::threads(),
                            program_hash,
                            metrics,
                        })
                    }
                }
            },
        };
        let decision = match decision {
            Ok(finished) => Decision::new(format!("finish/{}", msg.run), &self.name, finished),
            Err(failure) => Decision::new(format!("fail/{}", msg.run), &self.name, failure),
        };
        shared.record_blocking(vec![decision.caused_by(cause)]);
    }
}
