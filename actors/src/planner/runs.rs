//! Where runs train: the planner's rules for sending a run to a trainer of the campaign process
//! — only while one is free and no worker's lease holds the run — and the training command a
//! trainer here or a worker gets for it.

use lineage_arch::rng::Rng;
use lineage_events::payload::{CampaignConfig, Stage, TrainingScheduled};
use lineage_events::{ArchId, EventId, RunId};
use lineage_replay::CampaignState;

use super::{Command, InFlightKey, NAME, Planner};
use crate::messages::{Decision, Train};

impl Planner<'_> {
    /// Whether a trainer of this process is free.
    pub(super) fn trainer_free(&self) -> bool {
        let training = self.in_flight.0.iter().filter(|k| matches!(k, InFlightKey::Run(_))).count();
        training < self.config.trainers as usize
    }

    /// Sends an unfinished run to a trainer here, unless a worker's lease holds it or no
    /// trainer is free (it waits, counted elsewhere, for a worker or a trainer). It needs no
    /// capacity: it was counted when it was scheduled.
    pub(super) fn dispatch_run(&mut self, run: &RunId) {
        let state = self.state;
        let r = &state.runs[run];
        let here = self.in_flight.contains(&InFlightKey::Run(run.clone()));
        if here || r.leased().is_some() || !self.trainer_free() {
            return;
        }
        let train = training_command(state, self.config, run);
        self.elsewhere -= 1;
        self.push(Command::Train(train));
    }

    /// Schedules the exploration run of `arch` and, with a trainer free here, trains it once
    /// that is recorded (else it waits for a worker or a trainer).
    pub(super) fn schedule(&mut self, arch: &ArchId) {
        let run = RunId::new(format!("{arch}-x")).expect("valid run id");
        if self.in_flight.contains(&InFlightKey::Schedule(run.clone())) {
            return;
        }
        let seed = Rng::stream(self.seed, "exploration").next_u64();
        let scheduled = TrainingScheduled {
            run: run.clone(),
            arch: arch.clone(),
            stage: Stage::Exploration,
            seed,
            program_hash: self.state.archs[arch].program_hash(),
        };
        let train = self.trainer_free().then(|| {
            let cause = self.state.archs[arch].proposed_event;
            train_command_for(self.state, self.config, arch, &run, Stage::Exploration, seed, 0, cause)
        });
        if train.is_none() {
            self.elsewhere += 1;
        }
        let decision = Decision::new(format!("schedule/{run}"), NAME, scheduled);
        self.record(InFlightKey::Schedule(run), vec![decision], train);
    }

    /// Sends the verification runs not done yet to trainers here, in run-id order, while
    /// one is free (the rest wait for a worker or a trainer); whether all are done.
    pub(super) fn verification_runs(&mut self) -> bool {
        let state = self.state;
        let mut pending: Vec<&RunId> = state
            .runs
            .iter()
            .filter(|(_, r)| r.scheduled.stage == Stage::Verification && !r.is_done())
            .map(|(id, _)| id)
            .collect();
        pending.sort(); // runs are hashed: dispatch in id order, the same every time
        for run in &pending {
            self.dispatch_run(run);
        }
        pending.is_empty()
    }
}

/// The training command of a scheduled run, as the planner sends it to a trainer here and a
/// worker builds it when it claims the run: the program in force, the seed, the starts so far
/// and the sanity limits its peers give.
pub fn training_command(state: &CampaignState, config: &CampaignConfig, run: &RunId) -> Train {
    let r = &state.runs[run];
    let s = &r.scheduled;
    train_command_for(state, config, &s.arch, run, s.stage, s.seed, r.starts, r.scheduled_event)
}

/// [`training_command`] of a run that may not be scheduled yet (it is, in the same record
/// that sends it): `cause` is the event it answers.
#[allow(clippy::too_many_arguments)]
fn train_command_for(
    state: &CampaignState,
    config: &CampaignConfig,
    arch: &ArchId,
    run: &RunId,
    stage: Stage,
    seed: u64,
    previous_starts: u32,
    cause: EventId,
) -> Train {
    let mut peers: Vec<u64> = state
        .runs
        .values()
        .filter(|r| r.scheduled.stage == stage)
        .filter_map(|r| r.finished.as_ref().map(|(f, _)| f.metrics.wall_ms))
        .collect();
    peers.sort_unstable();
    let slow_limit_ms =
        (peers.len() >= 3).then(|| (peers[peers.len() / 2] as f64 * config.sanity.slow_factor) as u64);
    // A candidate's loss is held to every baseline's (all have ended before any experiment
    // starts); a baseline's to the reference's alone, which is trained first: which other
    // baselines have finished by the time one starts depends on timing when several train.
    let reference = config.fitness.reference_arch.as_str();
    let leakage_reference = state
        .order
        .iter()
        .filter(|a| state.archs[*a].is_baseline() && *a != arch)
        .filter(|a| !state.archs[arch].is_baseline() || a.as_str() == reference)
        .filter_map(|a| state.metrics(a).map(|m| m.loss_val_final))
        .reduce(f64::min);
    Train {
        run: run.clone(),
        arch: arch.clone(),
        program: state.archs[arch].program().to_owned(),
        stage,
        seed,
        previous_starts,
        slow_limit_ms,
        leakage_reference,
        cause,
    }
}
