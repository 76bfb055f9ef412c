//! Is the record intact and does it say what it claims? The hash chain (and, when given, the
//! head it must still extend), every event's schema, every reference (causes, cited evidence,
//! parents, runs) pointing at an earlier event, every derived number agreeing with the events
//! it derives from ([`crate::consistency`]), nothing after `CampaignFinished` but what may
//! follow it ([`lineage_replay::end`]), every signed checkpoint (against the public key, when
//! given), and the replayed state hash equal to the one recorded at the end — each a named
//! check with its verdict and detail. (Training an architecture again to compare its metrics
//! needs the models, which this crate does not have: the caller adds those checks.)

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use lineage_events::payload::{HeadSigned, Payload};
use lineage_events::{
    CampaignId, DecodedPayload, EventBody, EventStore, Hash, Head, PublicKey, RecordedEvent, Seq,
    StoredEvent, Upcasters,
};
use lineage_replay::CampaignState;
use serde::Serialize;

use crate::consistency::{Consistency, plural};

/// One named check and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `hash chain`, `head`, `schema`, `references`, `consistency`, `end`,
    /// `signatures`, `replay`.
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

/// A head published or recorded earlier (`SEQ:HASH`, as `lineage run` and `lineage anchor`
/// print it): the log must still extend it unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchoredHead {
    /// Position of the head event.
    pub seq: Seq,
    /// Its hash.
    pub hash: Hash,
}

impl fmt::Display for AnchoredHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Text that is not `SEQ:HASH`. Tell the user what the form is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a head is SEQ:HASH — an event number and its 64-hex-digit hash, as `lineage run` prints it — not {0:?}"
)]
pub struct InvalidHead(pub String);

impl FromStr for AnchoredHead {
    type Err = InvalidHead;

    fn from_str(text: &str) -> Result<Self, InvalidHead> {
        let invalid = || InvalidHead(text.to_owned());
        let (seq, hash) = text.trim().split_once(':').ok_or_else(invalid)?;
        let seq = seq.parse::<u64>().map_err(|_| invalid())?;
        let hash = hash.parse::<Hash>().map_err(|_| invalid())?;
        Ok(Self { seq: Seq(seq), hash })
    }
}

/// What the log must match besides its own consistency: a head anchored earlier, the key its
/// signatures must be made with.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// The log must still extend this head (`verify --head`).
    pub head: Option<AnchoredHead>,
    /// Every signed checkpoint must be made with this key, and a finished campaign's end must
    /// be covered by one (`verify --public-key`).
    pub public_key: Option<PublicKey>,
}

/// The checks of one campaign's log, in order. A broken chain leaves nothing to decode, and a
/// log with bad events or dangling references is not replayed.
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

    /// The check named `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Verifies a campaign's log on its own (no anchored head, no trusted key): see
/// [`verify_against`].
pub async fn verify(store: &dyn EventStore, campaign: &CampaignId) -> Verification {
    verify_against(store, campaign, &Expected::default()).await
}

/// Verifies a campaign's log: reads it through the chain check (and the anchored head, when
/// expected), then checks schemas, references, consistency, the end, the signatures (against
/// the expected key) and the replayed state hash. A store that fails while reading fails the
/// chain check with its error.
pub async fn verify_against(
    store: &dyn EventStore,
    campaign: &CampaignId,
    expected: &Expected,
) -> Verification {
    verify_log(store, campaign, expected).await.0
}

/// A verified log as read: every event's hash by position, and the decoded events.
pub(crate) struct Read {
    pub hashes: Vec<Hash>,
    pub events: Vec<RecordedEvent>,
}

/// [`verify_against`], with what was read (when the chain held).
pub(crate) async fn verify_log(
    store: &dyn EventStore,
    campaign: &CampaignId,
    expected: &Expected,
) -> (Verification, Option<Read>) {
    let mut stored = Vec::new();
    let head = match lineage_events::read_verified(store, campaign, |event| stored.push(event)).await {
        Ok(head) => head,
        Err(error) => {
            let checks = vec![Check::new("hash chain", false, error.to_string())];
            return (Verification { checks, state: None }, None);
        }
    };
    let mut checks =
        vec![Check::new("hash chain", true, format!("{} events, head {}", head.next.0, head.hash))];
    let hashes: Vec<Hash> = stored.iter().map(|e| e.hash).collect();
    checks.extend(expected.head.map(|anchored| check_head(&hashes, anchored)));
    let (events, schema) = decode(&stored);
    drop(stored);
    checks.push(schema);
    let (state, references, consistency) = fold_checking(&events);
    checks.push(references);
    let mut state = Some(state);
    if checks.iter().all(|c| c.ok) {
        let folded = state.as_ref().expect("folded");
        checks.push(consistency);
        checks.push(end(folded));
        checks.extend(signatures(campaign, &events, &hashes, folded, expected.public_key.as_ref()));
        checks.push(replay(&events, folded));
    } else {
        state = None;
    }
    let read = Read { hashes, events };
    (Verification { checks, state }, Some(read))
}

/// The anchored head against the chain just verified from event 0.
fn check_head(hashes: &[Hash], anchored: AnchoredHead) -> Check {
    let Some(found) = hashes.get(anchored.seq.0 as usize) else {
        let detail = format!(
            "the log has {} events: event {} of the anchored head {anchored} is missing (truncated, or another log)",
            hashes.len(),
            anchored.seq
        );
        return Check::new("head", false, detail);
    };
    if *found != anchored.hash {
        let detail = format!(
            "event {} has hash {found}, not the anchored {}: the log was rewritten at or before event {}",
            anchored.seq, anchored.hash, anchored.seq
        );
        return Check::new("head", false, detail);
    }
    let after = plural(hashes.len() as u64 - anchored.seq.0 - 1, "event");
    Check::new(
        "head",
        true,
        format!("the log extends the anchored head {anchored} unchanged ({after} after it)"),
    )
}

/// Decodes every event (those that do not decode are left out, and the first named).
fn decode(stored: &[StoredEvent]) -> (Vec<RecordedEvent>, Check) {
    let upcasters = Upcasters::standard();
    let mut events = Vec::with_capacity(stored.len());
    let (mut first_error, mut unknown) = (None, 0);
    let mut tests_verdicts = false;
    for event in stored {
        match event
            .decode(&upcasters)
            .map_err(|e| e.to_string())
            .and_then(|e| untested(event, e, &mut tests_verdicts))
        {
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

/// A verdict without a test is one decided by the version-1 rule, which is re-derived as
/// such; only a version-1 event of a campaign started before verdicts were tested
/// (`CampaignStarted` version 1) may be one, or a rewritten log could have a verdict judged by
/// the older rule, which states no error rate. `tests_verdicts` remembers the campaign's start.
fn untested(
    stored: &StoredEvent,
    event: RecordedEvent,
    tests_verdicts: &mut bool,
) -> Result<RecordedEvent, String> {
    let version = || EventBody::parse(&stored.body).map(|b| b.version).map_err(|e| e.to_string());
    match event.payload.known() {
        Some(Payload::CampaignStarted(_)) => *tests_verdicts = version()? >= 2,
        Some(Payload::VerificationConcluded(v)) if v.test.is_none() => {
            let version = version()?;
            if version >= 2 {
                return Err(format!(
                    "payload of type VerificationConcluded version {version} records no test; only version 1 may"
                ));
            }
            if *tests_verdicts {
                return Err(
                    "a VerificationConcluded records no test in a campaign started by a build that tests every verdict (CampaignStarted version 2)"
                        .into(),
                );
            }
        }
        _ => {}
    }
    Ok(event)
}

/// Folds the events, checking each one's references against what came before it, up to the
/// first that refers to something no earlier event records, and each one's numbers against
/// the state before it.
fn fold_checking(events: &[RecordedEvent]) -> (CampaignState, Check, Check) {
    let mut state = CampaignState::default();
    let mut ids = HashSet::with_capacity(events.len());
    let mut consistency = Consistency::default();
    for event in events {
        if let Err(missing) = state.check_references(event, |id| ids.contains(id)) {
            let detail = format!(
                "event {} ({}) refers to {}, which no earlier event records",
                missing.seq, missing.id, missing.what
            );
            let unchecked = Check::new("consistency", false, "not checked: a reference is missing");
            return (state, Check::new("references", false, detail), unchecked);
        }
        consistency.check(&state, event);
        ids.insert(event.id);
        state.apply(event);
    }
    let references =
        Check::new("references", true, "every cause, citation, architecture and run exists earlier");
    let consistency = match consistency.first_failure.take() {
        Some(failure) => Check::new("consistency", false, failure),
        None => Check::new("consistency", true, consistency.summary()),
    };
    (state, references, consistency)
}

/// Nothing after `CampaignFinished` but what may follow it.
fn end(state: &CampaignState) -> Check {
    match (&state.past_end, state.finished_seq) {
        (Some(past), _) => Check::new("end", false, past.to_string()),
        (None, Some(at)) => {
            let detail = match state.events - at.0 - 1 {
                0 => format!("the log ends at CampaignFinished (event {at})"),
                after => format!(
                    "the campaign finished at event {at}; after it only analysts' conclusions, signed checkpoints or types this version skips ({})",
                    plural(after, "event"),
                ),
            };
            Check::new("end", true, detail)
        }
        (None, None) => Check::new("end", true, "the campaign has not finished: the log may grow"),
    }
}

/// Every signed checkpoint: the head it signs is in this log with that hash, and the signature
/// verifies under its key — the expected key, when given, with which a finished campaign's end
/// must be signed. No check when the log has no signatures and no key is expected.
fn signatures(
    campaign: &CampaignId,
    events: &[RecordedEvent],
    hashes: &[Hash],
    state: &CampaignState,
    expected: Option<&PublicKey>,
) -> Option<Check> {
    let signed: Vec<(Seq, &HeadSigned)> = events
        .iter()
        .filter_map(|e| match e.payload.known() {
            Some(Payload::HeadSigned(p)) => Some((e.seq, p)),
            _ => None,
        })
        .collect();
    if signed.is_empty() && expected.is_none() {
        return None;
    }
    let fail = |detail: String| Some(Check::new("signatures", false, detail));
    let mut keys = Vec::new();
    for (at, p) in &signed {
        let what = format!("event {at} signs head {}:{}", p.seq, p.head_hash);
        match hashes.get(p.seq as usize) {
            Some(hash) if *hash == p.head_hash => {}
            Some(hash) => {
                return fail(format!(
                    "{what}, but event {} has hash {hash}: the log was rewritten at or before event {} after it was signed",
                    p.seq, p.seq
                ));
            }
            None => return fail(format!("{what}, which is not in this log")),
        }
        let key = match p.verify(campaign) {
            Ok(key) => key,
            Err(error) => return fail(format!("{what}: {error}")),
        };
        if let Some(expected) = expected
            && key != *expected
        {
            return fail(format!("{what} with key {key}, not the given key {expected}"));
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let Some((last_at, last)) = signed.last() else {
        let key = expected.expect("checked above");
        return fail(format!("the log carries no signature by key {key}"));
    };
    if let (Some(_), Some(finished)) = (expected, state.finished_seq)
        && last.seq < finished.0
    {
        return fail(format!(
            "the last signature (event {last_at}) covers events 0-{}; CampaignFinished (event {finished}) is signed by none",
            last.seq
        ));
    }
    let later = hashes.len() as u64 - last_at.0 - 1;
    let by = keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let trust = match (expected, keys.len()) {
        (Some(_), _) => "the given key",
        (None, 1) => "key",
        (None, _) => "keys",
    };
    let mut detail = format!(
        "{} verified, by {trust} {by}; the last (event {last_at}) covers events 0-{} (head {}:{}), {} recorded after it",
        plural(signed.len() as u64, "signed checkpoint"),
        last.seq,
        last.seq,
        last.head_hash,
        plural(later, "event"),
    );
    if expected.is_none() {
        detail.push_str(" (pass --public-key to check the key is one you trust)");
    }
    Some(Check::new("signatures", true, detail))
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

/// The head of a verified read: the last event's position and hash.
pub(crate) fn last_head(read: &Read) -> Option<Head> {
    read.hashes.last().map(|hash| Head { next: Seq(read.hashes.len() as u64), hash: *hash })
}
