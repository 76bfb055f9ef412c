//! A Trainer: trains one scheduled run with burn, records its start, a sampled loss curve as
//! progress events, and the result — or the failure, including the training-sanity stops: a
//! loss implausibly far below the baselines' (information leakage) and a run much slower than
//! its peers. A pool of them runs on a `SyncArbiter`, one run per thread.

use actix::prelude::*;
use lineage_arch::train::Stop;
use lineage_events::payload::{
    SanityConfig, Stage, TrainingFailed, TrainingFailure, TrainingFinished, TrainingProgress, TrainingStarted,
};

use crate::messages::{Decision, Train};
use crate::shared::Shared;
use crate::training::{Trained, train_program};
pub use crate::training::{metrics, train_config};

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

/// What a run that trained to its end or stopped early comes to: finished, or failed by a
/// stop (diverged; too slow against its peers when the peers' limit was the one in force, else
/// timed out) or by the leakage check (exploration only: a held-out loss below
/// `(1 − leakage_loss_ratio)` × the lowest baseline's).
pub fn outcome(
    train: &Train,
    trained: Trained,
    sanity: &SanityConfig,
) -> Result<TrainingFinished, TrainingFailure> {
    let Trained { report, wall_s_max, program_hash } = trained;
    match report.stop {
        Some(Stop::Diverged { step }) => return Err(TrainingFailure::Diverged { step }),
        Some(Stop::TimedOut { .. }) => {
            let slow = train.slow_limit_ms.is_some_and(|l| (l as f64 / 1000.0) <= wall_s_max);
            return Err(if slow {
                TrainingFailure::TooSlow {
                    wall_ms: report.wall_ms,
                    peers_median_ms: (train.slow_limit_ms.unwrap_or(0) as f64 / sanity.slow_factor) as u64,
                }
            } else {
                TrainingFailure::TimedOut { wall_ms: report.wall_ms }
            });
        }
        None => {}
    }
    let metrics = metrics(&report);
    let leak = train.stage == Stage::Exploration
        && train
            .leakage_reference
            .is_some_and(|r| metrics.loss_val_final < (1.0 - sanity.leakage_loss_ratio) * r);
    if leak {
        return Err(TrainingFailure::Leakage {
            loss: metrics.loss_val_final,
            reference_loss: train.leakage_reference.unwrap_or_default(),
        });
    }
    Ok(TrainingFinished {
        run: train.run.clone(),
        arch: train.arch.clone(),
        stage: train.stage,
        seed: train.seed,
        backend: lineage_arch::backend::name().into(),
        threads: lineage_arch::backend::threads(),
        program_hash,
        metrics,
    })
}

impl Handler<Train> for Trainer {
    type Result = ();

    fn handle(&mut self, msg: Train, _: &mut Self::Context) {
        let shared = self.shared.clone();
        let cause = Some(msg.cause);
        let started = TrainingStarted {
            run: msg.run.clone(),
            arch: msg.arch.clone(),
            trainer: self.name.as_str().into(),
            backend: lineage_arch::backend::name().into(),
            threads: lineage_arch::backend::threads(),
            host: crate::host::host(),
        };
        let start_key = format!("start/{}/{}", msg.run, msg.previous_starts);
        shared.record_blocking(vec![Decision::new(start_key, &self.name, started).caused_by(cause)]);

        let decision = match self.train(&msg) {
            Ok(finished) => Decision::new(format!("finish/{}", msg.run), &self.name, finished),
            Err(failure) => {
                let failed = TrainingFailed {
                    run: msg.run.clone(),
                    arch: msg.arch.clone(),
                    failure,
                    attempt: msg.previous_starts,
                };
                Decision::new(format!("fail/{}", msg.run), &self.name, failed)
            }
        };
        shared.record_blocking(vec![decision.caused_by(cause)]);
    }
}

impl Trainer {
    /// Trains the run, recording its progress; a panic is a failed run, not a stopped campaign.
    fn train(&self, msg: &Train) -> Result<TrainingFinished, TrainingFailure> {
        let shared = &self.shared;
        let stage = shared.stage(msg.stage);
        let every = (stage.steps / PROGRESS_POINTS).max(1);
        let last = stage.steps - 1;
        let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let slow_limit_s = msg.slow_limit_ms.map(|l| l as f64 / 1000.0);
            let memory = Some(shared.budget.memory_bytes);
            train_program(&msg.program, stage, msg.seed, slow_limit_s, memory, &shared.device, |p| {
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
                    let decision = Decision::new(key, &self.name, progress).caused_by(Some(msg.cause));
                    shared.record_blocking(vec![decision]);
                }
            })
        }));
        match trained {
            Err(_) => Err(TrainingFailure::Error { message: "training panicked".into() }),
            Ok(Err(error)) => Err(TrainingFailure::Error { message: error.to_string() }),
            Ok(Ok(trained)) => outcome(msg, trained, &shared.config.sanity),
        }
    }
}

#[cfg(test)]
mod tests;
