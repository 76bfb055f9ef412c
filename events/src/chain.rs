//! Checking a chain: every event in its place, linked to its predecessor, its body hashing to
//! its stored hash ([`ChainVerifier`]), and the log ending where the store's head says.

use crate::envelope::{EventBody, StoredEvent};
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};

/// What is wrong with one event of a chain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainProblem {
    /// The event at this position is absent (deleted, or the log was truncated).
    #[error("event is missing (found seq {found} where seq {expected} belongs)")]
    Missing {
        /// The position that should come next.
        expected: Seq,
        /// The position actually found there.
        found: Seq,
    },
    /// The store's recorded head says the log is longer than the events present.
    #[error("log ends early: the store's head says {head_next} events, but event {present} is not there")]
    Truncated {
        /// Number of events the campaign head records.
        head_next: Seq,
        /// Number of events that were read.
        present: Seq,
    },
    /// Events lie past the store's recorded head: put there around the store, since an append
    /// writes its events and the new head together.
    #[error("log runs past the store's head: the head says {head_next} events, {present} present")]
    PastHead {
        /// Number of events the campaign head records.
        head_next: Seq,
        /// Number of events that were read.
        present: Seq,
    },
    /// The stored `prev_hash` does not equal the previous event's hash.
    #[error("prev_hash {found} does not match the previous event's hash {expected}")]
    BrokenLink {
        /// Hash of the previous event.
        expected: Hash,
        /// `prev_hash` stored with this event.
        found: Hash,
    },
    /// The stored body does not hash to the stored hash: the body or the hash was edited.
    #[error("stored body hashes to {computed}, but the stored hash is {stored}")]
    BodyEdited {
        /// SHA-256 over prev_hash and the stored body.
        computed: Hash,
        /// The hash column.
        stored: Hash,
    },
    /// The body says it is a different event than the row it is stored in (reordered rows).
    #[error("body records {field} {in_body}, but it is stored as {in_row}")]
    Misplaced {
        /// Which envelope field disagrees ("seq", "campaign", "id").
        field: &'static str,
        /// Value inside the hashed body.
        in_body: String,
        /// Value of the row/column.
        in_row: String,
    },
    /// The body is not a valid event envelope.
    #[error("body is not a valid event: {0}")]
    Undecodable(String),
    /// The recorded head hash differs from the hash of the last event.
    #[error("the store's head hash {head} differs from the last event's hash {last}")]
    HeadMismatch {
        /// Hash recorded as the campaign head.
        head: Hash,
        /// Hash of the last event present.
        last: Hash,
    },
}

/// The first event of a chain that fails verification.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("campaign {campaign}: event {seq}{id}: {problem}", id = id.map(|i| format!(" ({i})")).unwrap_or_default())]
pub struct ChainError {
    /// The campaign whose chain broke.
    pub campaign: CampaignId,
    /// Position of the first bad event.
    pub seq: Seq,
    /// Its id, when the row is present.
    pub id: Option<EventId>,
    /// What is wrong with it (boxed: errors stay small on the happy path).
    pub problem: Box<ChainProblem>,
}

/// Where a hashed body says its event belongs.
pub(crate) struct Placement<'a> {
    pub campaign: &'a str,
    pub seq: Seq,
    pub id: EventId,
}

/// The envelope fields inside a hashed body must say where the event is stored: a row whose body
/// belongs to another position, campaign or id was moved there.
pub(crate) fn check_placement(
    campaign: &CampaignId,
    event: &StoredEvent,
    placed: Placement,
) -> Result<(), ChainError> {
    let misplaced = |field, in_body: String, in_row: String| {
        Err(chain_error(campaign, event.seq, event.id, ChainProblem::Misplaced { field, in_body, in_row }))
    };
    if placed.seq != event.seq {
        return misplaced("seq", placed.seq.to_string(), event.seq.to_string());
    }
    if placed.campaign != campaign.as_str() {
        return misplaced("campaign", placed.campaign.to_owned(), campaign.to_string());
    }
    if placed.id != event.id {
        return misplaced("id", placed.id.to_string(), event.id.to_string());
    }
    Ok(())
}

fn chain_error(campaign: &CampaignId, seq: Seq, id: EventId, problem: ChainProblem) -> ChainError {
    ChainError { campaign: campaign.clone(), seq, id: Some(id), problem: Box::new(problem) }
}

/// An event's chain fields with the hash its body chains to from its stored predecessor hash:
/// all that the in-order link check needs. The hashing is the costly part and needs no order,
/// so a long log can hash its bodies on several threads, where they lie.
#[derive(Clone, Copy, Debug)]
pub struct HashedLink {
    /// Position, from the store's row.
    pub seq: Seq,
    /// Identity, from the store's row.
    pub id: EventId,
    /// The previous event's hash, as stored.
    pub prev_hash: Hash,
    /// This event's hash, as stored.
    pub hash: Hash,
    /// `SHA-256(prev_hash || body)`, computed from the stored body.
    pub computed: Hash,
}

impl HashedLink {
    /// Hashes the event's body.
    pub fn of(event: &StoredEvent) -> Self {
        let computed = Hash::chain(&event.prev_hash, event.body.as_bytes());
        Self { seq: event.seq, id: event.id, prev_hash: event.prev_hash, hash: event.hash, computed }
    }
}

/// Checks events one by one, in order, against the chain rule; remembers where it is so a long
/// log can be verified in batches (or while following it live).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    campaign: CampaignId,
    next: Seq,
    prev: Hash,
}

impl ChainVerifier {
    /// A verifier for the whole chain, starting at event 0.
    pub fn new(campaign: CampaignId) -> Self {
        Self::resume(campaign, Seq(0), Hash::GENESIS)
    }

    /// A verifier that continues a chain already verified up to `next - 1` with hash `prev`.
    pub fn resume(campaign: CampaignId, next: Seq, prev: Hash) -> Self {
        Self { campaign, next, prev }
    }

    /// The campaign whose chain this checks.
    pub fn campaign(&self) -> &CampaignId {
        &self.campaign
    }

    /// The position expected next.
    pub fn next_seq(&self) -> Seq {
        self.next
    }

    /// Hash of the last verified event (or the starting point).
    pub fn last_hash(&self) -> Hash {
        self.prev
    }

    /// Verifies the next event: its position, its link, its body hash and the envelope fields
    /// inside the hashed body.
    pub fn check(&mut self, event: &StoredEvent) -> Result<(), ChainError> {
        self.check_link(&HashedLink::of(event))?;
        let body = EventBody::parse(&event.body).map_err(|e| {
            chain_error(&self.campaign, event.seq, event.id, ChainProblem::Undecodable(e.to_string()))
        })?;
        check_placement(
            &self.campaign,
            event,
            Placement { campaign: body.campaign.as_str(), seq: body.seq, id: body.id },
        )
    }

    /// The in-order half of [`Self::check`]: position, link and body hash, the body already
    /// hashed. A reader that parses the body anyway (replay, through [`StoredEvent::prepare`])
    /// checks the placement on its own parse instead of parsing twice, on another thread.
    pub fn check_link(&mut self, event: &HashedLink) -> Result<(), ChainError> {
        if event.seq != self.next {
            return Err(ChainError {
                campaign: self.campaign.clone(),
                seq: self.next,
                id: None,
                problem: Box::new(ChainProblem::Missing { expected: self.next, found: event.seq }),
            });
        }
        if event.prev_hash != self.prev {
            let problem = ChainProblem::BrokenLink { expected: self.prev, found: event.prev_hash };
            return Err(chain_error(&self.campaign, event.seq, event.id, problem));
        }
        // The body was hashed from its stored prev hash, which was just found equal to ours.
        if event.computed != event.hash {
            let problem = ChainProblem::BodyEdited { computed: event.computed, stored: event.hash };
            return Err(chain_error(&self.campaign, event.seq, event.id, problem));
        }
        self.prev = event.hash;
        self.next = self.next.next();
        Ok(())
    }

    /// Checks that the chain ends where the store's head says it ends.
    pub fn finish(&self, head_next: Seq, head_hash: Hash) -> Result<(), ChainError> {
        let fail = |problem| ChainError {
            campaign: self.campaign.clone(),
            seq: self.next,
            id: None,
            problem: Box::new(problem),
        };
        if head_next > self.next {
            return Err(fail(ChainProblem::Truncated { head_next, present: self.next }));
        }
        if head_next < self.next {
            let problem = ChainProblem::PastHead { head_next, present: self.next };
            return Err(ChainError { seq: head_next, ..fail(problem) });
        }
        if head_hash != self.prev {
            return Err(fail(ChainProblem::HeadMismatch { head: head_hash, last: self.prev }));
        }
        Ok(())
    }
}
