//! The campaign's decisions as a pure function: from the state (the fold of the log), the
//! commands in flight and the config, what happens next — seed the baselines, check, repair,
//! schedule and train, analyse, account for an experiment, start the next one, promote to
//! verification, run it, conclude, finish. No IO, no clock, no actors: the orchestrator actor
//! applies committed events, calls [`plan`], sends what it returns and tracks what is in
//! flight ([`InFlight`]).
//!
//! At most `parallel` commands and runs are in flight. Whatever finishes first, each decision
//! reads the same results ([`crate::horizon`]): experiment `n` is proposed only once experiments
//! `1..=n − parallel` are done and accounted for, and from their results only; experiments are
//! accounted for in number order, each once it is done; an architecture is analysed only once
//! every architecture proposed before it has reached its end. So a campaign is deterministic
//! for any `parallel`, whoever trains, and `parallel = 1` is one sequence. After a restart
//! nothing is in flight, so everything unfinished in the log is planned again: that is resume.
//!
//! Runs are trained by the campaign process's own `trainers` or by workers (`lineage worker`)
//! that claim scheduled runs from the log with a lease. The planner dispatches a run to a
//! trainer of its own only while one is free and no worker's lease holds the run; a run
//! waiting for either still counts against `parallel`.

use lineage_arch::baselines;
use lineage_arch::rng::Rng;
use lineage_events::payload::*;
use lineage_events::{ArchId, RunId};
use lineage_replay::{CampaignState, Phase};

use crate::messages::{Analyse, Check, Decision, Propose, Repair, Train};

/// The actor the planner's own decisions are recorded as.
pub const NAME: &str = "orchestrator";

/// What a command in flight waits for. A command is in flight from when it is sent until the
/// log answers it ([`InFlight::settle`]) or, for the planner's own records, until the record
/// is committed ([`InFlight::recorded`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InFlightKey {
    /// The seed baselines' proposals to be recorded.
    Seed,
    /// The architecture to leave `phase` or record another check (a repair attempt keeps it
    /// awaiting repair, one check further): a check, repair or analysis.
    Arch {
        /// The architecture.
        arch: ArchId,
        /// The phase it was in when the command was sent.
        phase: Phase,
        /// The checks it had then.
        checks: usize,
    },
    /// The exploration run's scheduling to be recorded (its training is sent after).
    Schedule(RunId),
    /// The run to finish or fail.
    Run(RunId),
    /// The experiment's selection and proposals to be recorded.
    Propose(u32),
    /// The budget spent by this experiment to be recorded.
    Budget(u32),
    /// The promotions to verification (and their runs' scheduling) to be recorded.
    Promote,
    /// Verification to be concluded.
    Conclude,
    /// The end of the campaign to be recorded.
    Finish,
}

impl InFlightKey {
    /// Whether the log already holds the answer. The planner's own records are answered when
    /// their append completes, which the log alone does not say.
    fn answered(&self, state: &CampaignState) -> bool {
        match self {
            InFlightKey::Arch { arch, phase, checks } => {
                state.phase(arch) != *phase || state.archs[arch].checks.len() != *checks
            }
            // Not in the log yet when its scheduling is still being recorded. A worker that
            // claimed the run first holds it: the trainer sent here found its start taken.
            InFlightKey::Run(run) => state.runs.get(run).is_some_and(|r| r.is_done() || r.leased().is_some()),
            // A model's proposal records its selection first, and its proposal later.
            InFlightKey::Propose(n) => !state.experiment_archs(*n).is_empty(),
            InFlightKey::Conclude => state.concluded_this_round(),
            InFlightKey::Seed
            | InFlightKey::Schedule(_)
            | InFlightKey::Budget(_)
            | InFlightKey::Promote
            | InFlightKey::Finish => false,
        }
    }
}

/// The commands in flight. Never more than a handful (at most `parallel` and a record or
/// two), so a list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InFlight(Vec<InFlightKey>);

impl InFlight {
    /// Nothing in flight (a fresh process: everything unfinished is planned again).
    pub fn new() -> Self {
        Self::default()
    }

    /// Commands in flight.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nothing in flight.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `key` is in flight.
    pub fn contains(&self, key: &InFlightKey) -> bool {
        self.0.contains(key)
    }

    fn insert(&mut self, key: InFlightKey) {
        if !self.contains(&key) {
            self.0.push(key);
        }
    }

    /// Marks `command` as sent: its key is in flight, and so is the run a record starts after
    /// it is committed.
    pub fn start(&mut self, command: &Command) {
        self.insert(command.key());
        if let Command::Record { then: Some(train), .. } = command {
            self.insert(InFlightKey::Run(train.run.clone()));
        }
    }

    /// Forgets the commands whose answer is in the log.
    pub fn settle(&mut self, state: &CampaignState) {
        self.0.retain(|key| !key.answered(state));
    }

    /// Forgets the record `key`: it was committed (or failed, which stops the campaign).
    pub fn recorded(&mut self, key: &InFlightKey) {
        self.0.retain(|k| k != key);
    }
}

/// What the orchestrator does next.
#[derive(Debug)]
pub enum Command {
    /// Record the planner's own decisions, atomically; once they are committed, send `then`
    /// (the training of a run just scheduled) to a trainer.
    Record {
        /// What the record waits for (forget it with [`InFlight::recorded`] when committed).
        key: InFlightKey,
        /// The decisions.
        decisions: Vec<Decision>,
        /// The training to start once they are committed.
        then: Option<Train>,
    },
    /// Engineer: check an architecture's current program.
    Check {
        /// The phase and checks it waits to change.
        key: InFlightKey,
        /// The message.
        check: Check,
    },
    /// Debugger: repair an architecture whose last check failed.
    Repair {
        /// The phase and checks it waits to change.
        key: InFlightKey,
        /// The message.
        repair: Repair,
    },
    /// A trainer: train a run that is scheduled (again, after a restart, if it had started).
    Train(Train),
    /// Analyst: analyse and score a trained architecture.
    Analyse {
        /// The phase it waits to change.
        key: InFlightKey,
        /// The message.
        analyse: Analyse,
    },
    /// Researcher: select a parent and propose the experiment.
    Propose(Propose),
    /// Analyst: conclude the verification stage.
    Conclude,
}

impl Command {
    /// What it waits for while in flight.
    pub fn key(&self) -> InFlightKey {
        match self {
            Command::Record { key, .. }
            | Command::Check { key, .. }
            | Command::Repair { key, .. }
            | Command::Analyse { key, .. } => key.clone(),
            Command::Train(train) => InFlightKey::Run(train.run.clone()),
            Command::Propose(p) => InFlightKey::Propose(p.experiment),
            Command::Conclude => InFlightKey::Conclude,
        }
    }
}

impl std::fmt::Display for Command {
    /// One line: what is sent to whom (for logs and tests).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Record { decisions, then, .. } => {
                let keys: Vec<&str> = decisions.iter().map(|d| d.key.as_str()).collect();
                write!(f, "record {}", keys.join(" "))?;
                if let Some(train) = then {
                    write!(f, ", then train {}", train.run)?;
                }
                Ok(())
            }
            Command::Check { check, .. } => write!(f, "check {}", check.arch),
            Command::Repair { repair, .. } => {
                write!(f, "repair {} (attempt {})", repair.arch, repair.attempt)
            }
            Command::Train(train) => write!(f, "train {} (started {}×)", train.run, train.previous_starts),
            Command::Analyse { analyse, .. } => write!(f, "analyse {}", analyse.arch),
            Command::Propose(p) => write!(f, "propose experiment {}", p.experiment),
            Command::Conclude => f.write_str("conclude"),
        }
    }
}

/// The next commands, given the state after the last committed batch, the commands in flight
/// (answered ones may still be listed: they are settled first), the config, the campaign seed
/// and the wall time since this process last accounted for an experiment (or started):
/// `since_budget_ms` counts towards the wall-clock budget and is what the next `BudgetSpent`
/// records. Commands are in the order they are to be sent; never more than `parallel` in
/// flight after them.
pub fn plan(
    state: &CampaignState,
    in_flight: &InFlight,
    config: &CampaignConfig,
    seed: u64,
    since_budget_ms: u64,
) -> Vec<Command> {
    let mut in_flight = in_flight.clone();
    in_flight.settle(state);
    let elsewhere = state
        .runs
        .iter()
        .filter(|(id, r)| !r.is_done() && !in_flight.contains(&InFlightKey::Run((*id).clone())))
        .count();
    let mut planner =
        Planner { state, config, seed, since_budget_ms, in_flight, elsewhere, commands: Vec::new() };
    planner.run();
    planner.commands
}

/// The decision that records a pause (Ctrl-C) of the campaign in `state`.
pub fn pause(state: &CampaignState, reason: String) -> Decision {
    Decision::new(format!("pause/{}", state.pauses), NAME, CampaignPaused { reason })
}

/// What a resume re-dispatches: every architecture not in a terminal phase, with its phase,
/// then every verification run scheduled and not done (started before the stop or not yet), in
/// the run-id order [`plan`] dispatches them in.
pub fn unfinished(state: &CampaignState) -> Vec<String> {
    let archs = state
        .order
        .iter()
        .filter(|a| !state.phase(a).is_terminal())
        .map(|a| format!("{a}: {:?}", state.phase(a)));
    let mut runs: Vec<(&RunId, &ArchId)> = state
        .runs
        .iter()
        .filter(|(_, r)| r.scheduled.stage == Stage::Verification && !r.is_done())
        .map(|(id, r)| (id, &r.scheduled.arch))
        .collect();
    runs.sort();
    let unproposed = state
        .selections
        .keys()
        .filter(|n| state.experiment_archs(**n).is_empty())
        .map(|n| format!("experiment {n}: selected, not proposed"));
    unproposed
        .chain(archs)
        .chain(runs.into_iter().map(|(run, arch)| format!("{run}: verification run of {arch}")))
        .collect()
}

/// Why exploration stops starting experiments, if it does.
pub fn budget_exhausted(state: &CampaignState, config: &CampaignConfig, wall_ms: u64) -> Option<String> {
    let b = &config.budget;
    let experiments_max = state.experiments_max_extended.unwrap_or(b.experiments_max);
    if state.experiments_started() >= experiments_max {
        return Some(format!("experiment budget reached ({experiments_max})"));
    }
    if b.wall_s_max.is_some_and(|s| wall_ms >= s * 1000) {
        return Some(format!("wall-clock budget reached ({} s)", b.wall_s_max.unwrap_or(0)));
    }
    if b.compute_s_max.is_some_and(|s| state.compute_ms >= s * 1000) {
        return Some(format!("compute budget reached ({} s)", b.compute_s_max.unwrap_or(0)));
    }
    config.llm.as_ref().and_then(|llm| crate::llm::exchange::budget_reason(llm, &state.llm.total()))
}

/// The reference baseline: every fitness is relative to it, so it trains and is scored first.
struct Reference {
    arch: ArchId,
    /// Trained and scored, or past hope of it.
    done: bool,
    scored: bool,
}

/// One planning pass: its inputs, the in-flight set as its commands extend it, the commands.
struct Planner<'a> {
    state: &'a CampaignState,
    config: &'a CampaignConfig,
    seed: u64,
    since_budget_ms: u64,
    in_flight: InFlight,
    /// Runs not done and not in flight here: held by a worker, or waiting for a trainer.
    elsewhere: usize,
    commands: Vec<Command>,
}

impl Planner<'_> {
    /// Room for more work: `parallel` less the commands in flight and the runs elsewhere.
    fn capacity(&self) -> usize {
        (self.config.parallel() as usize).saturating_sub(self.in_flight.len() + self.elsewhere)
    }

    fn push(&mut self, command: Command) {
        self.in_flight.start(&command);
        self.commands.push(command);
    }

    fn record(&mut self, key: InFlightKey, decisions: Vec<Decision>, then: Option<Train>) {
        self.push(Command::Record { key, decisions, then });
    }

    fn run(&mut self) {
        let state = self.state;
        if state.finished.is_some() {
            return;
        }
        if state.order.is_empty() {
            if !self.in_flight.contains(&InFlightKey::Seed) {
                let decisions = self.seed_decisions();
                self.record(InFlightKey::Seed, decisions, None);
            }
            return;
        }
        let arch = ArchId::new(self.config.fitness.reference_arch.clone()).expect("baseline names are ids");
        let scored = state.archs.get(&arch).is_some_and(|a| a.fitness.is_some());
        let done = state.archs.contains_key(&arch) && state.phase(&arch).is_terminal();
        let reference = Reference { arch, done, scored };
        if reference.done && !reference.scored {
            let why = format!(
                "the reference baseline {} could not be trained, so nothing can be scored",
                reference.arch
            );
            self.finish(why);
            return;
        }
        if !self.architectures(&reference) {
            return;
        }
        self.experiments();
    }

    /// Moves every architecture on, in proposal order, while there is capacity (a scheduled
    /// run needs none to be dispatched); `false` when it ran out. An architecture is analysed
    /// only once every one proposed before it has reached its end: analyses, fitness and edit
    /// statistics then follow proposal order whichever run finished first, and each reads the
    /// same results ([`crate::horizon`]).
    fn architectures(&mut self, reference: &Reference) -> bool {
        let state = self.state;
        let mut ran_out = false;
        let mut earlier_ended = true;
        for arch in &state.order {
            let record = &state.archs[arch];
            let phase = state.phase_of(record);
            let all_before_ended = earlier_ended;
            earlier_ended &= phase.is_terminal();
            if phase == Phase::Training {
                let run = record.exploration_run.clone().expect("scheduled");
                self.dispatch_run(&run);
                continue;
            }
            let key = InFlightKey::Arch { arch: arch.clone(), phase, checks: record.checks.len() };
            let actionable = match phase {
                Phase::AwaitingCheck | Phase::AwaitingRepair => true,
                // The reference trains and is scored first: every fitness is relative to it.
                Phase::AwaitingTraining => arch == &reference.arch || reference.done,
                Phase::AwaitingAnalysis => all_before_ended && (arch == &reference.arch || reference.scored),
                _ => false,
            };
            if !actionable || self.in_flight.contains(&key) {
                continue;
            }
            if self.capacity() == 0 {
                ran_out = true;
                continue;
            }
            match phase {
                Phase::AwaitingCheck => {
                    let check = Check {
                        arch: arch.clone(),
                        program: record.program().to_owned(),
                        cause: record.proposed_event,
                    };
                    self.push(Command::Check { key, check });
                }
                Phase::AwaitingRepair => {
                    let repair = self.repair(arch);
                    self.push(Command::Repair { key, repair });
                }
                Phase::AwaitingTraining => self.schedule(arch),
                Phase::AwaitingAnalysis => {
                    self.push(Command::Analyse { key, analyse: Analyse { arch: arch.clone() } });
                }
                _ => {}
            }
        }
        !ran_out
    }

    fn repair(&self, arch: &ArchId) -> Repair {
        let record = &self.state.archs[arch];
        let last = record.checks.last().expect("a failed check");
        let tried = std::iter::once(record.proposal.program_hash.to_hex())
            .chain(record.repairs.iter().map(|(r, _)| r.program_hash.to_hex()))
            .collect();
        Repair {
            arch: arch.clone(),
            program: record.program().to_owned(),
            failures: record.last_failures.clone(),
            attempt: record.repairs.len() as u32 + 1,
            tried,
            cause: last.2,
        }
    }

    fn seed_decisions(&self) -> Vec<Decision> {
        let config = self.config;
        let mut names = crate::config::seed_baselines(config);
        // The reference first: everything is scored against it.
        names.sort_by_key(|n| *n != config.fitness.reference_arch);
        let mut decisions = Vec::new();
        for name in names {
            let baseline = baselines::get(name).expect("validated");
            let program = baseline.program();
            let arch = ArchId::new(name).expect("baseline names are ids");
            let proposed = ArchitectureProposed {
                arch: arch.clone(),
                experiment: 0,
                parent: None,
                references: Vec::new(),
                motivation: format!("Seed baseline {name}: {}", baseline.summary),
                program: lineage_arch::lang::print(&program),
                program_hash: lineage_events::Hash(lineage_arch::lang::program_hash(&program).0),
                proposer: Proposer::Baseline { name: name.into() },
                edits: Vec::new(),
                evidence: Vec::new(),
                draw: None,
                cognition: Vec::new(),
            };
            let judged = NoveltyJudged {
                arch: arch.clone(),
                verdict: NoveltyVerdict::Novel,
                nearest: None,
                structural_distance: None,
                behavioural_distance: None,
            };
            decisions.push(Decision::new(format!("propose/{arch}"), NAME, proposed));
            decisions.push(Decision::new(format!("novelty/{arch}"), NAME, judged));
        }
        decisions
    }

    /// Once the baselines are done: account for the experiments in number order, each once it
    /// is done; start experiment `n` while the budget lasts once experiments `1..=n − parallel`
    /// are accounted for (it is proposed from their results: [`crate::horizon`]); and when the
    /// budget is spent and every experiment is accounted for, go to verification.
    fn experiments(&mut self) {
        let state = self.state;
        let config = self.config;
        let seeding_done = state
            .order
            .iter()
            .filter(|a| state.archs[*a].is_baseline())
            .all(|a| state.phase(a).is_terminal());
        if !seeding_done {
            return;
        }
        let started = state.experiments_started();
        let spent = state.experiments_spent;
        // The next experiment in number order is accounted for once it is done (a later one
        // that finished first waits for it): the accounts, and what each proposal may read,
        // follow the experiments' numbers, not the order they finished in.
        if spent < started && state.experiment_done(spent + 1) && self.capacity() > 0 {
            self.budget(spent + 1);
        }
        // An experiment whose selection was recorded but not its proposal (a model was asked
        // when the campaign stopped): propose it again, which reads the recorded replies.
        let unproposed = (spent + 1..=started)
            .find(|n| state.selections.contains_key(n) && state.experiment_archs(*n).is_empty());
        if let Some(n) = unproposed {
            if self.capacity() > 0 && !self.in_flight.contains(&InFlightKey::Propose(n)) {
                self.push(Command::Propose(Propose { experiment: n }));
            }
            return;
        }
        let pool_empty = state.pool(config.selection.pool_capacity).is_empty();
        let exhausted = budget_exhausted(state, config, state.wall_ms + self.since_budget_ms);
        if exhausted.is_none() && !pool_empty {
            let next = started + 1;
            // Its results are in: at most `parallel` experiments are unaccounted for.
            let ready = crate::horizon::horizon(next, config.parallel()) <= spent;
            if ready && self.capacity() > 0 && !self.in_flight.contains(&InFlightKey::Propose(next)) {
                self.push(Command::Propose(Propose { experiment: next }));
            }
            return;
        }
        // Every experiment started is accounted for (its account recorded, not only sent).
        if spent < started {
            return;
        }
        let reason = if pool_empty {
            "no baseline could be trained".to_owned()
        } else {
            exhausted.unwrap_or_default()
        };
        self.verification(reason);
    }

    /// Records what experiment `n` spent: one experiment, its training time, and the wall
    /// time since the last account.
    fn budget(&mut self, n: u32) {
        let key = InFlightKey::Budget(n);
        if self.in_flight.contains(&key) {
            return;
        }
        let state = self.state;
        let compute_ms =
            state.experiment_archs(n).iter().filter_map(|a| state.metrics(a)).map(|m| m.wall_ms).sum();
        let llm = state.llm.unaccounted();
        let spent = BudgetSpent { experiments: 1, compute_ms, wall_ms: self.since_budget_ms, llm };
        self.record(key, vec![Decision::new(format!("budget/{n}"), NAME, spent)], None);
    }

    /// Promotion, the verification runs, the conclusion, then the end — once per round: a
    /// budget extension (`CampaignExtended`) opens the next.
    fn verification(&mut self, reason: String) {
        let state = self.state;
        if !state.promoted_this_round() {
            if self.capacity() > 0 {
                self.promote(reason);
            }
            return;
        }
        if !self.verification_runs() || !self.in_flight.is_empty() {
            return;
        }
        if !state.concluded_this_round() {
            self.push(Command::Conclude);
            return;
        }
        self.finish(reason);
    }

    /// Promotes the best `promote_top` candidates and the best baseline that is not the
    /// quadratic reference, each to be trained with the same verification seeds; finishes
    /// with `reason` when there is no candidate or no such baseline. A later round (after an
    /// extension) promotes the best candidates not promoted before, and the baseline only if it
    /// was not: its runs are the comparison of every round.
    fn promote(&mut self, reason: String) {
        let state = self.state;
        let ranked = state.ranked();
        let candidates: Vec<(ArchId, u32, f64)> = ranked
            .iter()
            .enumerate()
            .filter(|(_, (a, _))| !state.archs[*a].is_baseline() && state.archs[*a].promoted.is_none())
            .take(self.config.promote_top as usize)
            .map(|(i, (a, f))| ((*a).clone(), i as u32 + 1, *f))
            .collect();
        let best_baseline = ranked
            .iter()
            .enumerate()
            .find(|(_, (a, _))| state.archs[*a].is_baseline() && !state.archs[*a].quadratic_allowed());
        let Some((rank, (baseline, fitness))) = best_baseline.filter(|_| !candidates.is_empty()) else {
            self.finish(reason);
            return;
        };
        if self.in_flight.contains(&InFlightKey::Promote) {
            return;
        }
        let mut rng = Rng::stream(self.seed, "verification-seeds");
        let seeds: Vec<u64> = (0..self.config.verification.seeds).map(|_| rng.next_u64()).collect();
        let mut decisions = Vec::new();
        let baseline = ((*baseline).clone(), rank as u32 + 1, *fitness);
        let baseline = state.archs[&baseline.0].promoted.is_none().then_some(baseline);
        for (arch, rank, fitness) in candidates.into_iter().chain(baseline) {
            let program_hash = state.archs[&arch].program_hash();
            let promoted = PromotedToVerification { arch: arch.clone(), rank, fitness, seeds: seeds.clone() };
            decisions.push(Decision::new(format!("promote/{arch}"), NAME, promoted));
            for (i, seed) in seeds.iter().enumerate() {
                let run = RunId::new(format!("{arch}-v{i}")).expect("valid run id");
                let scheduled = TrainingScheduled {
                    run: run.clone(),
                    arch: arch.clone(),
                    stage: Stage::Verification,
                    seed: *seed,
                    program_hash,
                };
                decisions.push(Decision::new(format!("schedule/{run}"), NAME, scheduled));
            }
        }
        self.record(InFlightKey::Promote, decisions, None);
    }

    fn finish(&mut self, reason: String) {
        if self.in_flight.contains(&InFlightKey::Finish) {
            return;
        }
        let state = self.state;
        let finished = CampaignFinished {
            reason,
            experiments: state.experiments_started(),
            state_hash: state.state_hash(),
            state_events: Some(state.events),
        };
        // Each round ends once (a decision's id is derived from its key).
        let key = match state.round {
            0 => "finish".to_owned(),
            round => format!("finish/round-{round}"),
        };
        self.record(InFlightKey::Finish, vec![Decision::new(key, NAME, finished)], None);
    }
}

mod runs;

pub use runs::training_command;

#[cfg(test)]
mod tests;
