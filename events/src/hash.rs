//! The hash chain: `hash_n = SHA-256(hash_{n-1} || body_n)`, with `hash_{-1}` = 32 zero bytes.
//!
//! `body_n` is the exact UTF-8 text the store holds for event `n`, never a re-serialisation, so
//! anyone can check a log with `sqlite3`, `psql` and a SHA-256 tool. SHA-256 rather than BLAKE3
//! for that reason: every language's standard library has it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::{EventBody, StoredEvent};
use crate::ids::{CampaignId, EventId, Seq};

/// A SHA-256 digest, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first event of every campaign.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// The hash of the event whose stored body is `body`, following the event hashed `prev`.
    pub fn chain(prev: &Hash, body: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(prev.0);
        hasher.update(body);
        Hash(hasher.finalize().into())
    }

    /// SHA-256 of arbitrary bytes (programs, projection states).
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// The digest as hex text.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..12])
    }
}

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid hash {0:?}: expected 64 hex digits")]
pub struct InvalidHash(pub String);

impl FromStr for Hash {
    type Err = InvalidHash;
    fn from_str(s: &str) -> Result<Self, InvalidHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| InvalidHash(s.to_owned()))?;
        Ok(Hash(bytes))
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

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
    #[error("log ends early: the store's head says {head_next} events, only {present} present")]
    Truncated {
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
        let fail = |problem| ChainError {
            campaign: self.campaign.clone(),
            seq: self.next,
            id: (event.seq == self.next).then_some(event.id),
            problem: Box::new(problem),
        };
        if event.seq != self.next {
            return Err(fail(ChainProblem::Missing { expected: self.next, found: event.seq }));
        }
        if event.prev_hash != self.prev {
            return Err(fail(ChainProblem::BrokenLink { expected: self.prev, found: event.prev_hash }));
        }
        let computed = Hash::chain(&self.prev, event.body.as_bytes());
        if computed != event.hash {
            return Err(fail(ChainProblem::BodyEdited { computed, stored: event.hash }));
        }
        let body =
            EventBody::parse(&event.body).map_err(|e| fail(ChainProblem::Undecodable(e.to_string())))?;
        let misplaced = |field, in_body: String, in_row: String| {
            Err(fail(ChainProblem::Misplaced { field, in_body, in_row }))
        };
        if body.seq != event.seq {
            return misplaced("seq", body.seq.to_string(), event.seq.to_string());
        }
        if body.campaign != self.campaign {
            return misplaced("campaign", body.campaign.to_string(), self.campaign.to_string());
        }
        if body.id != event.id {
            return misplaced("id", body.id.to_string(), event.id.to_string());
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
        if head_next != self.next {
            return Err(fail(ChainProblem::Truncated { head_next, present: self.next }));
        }
        if head_hash != self.prev {
            return Err(fail(ChainProblem::HeadMismatch { head: head_hash, last: self.prev }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_sha256_of_prev_then_body() {
        // Independent check of the documented rule, using a known SHA-256 vector:
        // SHA-256 of 32 zero bytes followed by "abc".
        let mut input = vec![0u8; 32];
        input.extend_from_slice(b"abc");
        assert_eq!(Hash::chain(&Hash::GENESIS, b"abc"), Hash::of(&input));
        assert_eq!(
            Hash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_text_round_trips() {
        let h = Hash::of(b"x");
        assert_eq!(h.to_hex().parse::<Hash>().unwrap(), h);
        assert!("00".parse::<Hash>().is_err());
    }
}
