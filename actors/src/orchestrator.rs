//! The Orchestrator: folds the log into its own projection and, after every committed batch,
//! asks the [`planner`](crate::planner::plan) what happens next, sends each command to the actor
//! that carries it out (or to the recorder, for its own decisions) and tracks what is in
//! flight. It holds what the planner must not: the wall clock and the actors' addresses.
//! After a restart its in-flight set is empty, so everything unfinished in the log is
//! dispatched again: that is resume. When the campaign signs its head, the orchestrator asks the
//! recorder to sign it after the finish and after a pause, before the system stops.
//!
//! It also keeps workers' leases honest: it notes when it last saw a sign of life of each run a
//! worker holds (the start, a renewal, progress) by its own clock, and records `LeaseExpired`
//! for one silent longer than its lease, after which the run is dispatched again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lineage_events::{RunId, Seq};

use actix::prelude::*;
use lineage_replay::CampaignState;

use crate::analyst::Analyst;
use crate::debugger::Debugger;
use crate::engineer::Engineer;
use crate::error::ActorError;
use crate::messages::*;
use crate::planner::{self, Command, InFlight, InFlightKey};
use crate::recorder::SignHead;
use crate::researcher::Researcher;
use crate::shared::Shared;
use crate::trainer::Trainer;
use crate::worker::claims;

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

/// Start dispatching (sent once the existing log has been replayed into every actor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kick;

/// One of the orchestrator's own records was committed.
#[derive(Message)]
#[rtype(result = "()")]
struct Recorded(InFlightKey);

/// The orchestrator actor.
pub struct Orchestrator {
    shared: Shared,
    team: Team,
    state: CampaignState,
    in_flight: InFlight,
    live: bool,
    stopping: bool,
    /// The system is being stopped (after the finish or a pause).
    closing: bool,
    /// Sign the head before stopping.
    signing: bool,
    /// When this process last accounted for an experiment (or started).
    last_budget: Instant,
    /// When this process last saw a sign of life of each run (by its clock, not the writer's).
    signs_of_life: HashMap<RunId, Instant>,
}

/// How often leases are looked at.
const LEASE_CHECK: Duration = Duration::from_millis(500);

impl Orchestrator {
    /// An orchestrator for one campaign.
    pub fn new(shared: Shared, team: Team) -> Self {
        Self {
            shared,
            team,
            state: CampaignState::default(),
            in_flight: InFlight::new(),
            live: false,
            stopping: false,
            closing: false,
            signing: false,
            last_budget: Instant::now(),
            signs_of_life: HashMap::new(),
        }
    }

    /// Whether to have the recorder sign the head after the finish and after a pause (it holds
    /// the key).
    pub fn signing(mut self, signing: bool) -> Self {
        self.signing = signing;
        self
    }
}

impl Actor for Orchestrator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(LEASE_CHECK, |me, _| me.expire_leases());
    }
}

impl Handler<Committed> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Committed(event, batch_end): Committed, ctx: &mut Self::Context) {
        if let Some(run) = event.payload.known().and_then(claims::sign_of_life) {
            self.signs_of_life.insert(run.clone(), Instant::now());
        }
        self.state.apply(&event);
        // A pause stops the system itself once its event is recorded; stopping here on any
        // event committed meanwhile (a worker's, still in the recorder's queue) would end the
        // process before the pause is written. The end of the log being replayed is not this
        // run's: a finished campaign resumed with a larger budget is reopened by its first
        // decision (`CampaignExtended`).
        if self.live && self.state.finished.is_some() {
            self.close(ctx);
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

impl Handler<Recorded> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Recorded(key): Recorded, ctx: &mut Self::Context) {
        self.in_flight.recorded(&key);
        self.dispatch(ctx);
    }
}

impl Handler<Pause> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Pause(reason): Pause, ctx: &mut Self::Context) {
        self.stopping = true;
        let decision = planner::pause(&self.state, reason);
        let recorder = self.shared.recorder.clone();
        ctx.spawn(
            async move {
                if let Err(e) = ActorError::recorded(recorder.send(Record(vec![decision])).await) {
                    tracing::warn!("the pause could not be recorded: {e}");
                }
            }
            .into_actor(self)
            .map(|(), me, ctx| me.close(ctx)),
        );
    }
}

impl Orchestrator {
    /// Records `LeaseExpired` for every run a worker holds that this process has not seen
    /// alive for longer than its lease (a run first seen now gets a whole lease from now). The
    /// key is the run's start, so a worker recording the same expiry writes the same event.
    fn expire_leases(&mut self) {
        if !self.live || self.stopping {
            return;
        }
        let now = Instant::now();
        let seen = &mut self.signs_of_life;
        let stalled = self.shared.stalls.last();
        let last_seen = |run: &RunId| {
            let seen = *seen.entry(run.clone()).or_insert(now);
            stalled.map_or(seen, |s| s.max(seen))
        };
        let lapsed = claims::lapsed(&self.state, now, last_seen, |_| false);
        if lapsed.is_empty() {
            return;
        }
        let decisions = lapsed
            .into_iter()
            .map(|expired| {
                // Not again before the log answers.
                self.signs_of_life.insert(expired.run.clone(), now);
                Decision::new(claims::expiry_key(&expired), planner::NAME, expired)
            })
            .collect();
        // Only onto the state it was judged on: a renewal or result since answers it.
        self.shared.recorder.do_send(RecordAt(decisions, Seq(self.state.events)));
    }

    /// Stops the system — first signing the head, when the campaign signs (a failure to sign is
    /// the campaign's failure: the user asked for the signature). Once.
    fn close(&mut self, ctx: &mut Context<Self>) {
        if std::mem::replace(&mut self.closing, true) {
            return;
        }
        // What is still in flight may find the recorder gone: dropped, and done again on resume.
        self.shared.failure.closing();
        if !self.signing {
            System::current().stop();
            return;
        }
        let shared = self.shared.clone();
        ctx.spawn(
            async move {
                match ActorError::recorded(shared.recorder.send(SignHead).await) {
                    Ok(_) => System::current().stop(),
                    Err(error) => shared.fail(error),
                }
            }
            .into_actor(self),
        );
    }

    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        self.in_flight.settle(&self.state);
        if self.stopping {
            return;
        }
        let since_budget_ms = self.last_budget.elapsed().as_millis() as u64;
        let commands = planner::plan(
            &self.state,
            &self.in_flight,
            &self.shared.config,
            self.shared.seed,
            since_budget_ms,
        );
        for command in commands {
            self.in_flight.start(&command);
            self.send(command, ctx);
        }
    }

    fn send(&mut self, command: Command, ctx: &mut Context<Self>) {
        match command {
            Command::Record { key, decisions, then } => {
                // The next account measures wall time from the one just made.
                if matches!(key, InFlightKey::Budget(_)) {
                    self.last_budget = Instant::now();
                }
                self.record(ctx, key, decisions, then);
            }
            Command::Check { check, .. } => self.team.engineer.do_send(check),
            Command::Repair { repair, .. } => self.team.debugger.do_send(repair),
            Command::Train(train) => self.team.trainers.do_send(train),
            Command::Analyse { analyse, .. } => self.team.analyst.do_send(analyse),
            Command::Propose(propose) => self.team.researcher.do_send(propose),
            Command::Conclude => self.team.analyst.do_send(Conclude),
        }
    }

    /// Records `decisions`, then sends `then` to a trainer (once they are committed).
    fn record(
        &self,
        ctx: &mut Context<Self>,
        key: InFlightKey,
        decisions: Vec<Decision>,
        then: Option<Train>,
    ) {
        let recorder = self.shared.recorder.clone();
        let trainers = self.team.trainers.clone();
        let shared = self.shared.clone();
        let me = ctx.address();
        ctx.spawn(
            async move {
                match ActorError::recorded(recorder.send(Record(decisions)).await) {
                    Ok(_) => {
                        if let Some(train) = then {
                            trainers.do_send(train);
                        }
                        me.do_send(Recorded(key));
                    }
                    Err(error) => shared.fail(error),
                }
            }
            .into_actor(self),
        );
    }
}
