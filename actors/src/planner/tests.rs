//! Given the events so far, when something is committed, then these commands.

use lineage_arch::rng::Rng;
use lineage_events::payload::*;
use lineage_replay::Phase;

use super::*;
use crate::testkit::{Log, arch, metrics, program, run, smoke};

const SEED: u64 = 42;

/// A campaign as the orchestrator sees it: the log, what is in flight, the clock.
struct World {
    log: Log,
    config: CampaignConfig,
    in_flight: InFlight,
}

impl World {
    /// Given a campaign started with `config` and nothing else.
    fn given(config: CampaignConfig) -> Self {
        Self { log: Log::started(&config, SEED), config, in_flight: InFlight::new() }
    }

    /// Given the smoke preset with `trainers`, its baselines proposed (as the planner seeds
    /// them).
    fn seeded(trainers: u32) -> Self {
        let mut w = Self::given(CampaignConfig { trainers, ..smoke() });
        let seed = w.plan();
        w.record(&seed[0]);
        w
    }

    /// Given the smoke preset, every baseline explored and scored (deltanet 0.5, the others
    /// `fitness`), nothing in flight.
    fn scored(trainers: u32, fitness: [f64; 3]) -> Self {
        let mut w = Self::seeded(trainers);
        w.log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
        for (name, f) in ["linear_attention", "gated_deltanet", "short_conv"].into_iter().zip(fitness) {
            w.log.explored(name, metrics(f, 2.0, 100), f);
        }
        w
    }

    /// What the orchestrator does after a committed batch, the wall clock just past its last
    /// account.
    fn plan(&mut self) -> Vec<Command> {
        self.plan_after(0)
    }

    /// The same, `since_budget_ms` after its last account.
    fn plan_after(&mut self, since_budget_ms: u64) -> Vec<Command> {
        self.in_flight.settle(&self.log.state);
        let commands = plan(&self.log.state, &self.in_flight, &self.config, SEED, since_budget_ms);
        for command in &commands {
            self.in_flight.start(command);
        }
        commands
    }

    /// Then: the commands, one line each.
    fn then(&mut self) -> Vec<String> {
        lines(&self.plan())
    }

    /// The recorder commits one of the orchestrator's records.
    fn record(&mut self, command: &Command) {
        let Command::Record { key, decisions, .. } = command else { panic!("not a record: {command}") };
        self.log.decisions(decisions);
        self.in_flight.recorded(key);
    }

    fn phase(&self, id: &str) -> Phase {
        self.log.state.phase(&arch(id))
    }
}

fn lines(commands: &[Command]) -> Vec<String> {
    commands.iter().map(Command::to_string).collect()
}

fn decision<'a>(command: &'a Command, key: &str) -> &'a Payload {
    let Command::Record { decisions, .. } = command else { panic!("not a record: {command}") };
    &decisions.iter().find(|d| d.key == key).unwrap_or_else(|| panic!("no {key} in {command}")).payload
}

fn exploration_seed() -> u64 {
    Rng::stream(SEED, "exploration").next_u64()
}

#[test]
fn an_empty_campaign_seeds_its_baselines_reference_first_once() {
    let mut w = World::given(CampaignConfig { trainers: 1, ..smoke() });
    let seed = w.plan();
    assert_eq!(
        lines(&seed),
        ["record propose/deltanet novelty/deltanet propose/linear_attention novelty/linear_attention \
          propose/gated_deltanet novelty/gated_deltanet propose/short_conv novelty/short_conv"]
    );
    let Payload::ArchitectureProposed(p) = decision(&seed[0], "propose/deltanet") else { panic!() };
    assert_eq!(
        (p.experiment, p.parent.as_ref(), p.program.as_str()),
        (0, None, program("deltanet").as_str())
    );
    assert!(matches!(&p.proposer, Proposer::Baseline { name } if name == "deltanet"));
    let Payload::NoveltyJudged(n) = decision(&seed[0], "novelty/short_conv") else { panic!() };
    assert_eq!(n.verdict, NoveltyVerdict::Novel);
    assert!(w.then().is_empty(), "the seed record is in flight: nothing twice");

    w.record(&seed[0]);
    assert_eq!(w.then(), ["check deltanet"], "one trainer: one command at a time, the reference first");
}

#[test]
fn one_command_per_trainer_is_in_flight() {
    let mut w = World::seeded(2);
    let checks = w.plan();
    assert_eq!(lines(&checks), ["check deltanet", "check linear_attention"]);
    let Command::Check { check, key } = &checks[0] else { panic!() };
    assert_eq!(check.program, program("deltanet"));
    assert_eq!(check.cause, w.log.state.archs[&arch("deltanet")].proposed_event);
    assert_eq!(*key, InFlightKey::Arch { arch: arch("deltanet"), phase: Phase::AwaitingCheck, checks: 0 });
    assert!(w.then().is_empty(), "both trainers' worth of work is in flight");

    // An unrelated event answers neither check.
    w.log.commit(
        "insight/x",
        InsightRecorded {
            analyst: "x".into(),
            kind: "note".into(),
            text: String::new(),
            confidence: 0.5,
            data: Default::default(),
            cites: Vec::new(),
        },
    );
    assert!(w.then().is_empty());

    w.log.checked("linear_attention", 0, None);
    assert_eq!(w.then(), ["check gated_deltanet"], "the answered check frees its place");
}

#[test]
fn the_reference_is_trained_and_scored_before_any_other() {
    let mut w = World::seeded(4);
    assert_eq!(w.plan().len(), 4);
    for name in ["deltanet", "linear_attention", "gated_deltanet", "short_conv"] {
        w.log.checked(name, 0, None);
    }
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/deltanet-x, then train deltanet-x"]);
    let Command::Record { then: Some(train), key, .. } = &schedule[0] else { panic!() };
    assert_eq!(*key, InFlightKey::Schedule(run("deltanet-x")));
    let Payload::TrainingScheduled(s) = decision(&schedule[0], "schedule/deltanet-x") else { panic!() };
    assert_eq!((s.stage, s.seed, &s.arch), (Stage::Exploration, exploration_seed(), &arch("deltanet")));
    assert_eq!(s.program_hash, w.log.state.archs[&arch("deltanet")].program_hash());
    assert_eq!(train.seed, s.seed);
    assert_eq!(train.previous_starts, 0);
    assert_eq!(train.cause, w.log.state.archs[&arch("deltanet")].proposed_event, "not scheduled yet");
    assert_eq!((train.slow_limit_ms, train.leakage_reference), (None, None), "no peers yet");
    assert_eq!(w.in_flight.len(), 2, "the record and the run it starts");

    w.record(&schedule[0]);
    assert!(w.then().is_empty(), "the others wait for the reference's score");
    w.log.trained("deltanet-x", metrics(0.5, 2.0, 100));
    assert_eq!(w.then(), ["analyse deltanet"], "the reference is analysed first");
    w.log.scored("deltanet", 0.5);
    assert_eq!(
        w.then(),
        [
            "record schedule/linear_attention-x, then train linear_attention-x",
            "record schedule/gated_deltanet-x, then train gated_deltanet-x"
        ],
        "each schedule holds two places (record and run): four trainers, two schedules"
    );
}

#[test]
fn a_failing_check_is_repaired_then_trained_with_the_patched_program() {
    let mut w = World::seeded(1);
    w.plan();
    let check = w.log.checked("deltanet", 0, Some("non-causal"));
    let repair = w.plan();
    assert_eq!(lines(&repair), ["repair deltanet (attempt 1)"]);
    let Command::Repair { repair, .. } = &repair[0] else { panic!() };
    let proposal_hash = w.log.state.archs[&arch("deltanet")].proposal.program_hash.to_hex();
    assert_eq!(repair.tried, std::slice::from_ref(&proposal_hash));
    assert_eq!(repair.cause, check);
    assert_eq!(repair.program, program("deltanet"));
    assert_eq!(repair.failures.len(), 1);
    assert_eq!(repair.failures[0].diagnostics[0].class, "non-causal");
    assert!(w.then().is_empty(), "the repair is in flight");

    w.log.repaired("deltanet", 1, "first patch", Some("non-causal"));
    assert_eq!(w.phase("deltanet"), Phase::AwaitingRepair);
    let second = w.plan();
    assert_eq!(lines(&second), ["repair deltanet (attempt 2)"]);
    let Command::Repair { repair, .. } = &second[0] else { panic!() };
    assert_eq!(repair.tried, [proposal_hash, lineage_events::Hash::of(b"first patch").to_hex()]);
    assert_eq!(repair.program, "first patch");

    w.log.repaired("deltanet", 2, "second patch", None);
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/deltanet-x, then train deltanet-x"]);
    let Payload::TrainingScheduled(s) = decision(&schedule[0], "schedule/deltanet-x") else { panic!() };
    assert_eq!(s.program_hash, lineage_events::Hash::of(b"second patch"));
    let Command::Record { then: Some(train), .. } = &schedule[0] else { panic!() };
    assert_eq!(train.program, "second patch");
}

#[test]
fn an_architecture_whose_repairs_are_exhausted_is_abandoned_and_the_campaign_moves_on() {
    let mut w = World::seeded(1);
    w.log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    assert_eq!(w.then(), ["check linear_attention"]);
    w.log.checked("linear_attention", 0, Some("non-finite"));
    for attempt in 1..=3 {
        assert_eq!(w.then(), [format!("repair linear_attention (attempt {attempt})")]);
        w.log.repaired("linear_attention", attempt, &format!("patch {attempt}"), Some("non-finite"));
    }
    assert_eq!(w.phase("linear_attention"), Phase::Abandoned, "three attempts, still failing");
    assert_eq!(w.then(), ["check gated_deltanet"]);

    // No rule applies: the debugger records the abandonment itself.
    w.log.checked("gated_deltanet", 0, Some("unknown-op"));
    assert_eq!(w.then(), ["repair gated_deltanet (attempt 1)"]);
    w.log.commit(
        "abandon/gated_deltanet/1",
        ArchitectureAbandoned { arch: arch("gated_deltanet"), reason: "no repair rule applies".into() },
    );
    assert_eq!(w.phase("gated_deltanet"), Phase::Abandoned);
    assert_eq!(w.then(), ["check short_conv"]);
}

#[test]
fn a_failed_training_run_ends_that_architecture_only() {
    let mut w = World::seeded(1);
    w.log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    w.log.checked("linear_attention", 0, None);
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/linear_attention-x, then train linear_attention-x"]);
    w.record(&schedule[0]);
    assert!(w.then().is_empty(), "training");
    w.log.failed("linear_attention-x", TrainingFailure::Diverged { step: 3 });
    assert_eq!(w.phase("linear_attention"), Phase::Failed);
    assert_eq!(w.then(), ["check gated_deltanet"]);
}

#[test]
fn when_the_reference_cannot_be_trained_the_campaign_finishes_saying_so() {
    let mut w = World::seeded(1);
    w.log.checked("deltanet", 0, None);
    w.log.scheduled("deltanet-x", "deltanet", Stage::Exploration, exploration_seed());
    w.log.failed("deltanet-x", TrainingFailure::TimedOut { wall_ms: 1 });
    let finish = w.plan();
    assert_eq!(lines(&finish), ["record finish"]);
    let Payload::CampaignFinished(f) = decision(&finish[0], "finish") else { panic!() };
    assert_eq!(f.reason, "the reference baseline deltanet could not be trained, so nothing can be scored");
    assert_eq!(f.experiments, 0);
    assert_eq!(f.state_hash, w.log.state.state_hash());
    assert_eq!(f.state_events, Some(w.log.state.events));
    assert!(w.then().is_empty(), "finishing once");
    w.record(&finish[0]);
    assert!(w.then().is_empty(), "a finished campaign plans nothing");
}

#[test]
fn each_finished_experiment_is_accounted_for_before_the_next_starts() {
    let mut w = World::scored(1, [0.4, 0.6, 0.3]);
    assert_eq!(w.then(), ["propose experiment 1"]);
    assert!(w.then().is_empty(), "the proposal is in flight");
    w.log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    assert_eq!(w.then(), ["check e0001"]);
    w.log.explored("e0001", metrics(0.7, 1.9, 250), 0.7);
    let budget = w.plan_after(1234);
    assert_eq!(lines(&budget), ["record budget/1"]);
    let Payload::BudgetSpent(spent) = decision(&budget[0], "budget/1") else { panic!() };
    assert_eq!(
        *spent,
        BudgetSpent { experiments: 1, compute_ms: 250, wall_ms: 1234, llm: Default::default() }
    );
    assert!(w.then().is_empty(), "the account is in flight: recorded once");
    w.record(&budget[0]);
    assert_eq!(w.then(), ["propose experiment 2"]);
}

#[test]
fn a_budget_reached_mid_experiment_lets_running_experiments_finish_first() {
    let mut w = World::scored(3, [0.4, 0.6, 0.3]);
    assert_eq!(w.then(), ["propose experiment 1"]);
    w.log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    assert_eq!(w.then(), ["check e0001", "propose experiment 2"], "experiments run side by side");
    w.log.experiment(2, "gated_deltanet", "e0002", "short_conv", &["add-skip"]);

    // The wall-clock budget (900 s) is spent: no experiment 3 although a trainer is free,
    // but what runs goes on.
    let spent = 900_000;
    assert_eq!(lines(&w.plan_after(spent)), ["check e0002"]);
    w.log.checked("e0001", 0, None);
    w.log.checked("e0002", 0, None);
    let schedules = w.plan_after(spent);
    assert_eq!(
        lines(&schedules),
        ["record schedule/e0001-x, then train e0001-x", "record schedule/e0002-x, then train e0002-x"]
    );
    for schedule in &schedules {
        w.record(schedule);
    }
    w.log.trained("e0001-x", metrics(0.7, 1.9, 250));
    assert_eq!(lines(&w.plan_after(spent)), ["analyse e0001"]);
    w.log.scored("e0001", 0.7);
    let budget = w.plan_after(spent);
    assert_eq!(lines(&budget), ["record budget/1"]);
    w.record(&budget[0]);
    assert_eq!(w.log.state.wall_ms, spent);
    assert!(w.then().is_empty(), "no promotion while experiment 2 runs");

    w.log.trained("e0002-x", metrics(0.2, 2.5, 300));
    w.log.scored("e0002", 0.2);
    let budget = w.plan();
    assert_eq!(lines(&budget), ["record budget/2"]);
    w.record(&budget[0]);
    let promote = w.plan();
    assert!(lines(&promote)[0].starts_with("record promote/e0001 schedule/e0001-v0"), "{}", promote[0]);
}

#[test]
fn when_the_budget_is_spent_the_best_candidate_and_baseline_are_promoted_and_verified() {
    let budget = Budget { experiments_max: 1, ..smoke().budget };
    let config = CampaignConfig { trainers: 1, budget, ..smoke() };
    let mut w = World::given(config);
    let seed = w.plan();
    w.record(&seed[0]);
    w.log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    for (name, f) in [("linear_attention", 0.4), ("gated_deltanet", 0.6), ("short_conv", 0.3)] {
        w.log.explored(name, metrics(f, 2.0, 100), f);
    }
    assert_eq!(w.then(), ["propose experiment 1"]);
    w.log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    w.log.explored("e0001", metrics(0.7, 1.9, 250), 0.7);
    let budget = w.plan();
    w.record(&budget[0]);

    let promote = w.plan();
    let seeds: Vec<u64> = {
        let mut rng = Rng::stream(SEED, "verification-seeds");
        (0..2).map(|_| rng.next_u64()).collect()
    };
    assert_eq!(
        lines(&promote),
        ["record promote/e0001 schedule/e0001-v0 schedule/e0001-v1 promote/gated_deltanet \
          schedule/gated_deltanet-v0 schedule/gated_deltanet-v1"]
    );
    let Payload::PromotedToVerification(p) = decision(&promote[0], "promote/e0001") else { panic!() };
    assert_eq!((p.rank, p.fitness, &p.seeds), (1, 0.7, &seeds));
    let Payload::PromotedToVerification(b) = decision(&promote[0], "promote/gated_deltanet") else {
        panic!()
    };
    assert_eq!((b.rank, b.fitness), (2, 0.6), "the best baseline, ranked among all");
    let Payload::TrainingScheduled(v1) = decision(&promote[0], "schedule/gated_deltanet-v1") else {
        panic!()
    };
    assert_eq!((v1.stage, v1.seed), (Stage::Verification, seeds[1]));
    assert!(w.then().is_empty(), "promoting once");
    w.record(&promote[0]);

    // The verification runs, one per trainer, in run-id order.
    for r in ["e0001-v0", "e0001-v1", "gated_deltanet-v0", "gated_deltanet-v1"] {
        let train = w.plan();
        assert_eq!(lines(&train), [format!("train {r} (started 0×)")]);
        let Command::Train(t) = &train[0] else { panic!() };
        assert_eq!(t.stage, Stage::Verification);
        assert_eq!(t.cause, w.log.state.runs[&run(r)].scheduled_event);
        assert!(t.leakage_reference.is_some(), "baselines have losses by now");
        let accuracy = if r.starts_with("e0001") { 0.8 } else { 0.6 };
        w.log.trained(r, metrics(accuracy, 2.0, 100));
    }
    assert_eq!(w.then(), ["conclude"]);
    assert!(w.then().is_empty(), "concluding once");
    let conclusions = crate::analyst::conclude(&w.log.state);
    assert_eq!(conclusions.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["verify/e0001"]);
    w.log.decisions(&conclusions);

    let finish = w.plan();
    assert_eq!(lines(&finish), ["record finish"]);
    let Payload::CampaignFinished(f) = decision(&finish[0], "finish") else { panic!() };
    assert_eq!((f.reason.as_str(), f.experiments), ("experiment budget reached (1)", 1));
}

#[test]
fn with_no_candidate_to_promote_the_campaign_finishes_with_the_budget_reason() {
    let config = CampaignConfig { budget: Budget { experiments_max: 0, ..smoke().budget }, ..smoke() };
    let mut w = World::given(config);
    let seed = w.plan();
    w.record(&seed[0]);
    for name in ["deltanet", "linear_attention", "gated_deltanet", "short_conv"] {
        w.log.explored(name, metrics(0.5, 2.0, 100), 0.5);
    }
    let finish = w.plan();
    assert_eq!(lines(&finish), ["record finish"]);
    let Payload::CampaignFinished(f) = decision(&finish[0], "finish") else { panic!() };
    assert_eq!(f.reason, "experiment budget reached (0)");
}

#[test]
fn a_resumed_campaign_dispatches_everything_unfinished_again() {
    // Before the restart: deltanet scored, linear_attention's run started (not finished),
    // gated_deltanet awaiting its check, short_conv awaiting a repair.
    let mut w = World::seeded(3);
    w.log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    w.log.checked("linear_attention", 0, None);
    let scheduled = w.log.scheduled("linear_attention-x", "linear_attention", Stage::Exploration, 7);
    w.log.run_started("linear_attention-x", 0);
    w.log.checked("short_conv", 0, Some("non-causal"));
    assert_eq!(
        unfinished(&w.log.state),
        ["linear_attention: Training", "gated_deltanet: AwaitingCheck", "short_conv: AwaitingRepair"]
    );

    // After it: nothing in flight.
    w.in_flight = InFlight::new();
    let commands = w.plan();
    assert_eq!(
        lines(&commands),
        ["train linear_attention-x (started 1×)", "check gated_deltanet", "repair short_conv (attempt 1)"]
    );
    let Command::Train(train) = &commands[0] else { panic!() };
    assert_eq!((train.seed, train.cause, train.previous_starts), (7, scheduled, 1));
    assert_eq!(train.leakage_reference, Some(2.0), "the reference's held-out loss");
}

#[test]
fn a_resumed_verification_trains_its_unfinished_runs_again() {
    let config = CampaignConfig { budget: Budget { experiments_max: 1, ..smoke().budget }, ..smoke() };
    let mut w = World::given(CampaignConfig { trainers: 2, ..config });
    let seed = w.plan();
    w.record(&seed[0]);
    for (name, f) in
        [("deltanet", 0.5), ("linear_attention", 0.4), ("gated_deltanet", 0.6), ("short_conv", 0.3)]
    {
        w.log.explored(name, metrics(f, 2.0, 100), f);
    }
    w.log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    w.log.explored("e0001", metrics(0.7, 1.9, 250), 0.7);
    w.log.commit(
        "budget/1",
        BudgetSpent { experiments: 1, compute_ms: 250, wall_ms: 10, llm: Default::default() },
    );
    let promote = w.plan();
    w.record(&promote[0]);
    w.log.trained("e0001-v0", metrics(0.8, 2.0, 100));
    w.log.run_started("e0001-v1", 0);
    // What a resume records as dispatched again is what it dispatches: the run in flight and
    // the ones not started, besides no architecture (every one is scored).
    let redispatched = unfinished(&w.log.state);
    assert_eq!(
        redispatched,
        [
            "e0001-v1: verification run of e0001",
            "gated_deltanet-v0: verification run of gated_deltanet",
            "gated_deltanet-v1: verification run of gated_deltanet",
        ]
    );

    w.in_flight = InFlight::new();
    assert_eq!(w.then(), ["train e0001-v1 (started 1×)", "train gated_deltanet-v0 (started 0×)"]);
}

#[test]
fn a_pause_is_numbered_by_the_pauses_before_it() {
    let mut w = World::seeded(1);
    assert_eq!(pause(&w.log.state, "interrupted".into()).key, "pause/0");
    w.log.commit("pause/0", CampaignPaused { reason: "interrupted".into() });
    let second = pause(&w.log.state, "again".into());
    assert_eq!(second.key, "pause/1");
    assert!(
        matches!(second.payload, Payload::CampaignPaused(CampaignPaused { ref reason }) if reason == "again")
    );
}

#[test]
fn budgets_stop_exploration_in_the_order_they_are_checked() {
    let mut w = World::scored(1, [0.4, 0.6, 0.3]);
    let config = CampaignConfig {
        budget: Budget { experiments_max: 3, wall_s_max: Some(10), compute_s_max: Some(1) },
        ..smoke()
    };
    assert_eq!(budget_exhausted(&w.log.state, &config, 9_999), None, "no compute accounted for yet");
    assert_eq!(
        budget_exhausted(&w.log.state, &config, 10_000).as_deref(),
        Some("wall-clock budget reached (10 s)")
    );
    w.log.commit(
        "budget/x",
        BudgetSpent { experiments: 0, compute_ms: 1000, wall_ms: 0, llm: Default::default() },
    );
    assert_eq!(budget_exhausted(&w.log.state, &config, 0).as_deref(), Some("compute budget reached (1 s)"));
    for n in 1..=3 {
        w.log.selected(n, "gated_deltanet");
    }
    assert_eq!(budget_exhausted(&w.log.state, &config, 0).as_deref(), Some("experiment budget reached (3)"));
}

/// The smoke preset with `trainers` here and `parallel` in flight, its baselines proposed and
/// the reference checked, so its exploration run is the next thing to schedule.
fn reference_checked(trainers: u32, parallel: u32) -> World {
    let mut w = World::given(CampaignConfig { trainers, parallel: Some(parallel), ..smoke() });
    let seed = w.plan();
    w.record(&seed[0]);
    w.in_flight = InFlight::new();
    w.log.checked("deltanet", 0, None);
    w
}

#[test]
fn with_no_trainers_here_a_scheduled_run_waits_for_a_worker_and_fills_the_campaign() {
    let mut w = reference_checked(0, 1);
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/deltanet-x"], "no trainer here: nothing to send");
    w.record(&schedule[0]);
    assert!(w.then().is_empty(), "parallel = 1: the waiting run fills the campaign");
    w.log.claimed("deltanet-x", 0, "w1", 30_000);
    assert!(w.then().is_empty(), "a worker holds it");
    w.log.lease_expired("deltanet-x", 0);
    assert!(w.then().is_empty(), "released, it waits for another worker");
    w.log.claimed("deltanet-x", 1, "w2", 30_000);
    w.log.trained_by_claim("deltanet-x");
    assert_eq!(w.then(), ["analyse deltanet"]);
}

#[test]
fn a_trainer_here_takes_a_run_only_while_no_worker_holds_it() {
    let mut w = reference_checked(1, 2);
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/deltanet-x, then train deltanet-x"]);
    w.record(&schedule[0]);
    // A worker appended the start first: the trainer found it taken, the run is the worker's.
    w.log.claimed("deltanet-x", 0, "w1", 30_000);
    assert_eq!(w.then(), ["check linear_attention"], "the run no longer holds a trainer here");
    w.log.lease_expired("deltanet-x", 0);
    assert_eq!(w.then(), ["train deltanet-x (started 1×)"], "its lease lapsed: trained here, as a restart");
}

#[test]
fn a_resumed_campaign_leaves_a_worker_its_run_and_restarts_its_own() {
    let mut w = reference_checked(1, 2);
    let schedule = w.plan();
    w.record(&schedule[0]);
    w.log.claimed("deltanet-x", 0, "w1", 30_000);
    w.in_flight = InFlight::new();
    assert_eq!(w.then(), ["check linear_attention"], "the worker keeps its run across the restart");
    let mut w = reference_checked(1, 2);
    let schedule = w.plan();
    w.record(&schedule[0]);
    w.log.run_started("deltanet-x", 0);
    w.in_flight = InFlight::new();
    assert_eq!(w.then(), ["train deltanet-x (started 1×)", "check linear_attention"]);
}

/// Experiments 1 and 2 proposed side by side (two in flight), both checked and their runs
/// sent to the two trainers.
fn two_experiments_training() -> World {
    let mut w = World::scored(2, [0.4, 0.6, 0.3]);
    assert_eq!(w.then(), ["propose experiment 1"]);
    w.log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    assert_eq!(w.then(), ["check e0001", "propose experiment 2"], "experiment 2 reads the baselines only");
    w.log.experiment(2, "gated_deltanet", "e0002", "short_conv", &["add-skip"]);
    w.log.checked("e0001", 0, None);
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/e0001-x, then train e0001-x"]);
    w.record(&schedule[0]);
    assert_eq!(w.then(), ["check e0002"]);
    w.log.checked("e0002", 0, None);
    let schedule = w.plan();
    assert_eq!(lines(&schedule), ["record schedule/e0002-x, then train e0002-x"]);
    w.record(&schedule[0]);
    w
}

#[test]
fn results_are_taken_in_experiment_order_whichever_run_finishes_first() {
    let mut w = two_experiments_training();
    // Experiment 2's run finishes first: it is not analysed before experiment 1 has ended, and
    // experiment 3 — proposed from experiment 1's results — waits for experiment 1's account.
    w.log.trained("e0002-x", metrics(0.9, 1.5, 300));
    assert!(w.then().is_empty(), "e0002 waits for e0001; experiment 3 for experiment 1");
    w.log.trained("e0001-x", metrics(0.7, 1.9, 250));
    assert_eq!(w.then(), ["analyse e0001"], "analysed in proposal order");
    w.log.scored("e0001", 0.7);
    let next = w.plan();
    assert_eq!(lines(&next), ["analyse e0002", "record budget/1"]);
    let Payload::BudgetSpent(spent) = decision(&next[1], "budget/1") else { panic!() };
    assert_eq!(spent.compute_ms, 250, "experiment 1's training, not experiment 2's");
    w.record(&next[1]);
    assert_eq!(w.then(), ["propose experiment 3"], "experiment 1 is accounted for: experiment 3 may start");

    // Experiment 3 sees the baselines and experiment 1, not experiment 2, even once it is
    // scored: in another run of the seed it may not be yet.
    w.log.scored("e0002", 0.9);
    let seen = crate::horizon::Seen::of(&w.log.state, 3, w.config.parallel());
    let pool: Vec<String> = seen.pool(50).into_iter().map(|e| e.arch.to_string()).collect();
    assert_eq!(pool, ["e0001", "gated_deltanet", "deltanet", "linear_attention", "short_conv"]);
    assert_eq!(w.then(), ["record budget/2"]);
}

#[test]
fn an_experiment_is_accounted_for_once_it_is_done_and_never_before_an_earlier_one() {
    let mut w = two_experiments_training();
    // Experiment 2 ends first, its run failed: its account waits for experiment 1's.
    w.log.failed("e0002-x", TrainingFailure::Diverged { step: 3 });
    assert!(w.log.state.experiment_done(2) && !w.log.state.experiment_done(1));
    assert!(w.then().is_empty(), "experiment 1 is not done: nothing is accounted for");
    w.log.trained("e0001-x", metrics(0.7, 1.9, 250));
    assert_eq!(w.then(), ["analyse e0001"]);
    w.log.scored("e0001", 0.7);
    let budget = w.plan();
    assert_eq!(lines(&budget), ["record budget/1"]);
    w.record(&budget[0]);
    let next = w.plan();
    assert_eq!(lines(&next), ["record budget/2", "propose experiment 3"]);
    let Payload::BudgetSpent(spent) = decision(&next[0], "budget/2") else { panic!() };
    assert_eq!(spent.compute_ms, 0, "a failed run's time is not in its metrics");
    w.record(&next[0]);
    assert_eq!(w.log.state.experiments_spent, 2);
    w.log.experiment(3, "e0001", "e0003", "gated_deltanet", &["add-skip"]);
    assert_eq!(w.then(), ["check e0003", "propose experiment 4"], "experiment 4 reads up to experiment 2");
}

#[test]
fn baselines_are_analysed_in_order_and_held_to_the_reference_whichever_trains_first() {
    let mut w = World::seeded(4);
    assert_eq!(w.plan().len(), 4);
    for name in ["deltanet", "linear_attention", "gated_deltanet", "short_conv"] {
        w.log.checked(name, 0, None);
    }
    let schedule = w.plan();
    w.record(&schedule[0]);
    w.log.trained("deltanet-x", metrics(0.5, 2.0, 100));
    assert_eq!(w.then(), ["analyse deltanet"]);
    w.log.scored("deltanet", 0.5);
    let schedules = w.plan();
    assert_eq!(schedules.len(), 2, "linear_attention and gated_deltanet");
    for schedule in &schedules {
        let Command::Record { then: Some(train), .. } = schedule else { panic!() };
        assert_eq!(train.leakage_reference, Some(2.0), "the reference's held-out loss");
        w.record(schedule);
    }
    // gated_deltanet finishes first, with a lower loss than the reference's.
    w.log.trained("gated_deltanet-x", metrics(0.6, 1.5, 100));
    let next = w.plan();
    assert_eq!(lines(&next), ["record schedule/short_conv-x, then train short_conv-x"], "not analysed yet");
    let Command::Record { then: Some(train), .. } = &next[0] else { panic!() };
    assert_eq!(train.leakage_reference, Some(2.0), "still the reference's alone, not gated_deltanet's");
    w.record(&next[0]);
    w.log.trained("linear_attention-x", metrics(0.4, 2.5, 100));
    assert_eq!(w.then(), ["analyse linear_attention"]);
    w.log.scored("linear_attention", 0.4);
    assert_eq!(w.then(), ["analyse gated_deltanet"]);

    // A candidate is held to the lowest of every baseline's.
    w.log.trained("short_conv-x", metrics(0.3, 3.0, 100));
    w.log.scored("gated_deltanet", 0.6);
    w.log.scored("short_conv", 0.3);
    w.log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    w.log.checked("e0001", 0, None);
    w.in_flight = InFlight::new();
    let schedule = w.plan();
    let Command::Record { then: Some(train), .. } = &schedule[0] else { panic!("{}", schedule[0]) };
    assert_eq!(train.leakage_reference, Some(1.5));
}
