//! Is the record intact and does it say what it claims? The hash chain, every event's schema,
//! every reference (causes, cited evidence, parents, runs) pointing at an earlier event, and
//! the replayed state hash equal to the one recorded at the end — each a named check with its
//! verdict and detail. (Training an architecture again to compare its metrics needs the
//! models, which this crate does not have: the caller adds those checks.)

use std::collections::HashSet;

use lineage_events::payload::Payload;
use lineage_events::{CampaignId, DecodedPayload, EventStore, RecordedEvent, StoredEvent, Upcasters};
use lineage_replay::CampaignState;
use serde::Serialize;

/// One named check and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `hash chain`, `schema`, `references`, `replay`.
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was found (on failure, the first bad event).
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self { name, ok, detail: detail.into() }
    }
}

/// The checks of one campaign's log, in order. They stop at the first stage that fails: a
/// broken chain leaves nothing to decode, and a log with bad events or dangling references is
/// not replayed.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The checks run, in order.
    pub checks: Vec<Check>,
    /// The state the log folds to, when every check before replay held.
    pub state: Option<CampaignState>,
}

impl Verification {
    /// Whether the hash chain held (when it did not, the log was altered).
    pub fn chain_intact(&self) -> bool {
        self.checks.first().is_some_and(|c| c.ok)
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| !c.ok).count()
    }

    /// The first failed check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }
}

/// Verifies a campaign's log: reads it through the chain check, then checks schemas,
/// references and the replayed state hash. A store that fails while reading fails the chain
/// check with its error.
pub async fn verify(store: &dyn EventStore, campaign: &CampaignId) -> Verification {
    let mut stored = Vec::new();
    let chain = match lineage_events::read_verified(store, campaign, |event| stored.push(event)).await {
        Ok(head) => Check::new("hash chain", true, format!("{} events, head {}", head.next.0, head.hash)),
        Err(error) => Check::new("hash chain", false, error.to_string()),
    };
    let mut checks = vec![chain];
    if !checks[0].ok {
        return Verification { checks, state: None };
    }
    let (events, schema) = decode(&stored);
    checks.push(schema);
    let (state, references) = fold_checking_references(&events);
    checks.push(references);
    if checks.iter().any(|c| !c.ok) {
        return Verification { checks, state: None };
    }
    checks.push(replay(&events, &state));
    Verification { checks, state: Some(state) }
}

/// Decodes every event (those that do not decode are left out, and the first named).
fn decode(stored: &[StoredEvent]) -> (Vec<RecordedEvent>, Check) {
    let upcasters = Upcasters::standard();
    let mut events = Vec::with_capacity(stored.len());
    let (mut first_error, mut unknown) = (None, 0);
    for event in stored {
        match event.decode(&upcasters) {
            Ok(event) => {
                unknown += matches!(event.payload, DecodedPayload::Unknown(_)) as usize;
                events.push(event);
            }
            Err(error) => drop(first_error.get_or_insert_with(|| format!("event {}: {error}", event.seq))),
        }
    }
    let check = match first_error {
        Some(error) => Check::new("schema", false, error),
        None => Check::new(
            "schema",
            true,
            format!("every event decodes ({unknown} of types this version does not know, kept and skipped)"),
        ),
    };
    (events, check)
}

/// Folds the events, checking each one's references against what came before it, up to the
/// first that refers to something no earlier event records.
fn fold_checking_references(events: &[RecordedEvent]) -> (CampaignState, Check) {
    let mut state = CampaignState::default();
    let mut ids = HashSet::with_capacity(events.len());
    for event in events {
        if let Err(missing) = state.check_references(event, |id| ids.contains(id)) {
            let detail = format!(
                "event {} ({}) refers to {}, which no earlier event records",
                missing.seq, missing.id, missing.what
            );
            return (state, Check::new("references", false, detail));
        }
        ids.insert(event.id);
        state.apply(event);
    }
    (state, Check::new("references", true, "every cause, citation, architecture and run exists earlier"))
}

/// The state hash recorded at the end against what the log folds to, up to the events it
/// covers (analysts attached from elsewhere may write before and after it). `state` is the
/// whole log's fold, its references checked.
fn replay(events: &[RecordedEvent], state: &CampaignState) -> Check {
    let Some(finished) = &state.finished else {
        return Check::new(
            "replay",
            true,
            format!("state hash {} (campaign not finished: nothing recorded to compare)", state.state_hash()),
        );
    };
    let finished_at =
        events.iter().rposition(|e| matches!(e.payload.known(), Some(Payload::CampaignFinished(_))));
    let covered = finished.state_events.map_or(finished_at.unwrap_or(events.len()), |n| n as usize);
    let covered = &events[..covered.min(events.len())];
    match CampaignState::from_events(covered) {
        Ok(replayed) => {
            let replayed = replayed.state_hash();
            let detail = format!("state hash {replayed} (recorded {})", finished.state_hash);
            Check::new("replay", replayed == finished.state_hash, detail)
        }
        // Not reached: the whole log's references were checked; a prefix's hold too.
        Err(unknown) => Check::new("replay", false, unknown.to_string()),
    }
}
