//! The Orchestrator: reads the campaign's state (its own projection of the log) after every
//! committed batch and decides what happens next — which architecture goes to the engineer,
//! the debugger, a trainer or the analyst, when the next experiment starts, when the budget is
//! spent, which candidates are promoted to verification, when the campaign ends. It keeps at
//! most `trainers` commands in flight, so with one trainer the whole campaign is one
//! deterministic sequence. After a restart its in-flight set is empty, so everything unfinished
//! in the log is dispatched again: that is resume.

use std::collections::BTreeMap;
use std::time::Instant;

use actix::prelude::*;
use lineage_arch::baselines;
use lineage_arch::rng::Rng;
use lineage_events::payload::*;
use lineage_events::{ArchId, RunId};
use lineage_replay::{CampaignState, Phase};

use crate::analyst::Analyst;
use crate::debugger::Debugger;
use crate::engineer::Engineer;
use crate::messages::*;
use crate::researcher::Researcher;
use crate::shared::Shared;
use crate::trainer::Trainer;

const NAME: &str = "orchestrator";

/// The addresses of the other actors.
pub struct Team {
    /// Proposes.
    pub researcher: Addr<Researcher>,
    /// Checks.
    pub engineer: Addr<Engineer>,
    /// Repairs.
    pub debugger: Addr<Debugger>,
    /// Trains (a pool).
    pub trainers: Addr<Trainer>,
    /// Analyses and scores.
    pub analyst: Addr<Analyst>,
}

/// What an in-flight command waits for.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    /// The architecture to leave this phase or record another check (a repair attempt keeps
    /// it awaiting repair, one check further).
    Arch(ArchId, Phase, usize),
    /// The run to finish or fail.
    Run(RunId),
    /// The experiment's selection and proposals to be recorded.
    Experiment(u32),
    /// Verification to be concluded.
    Conclusion,
    /// One of the orchestrator's own records to complete.
    Own,
}

/// Start dispatching (sent once the existing log has been replayed into every actor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kick;

#[derive(Message)]
#[rtype(result = "()")]
struct Done(String);

/// The orchestrator actor.
pub struct Orchestrator {
    shared: Shared,
    team: Team,
    state: CampaignState,
    in_flight: BTreeMap<String, Pending>,
    live: bool,
    stopping: bool,
    last_budget: Instant,
}

impl Orchestrator {
    /// An orchestrator for one campaign.
    pub fn new(shared: Shared, team: Team) -> Self {
        Self {
            shared,
            team,
            state: CampaignState::default(),
            in_flight: BTreeMap::new(),
            live: false,
            stopping: false,
            last_budget: Instant::now(),
        }
    }
}

impl Actor for Orchestrator {
    type Context = Context<Self>;
}

impl Handler<Committed> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Committed(event, batch_end): Committed, ctx: &mut Self::Context) {
        self.state.apply(&event);
        // A pause stops the system itself once its event is recorded; stopping here on any
        // event committed meanwhile (a worker's, still in the recorder's queue) would end the
        // process before the pause is written.
        if self.state.finished.is_some() {
            System::current().stop();
            return;
        }
        if batch_end && self.live {
            self.dispatch(ctx);
        }
    }
}

impl Handler<Kick> for Orchestrator {
    type Result = ();

    fn handle(&mut self, _: Kick, ctx: &mut Self::Context) {
        self.live = true;
        self.dispatch(ctx);
    }
}

impl Handler<Done> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Done(key): Done, ctx: &mut Self::Context) {
        self.in_flight.remove(&key);
        self.dispatch(ctx);
    }
}

impl Handler<Pause> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Pause(reason): Pause, ctx: &mut Self::Context) {
        self.stopping = true;
        let decision = Decision::new(format!("pause/{}", self.state.pauses), NAME, CampaignPaused { reason });
        let recorder = self.shared.recorder.clone();
        ctx.spawn(
            async move {
                let recorded = recorder.send(Record(vec![decision])).await.map_err(|e| e.to_string());
                if let Err(e) = recorded.and_then(|r| r) {
                    tracing::warn!("the pause could not be recorded: {e}");
                }
                System::current().stop();
            }
            .into_actor(self),
        );
    }
}

/// Why exploration stops starting experiments, if it does.
fn budget_exhausted(state: &CampaignState, config: &CampaignConfig, wall_ms: u64) -> Option<String> {
    let b = &config.budget;
    if state.experiments_started() >= b.experiments_max {
        return Some(format!("experiment budget reached ({})", b.experiments_max));
    }
    if b.wall_s_max.is_some_and(|s| wall_ms >= s * 1000) {
        return Some(format!("wall-clock budget reached ({} s)", b.wall_s_max.unwrap_or(0)));
    }
    if b.compute_s_max.is_some_and(|s| state.compute_ms >= s * 1000) {
        return Some(format!("compute budget reached ({} s)", b.compute_s_max.unwrap_or(0)));
    }
    None
}

fn terminal(phase: Phase) -> bool {
    matches!(phase, Phase::Scored | Phase::Failed | Phase::Abandoned | Phase::Rejected)
}

impl Orchestrator {
    fn capacity(&self) -> usize {
        (self.shared.config.trainers as usize).saturating_sub(self.in_flight.len())
    }

    /// Wall time the campaign has used: recorded in `BudgetSpent`, plus this process's time
    /// since its last one.
    fn wall_ms(&self) -> u64 {
        self.state.wall_ms + self.last_budget.elapsed().as_millis() as u64
    }

    /// Records `decisions`, then runs `then` (when they are committed).
    fn record(
        &mut self,
        ctx: &mut Context<Self>,
        key: String,
        decisions: Vec<Decision>,
        then: Option<Train>,
    ) {
        self.in_flight.insert(key.clone(), Pending::Own);
        let recorder = self.shared.recorder.clone();
        let trainers = self.team.trainers.clone();
        let shared = self.shared.clone();
        let me = ctx.address();
        ctx.spawn(
            async move {
                match recorder.send(Record(decisions)).await {
                    Ok(Ok(())) => {
                        if let Some(train) = then {
                            trainers.do_send(train);
                        }
                        me.do_send(Done(key));
                    }
                    Ok(Err(error)) => shared.fail(error),
                    Err(error) => shared.fail(error.to_string()),
                }
            }
            .into_actor(self),
        );
    }

    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        let state = &self.state;
        // Forget commands whose answer is in the log.
        self.in_flight.retain(|_, pending| match pending {
            Pending::Arch(arch, phase, checks) => {
                state.phase(arch) == *phase && state.archs[arch].checks.len() == *checks
            }
            Pending::Run(run) => !state.runs[run].is_done(),
            Pending::Experiment(n) => !state.selections.contains_key(n),
            Pending::Conclusion => !state.archs.values().any(|a| a.verification.is_some()),
            Pending::Own => true,
        });
        if self.stopping || state.finished.is_some() {
            return;
        }
        if state.order.is_empty() {
            if !self.in_flight.contains_key("seed") {
                let decisions = self.seed_decisions();
                self.record(ctx, "seed".into(), decisions, None);
            }
            return;
        }
        let config = self.shared.config.clone();
        let reference = ArchId::new(config.fitness.reference_arch.clone()).expect("baseline names are ids");
        let reference_scored = state.archs.get(&reference).is_some_and(|a| a.fitness.is_some());
        let reference_done = state.archs.get(&reference).is_some_and(|_| terminal(state.phase(&reference)));
        if reference_done && !reference_scored {
            let why =
                format!("the reference baseline {reference} could not be trained, so nothing can be scored");
            self.finish(ctx, why);
            return;
        }
        let order = state.order.clone();
        for arch in &order {
            if self.capacity() == 0 {
                return;
            }
            let phase = self.state.phase(arch);
            let checks = self.state.archs[arch].checks.len();
            let key = format!("{arch}/{phase:?}/{checks}");
            if self.in_flight.contains_key(&key) {
                continue;
            }
            let record = &self.state.archs[arch];
            match phase {
                Phase::AwaitingCheck => {
                    let check = Check {
                        arch: arch.clone(),
                        program: record.program().to_owned(),
                        cause: record.proposed_event,
                    };
                    self.team.engineer.do_send(check);
                }
                Phase::AwaitingRepair => {
                    let last = record.checks.last().expect("a failed check");
                    let cause = last.2;
                    let failures = self.failures_of(arch);
                    let tried = std::iter::once(record.proposal.program_hash.to_hex())
                        .chain(record.repairs.iter().map(|(r, _)| r.program_hash.to_hex()))
                        .collect();
                    let attempt = record.repairs.len() as u32 + 1;
                    let repair = Repair {
                        arch: arch.clone(),
                        program: record.program().to_owned(),
                        failures,
                        attempt,
                        tried,
                        cause,
                    };
                    self.team.debugger.do_send(repair);
                }
                Phase::AwaitingTraining => {
                    // The reference trains first: every fitness is relative to it.
                    if arch != &reference && !reference_done {
                        continue;
                    }
                    let run = RunId::new(format!("{arch}-x")).expect("valid run id");
                    let seed = Rng::stream(self.shared.seed, "exploration").next_u64();
                    let scheduled = TrainingScheduled {
                        run: run.clone(),
                        arch: arch.clone(),
                        stage: Stage::Exploration,
                        seed,
                        program_hash: record.program_hash(),
                    };
                    let train = self.train_command(arch, &run, Stage::Exploration, seed, 0);
                    let decision = Decision::new(format!("schedule/{run}"), NAME, scheduled);
                    self.record(ctx, key.clone(), vec![decision], Some(train));
                    self.in_flight.insert(format!("run/{run}"), Pending::Run(run));
                    continue;
                }
                Phase::Training => {
                    let run = record.exploration_run.clone().expect("scheduled");
                    if self.in_flight.contains_key(&format!("run/{run}")) {
                        continue;
                    }
                    let r = &self.state.runs[&run];
                    let train =
                        self.train_command(arch, &run, Stage::Exploration, r.scheduled.seed, r.starts);
                    self.team.trainers.do_send(train);
                    self.in_flight.insert(format!("run/{run}"), Pending::Run(run));
                    continue;
                }
                Phase::AwaitingAnalysis => {
                    if arch != &reference && !reference_scored {
                        continue;
                    }
                    self.team.analyst.do_send(Analyse { arch: arch.clone() });
                }
                _ => continue,
            }
            self.in_flight.insert(key, Pending::Arch(arch.clone(), phase, checks));
        }
        if self.capacity() == 0 {
            return;
        }
        self.dispatch_experiments(ctx);
    }

    fn failures_of(&self, arch: &ArchId) -> Vec<CheckOutcome> {
        self.state.archs[arch].last_failures.clone()
    }

    fn train_command(
        &self,
        arch: &ArchId,
        run: &RunId,
        stage: Stage,
        seed: u64,
        previous_starts: u32,
    ) -> Train {
        let state = &self.state;
        let mut peers: Vec<u64> = state
            .runs
            .values()
            .filter(|r| r.scheduled.stage == stage)
            .filter_map(|r| r.finished.as_ref().map(|(f, _)| f.metrics.wall_ms))
            .collect();
        peers.sort_unstable();
        let slow_limit_ms = (peers.len() >= 3)
            .then(|| (peers[peers.len() / 2] as f64 * self.shared.config.sanity.slow_factor) as u64);
        let leakage_reference = state
            .order
            .iter()
            .filter(|a| state.archs[*a].is_baseline() && *a != arch)
            .filter_map(|a| state.metrics(a).map(|m| m.loss_val_final))
            .reduce(f64::min);
        let run_record = state.runs.get(run);
        Train {
            run: run.clone(),
            arch: arch.clone(),
            program: state.archs[arch].program().to_owned(),
            stage,
            seed,
            previous_starts,
            slow_limit_ms,
            leakage_reference,
            cause: run_record.map_or(state.archs[arch].proposed_event, |r| r.scheduled_event),
        }
    }

    fn seed_decisions(&self) -> Vec<Decision> {
        let config = &self.shared.config;
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

    fn dispatch_experiments(&mut self, ctx: &mut Context<Self>) {
        let state = &self.state;
        let config = self.shared.config.clone();
        let seeding_done =
            state.order.iter().filter(|a| state.archs[*a].is_baseline()).all(|a| terminal(state.phase(a)));
        if !seeding_done {
            return;
        }
        let started = state.experiments_started();
        let done = (1..=started).filter(|n| state.experiment_done(*n)).count() as u32;
        // Account for each finished experiment before starting the next.
        if state.experiments_spent < done {
            let n = state.experiments_spent + 1;
            let compute_ms =
                state.experiment_archs(n).iter().filter_map(|a| state.metrics(a)).map(|m| m.wall_ms).sum();
            let spent = BudgetSpent {
                experiments: 1,
                compute_ms,
                wall_ms: self.last_budget.elapsed().as_millis() as u64,
            };
            self.last_budget = Instant::now();
            self.record(
                ctx,
                format!("budget/{n}"),
                vec![Decision::new(format!("budget/{n}"), NAME, spent)],
                None,
            );
            return;
        }
        let running = started - done;
        let pool_empty = state.pool(config.selection.pool_capacity).is_empty();
        let exhausted = budget_exhausted(state, &config, self.wall_ms());
        if exhausted.is_none() && !pool_empty {
            if running < config.trainers && !self.in_flight.contains_key(&format!("propose/{}", started + 1))
            {
                let n = started + 1;
                self.team.researcher.do_send(Propose { experiment: n });
                self.in_flight.insert(format!("propose/{n}"), Pending::Experiment(n));
            }
            return;
        }
        if running > 0 {
            return;
        }
        let reason = if pool_empty {
            "no baseline could be trained".to_owned()
        } else {
            exhausted.unwrap_or_default()
        };
        self.dispatch_verification(ctx, reason);
    }

    fn dispatch_verification(&mut self, ctx: &mut Context<Self>, reason: String) {
        let state = &self.state;
        let config = self.shared.config.clone();
        let promoted: Vec<ArchId> =
            state.order.iter().filter(|a| state.archs[*a].promoted.is_some()).cloned().collect();
        if promoted.is_empty() {
            let candidates: Vec<(ArchId, u32, f64)> = state
                .ranked()
                .into_iter()
                .enumerate()
                .filter(|(_, (a, _))| !state.archs[*a].is_baseline())
                .take(config.promote_top as usize)
                .map(|(i, (a, f))| (a.clone(), i as u32 + 1, f))
                .collect();
            let best_baseline =
                state.ranked().into_iter().enumerate().find(|(_, (a, _))| {
                    state.archs[*a].is_baseline() && !state.archs[*a].quadratic_allowed()
                });
            if candidates.is_empty() || best_baseline.is_none() || self.in_flight.contains_key("promote") {
                if candidates.is_empty() || best_baseline.is_none() {
                    self.finish(ctx, reason);
                }
                return;
            }
            let (rank, (baseline, fitness)) = best_baseline.expect("checked");
            let mut rng = Rng::stream(self.shared.seed, "verification-seeds");
            let seeds: Vec<u64> = (0..config.verification.seeds).map(|_| rng.next_u64()).collect();
            let mut decisions = Vec::new();
            for (arch, rank, fitness) in
                candidates.into_iter().chain(std::iter::once((baseline.clone(), rank as u32 + 1, fitness)))
            {
                let program_hash = state.archs[&arch].program_hash();
                decisions.push(Decision::new(
                    format!("promote/{arch}"),
                    NAME,
                    PromotedToVerification { arch: arch.clone(), rank, fitness, seeds: seeds.clone() },
                ));
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
            self.record(ctx, "promote".into(), decisions, None);
            return;
        }
        // Verification runs, then the conclusion, then the end.
        let mut pending: Vec<(RunId, u32)> = state
            .runs
            .iter()
            .filter(|(_, r)| r.scheduled.stage == Stage::Verification && !r.is_done())
            .map(|(id, r)| (id.clone(), r.starts))
            .collect();
        pending.sort(); // runs are hashed: dispatch in id order, the same every time
        for (run, starts) in pending {
            let key = format!("run/{run}");
            if self.capacity() == 0 {
                return;
            }
            if self.in_flight.contains_key(&key) {
                continue;
            }
            let r = &self.state.runs[&run];
            let (arch, seed) = (r.scheduled.arch.clone(), r.scheduled.seed);
            let train = self.train_command(&arch, &run, Stage::Verification, seed, starts);
            self.team.trainers.do_send(train);
            self.in_flight.insert(key, Pending::Run(run));
        }
        if !self.in_flight.is_empty() {
            return;
        }
        let concluded = self.state.archs.values().any(|a| a.verification.is_some());
        if !concluded {
            self.team.analyst.do_send(Conclude);
            self.in_flight.insert("conclude".into(), Pending::Conclusion);
            return;
        }
        self.finish(ctx, reason);
    }

    fn finish(&mut self, ctx: &mut Context<Self>, reason: String) {
        if self.in_flight.contains_key("finish") {
            return;
        }
        let finished = CampaignFinished {
            reason,
            experiments: self.state.experiments_started(),
            state_hash: self.state.state_hash(),
            state_events: Some(self.state.events),
        };
        self.record(ctx, "finish".into(), vec![Decision::new("finish", NAME, finished)], None);
    }
}
