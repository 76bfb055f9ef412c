//! A Trainer: trains one scheduled run with burn, records its start, a sampled loss curve as
//! progress events, and the result — or the failure, including the training-sanity stops: a
//! loss implausibly far below the baselines' (information leakage) and a run much slower than
//! its peers. A pool of them runs on a `SyncArbiter`, one run per thread, each computing on a
//! rayon pool of its own ([`crate::training::pool`]): two trainers on two cores train on one
//! thread each instead of contending for both.

use actix::prelude::*;
use lineage_arch::train::Stop;
use lineage_events::payload::{
    CampaignConfig, SanityConfig, Stage, TrainingFailed, TrainingFailure, TrainingFinished, TrainingProgress,
    TrainingStarted,
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
    /// The compute threads it trains on.
    pool: rayon::ThreadPool,
}

impl Trainer {
    /// Trainer number `index` of the pool, training on `threads` compute threads of its own
    /// ([`crate::training::threads_per_trainer`]).
    pub fn new(shared: Shared, index: usize, threads: u32) -> Self {
        Self { shared, name: format!("trainer-{index}"), pool: crate::training::pool(threads) }
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
        backend: lineage_arch::backend::label().into(),
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
            backend: lineage_arch::backend::label().into(),
            threads: self.pool.current_num_threads() as u32,
            host: crate::host::host(),
            lease_ms: None,
        };
        // The same key a worker claims the run with: whoever appends it first trains.
        let start = Decision::new(start_key(&msg), &self.name, started).caused_by(cause);
        if !shared.record_new_blocking(vec![start]) {
            return;
        }
        let memory = shared.budget.memory_bytes;
        let name = &self.name;
        // On this trainer's threads: what it computes, and the thread count its result records.
        let result = self.pool.install(|| {
            train_run(&msg, &shared.config, memory, &shared.device, |progress| {
                let key = progress_key(&msg, progress.step);
                shared.record_blocking(vec![Decision::new(key, name, progress).caused_by(cause)]);
            })
        });
        shared.record_blocking(vec![result_decision(&msg, &self.name, result).caused_by(cause)]);
    }
}

/// The key of a run's start: its run and how many starts it had (a trainer here and a worker
/// starting the same run at the same point write the same event, so one of them does).
pub fn start_key(train: &Train) -> String {
    format!("start/{}/{}", train.run, train.previous_starts)
}

/// The key of a progress sample of a run's current start.
pub fn progress_key(train: &Train, step: u32) -> String {
    format!("progress/{}/{}/{step}", train.run, train.previous_starts)
}

/// The decision recording a run's result: keyed by the run alone, so a run has one result
/// whoever trained it.
pub fn result_decision(
    train: &Train,
    actor: &str,
    result: Result<TrainingFinished, TrainingFailure>,
) -> Decision {
    match result {
        Ok(finished) => Decision::new(format!("finish/{}", train.run), actor, finished),
        Err(failure) => {
            let failed = TrainingFailed {
                run: train.run.clone(),
                arch: train.arch.clone(),
                failure,
                attempt: train.previous_starts,
            };
            Decision::new(format!("fail/{}", train.run), actor, failed)
        }
    }
}

/// Trains a run as every trainer does (the campaign's own and workers'): the stage's size and
/// tasks from `config`, within `memory_bytes`, reporting sampled progress to `progress`, on
/// rayon's current pool (a trainer's own, [`crate::training::pool`]), whose size the result
/// records. A panic is a failed run, not a stopped campaign.
pub fn train_run(
    msg: &Train,
    config: &CampaignConfig,
    memory_bytes: u64,
    device: &burn::tensor::Device,
    mut progress: impl FnMut(TrainingProgress),
) -> Result<TrainingFinished, TrainingFailure> {
    let stage = match msg.stage {
        Stage::Exploration => &config.exploration,
        Stage::Verification => &config.verification,
    };
    let every = (stage.steps / PROGRESS_POINTS).max(1);
    let last = stage.steps - 1;
    let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let slow_limit_s = msg.slow_limit_ms.map(|l| l as f64 / 1000.0);
        train_program(&msg.program, stage, msg.seed, slow_limit_s, Some(memory_bytes), device, |p| {
            if p.step % every == every - 1 || p.step == last {
                progress(TrainingProgress {
                    run: msg.run.clone(),
                    arch: msg.arch.clone(),
                    step: p.step,
                    loss: p.loss,
                    learning_rate: p.learning_rate,
                    tokens_seen: p.tokens_seen,
                    wall_ms: p.wall_ms,
                });
            }
        })
    }));
    match trained {
        Err(panic) => Err(TrainingFailure::Error {
            message: format!("training panicked: {}", lineage_arch::backend::panic_message(panic.as_ref())),
        }),
        Ok(Err(error)) => Err(TrainingFailure::Error { message: error.to_string() }),
        Ok(Ok(trained)) => outcome(msg, trained, &config.sanity),
    }
}

#[cfg(test)]
mod tests;
