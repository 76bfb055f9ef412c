//! The messages actors exchange. Commands ask an actor to decide something; the decision comes
//! back as committed events (broadcast as [`Committed`]), never as a private reply that only
//! the asker would know about.

use std::sync::Arc;

use actix::prelude::*;
use lineage_events::payload::{CheckOutcome, Payload, Stage};
use lineage_events::{ActorRef, ArchId, EventId, RecordedEvent, RunId};

use crate::error::ActorError;

/// One event committed to the log, in log order, to every subscriber; the flag marks the last
/// event of an atomic batch (act on a state only between batches, never inside one).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Committed(pub Arc<RecordedEvent>, pub bool);

/// A decision to record: its key (the event id is derived from campaign and key, so recording
/// the same decision twice stores it once), who decided, what, and in reaction to what.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Names the decision uniquely within the campaign, e.g. `propose/e0004`.
    pub key: String,
    /// The deciding actor.
    pub actor: ActorRef,
    /// The event.
    pub payload: Payload,
    /// The event this one reacts to.
    pub cause: Option<EventId>,
}

impl Decision {
    /// A decision by `actor` (kind and name the same).
    pub fn new(key: impl Into<String>, actor: &str, payload: impl Into<Payload>) -> Self {
        Self { key: key.into(), actor: ActorRef::new(actor, actor), payload: payload.into(), cause: None }
    }

    /// Marks what it reacts to.
    pub fn caused_by(mut self, cause: Option<EventId>) -> Self {
        self.cause = cause;
        self
    }

    /// The event that records it in `campaign`: its id derived from the campaign and the key,
    /// so every writer recording the same decision writes the same event.
    pub fn into_event(self, campaign: &lineage_events::CampaignId) -> lineage_events::NewEvent {
        let mut event =
            lineage_events::NewEvent::new(EventId::derive(campaign, &self.key), self.actor, &self.payload);
        event.causation = self.cause;
        event
    }
}

/// Append decisions atomically; answers once they are committed and broadcast.
#[derive(Message)]
#[rtype(result = "Result<Recorded, ActorError>")]
pub struct Record(pub Vec<Decision>);

/// Append decisions atomically only if the log's head is still at this position — the one the
/// decision was made at; answers whether they were appended. For decisions that hold only of
/// that state (a lease judged expired): anything appended since may have answered them.
#[derive(Message)]
#[rtype(result = "Result<bool, ActorError>")]
pub struct RecordAt(pub Vec<Decision>, pub lineage_events::Seq);

/// What a [`Record`] came to: decisions appended, and decisions the log already held (the same
/// decision recorded before a restart, or by another process first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Appended by this record.
    pub appended: usize,
    /// Already in the log.
    pub present: usize,
}

/// Researcher: select a parent and propose experiment `experiment`.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct Propose {
    /// Experiment number, from 1.
    pub experiment: u32,
}

/// Engineer: run every check on the architecture's current program.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct Check {
    /// Which architecture.
    pub arch: ArchId,
    /// Its program.
    pub program: String,
    /// The proposal event (the cause).
    pub cause: EventId,
}

/// Debugger: repair the architecture whose last check failed.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct Repair {
    /// Which architecture.
    pub arch: ArchId,
    /// Its current (failing) program.
    pub program: String,
    /// The failing checks.
    pub failures: Vec<CheckOutcome>,
    /// This repair's number, from 1.
    pub attempt: u32,
    /// Hashes of programs already tried (the original and earlier patches), hex.
    pub tried: Vec<String>,
    /// The last check event (the cause).
    pub cause: EventId,
}

/// Trainer: train one scheduled run.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct Train {
    /// The run.
    pub run: RunId,
    /// The architecture.
    pub arch: ArchId,
    /// Its program.
    pub program: String,
    /// Stage (sizes and tasks come from the config).
    pub stage: Stage,
    /// Seed of weights and data.
    pub seed: u64,
    /// How many times it was started before (after a resume).
    pub previous_starts: u32,
    /// Stop as too slow after this long (sanity), if peers give a baseline.
    pub slow_limit_ms: Option<u64>,
    /// Lowest baseline held-out loss: a loss far below it is leakage (exploration only).
    pub leakage_reference: Option<f64>,
    /// The scheduling event (the cause).
    pub cause: EventId,
}

/// Analyst: analyse and score a trained architecture.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct Analyse {
    /// Which architecture.
    pub arch: ArchId,
}

/// Analyst: conclude the verification stage.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Conclude;

/// Orchestrator: record a pause and stop (Ctrl-C).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Pause(pub String);
