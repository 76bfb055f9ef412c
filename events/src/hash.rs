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
    /// Hex, written from the stack: a long campaign's state digest writes one per architecture.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0_u8; 64];
        hex::encode_to_slice(self.0, &mut hex).expect("64 hex digits for 32 bytes");
        f.write_str(std::str::from_utf8(&hex).expect("hex is ASCII"))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..12])
    }
}

/// SHA-256 of whatever is written into it: hashes a serialisation as it streams out, without
/// holding it in memory.
#[derive(Default)]
pub struct HashWriter(Sha256);

impl HashWriter {
    /// The digest of everything written.
    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Text that is not 64 hex digits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid hash {0:?}: expected 64 hex digits")]
pub struct InvalidHash(pub String);

impl FromStr for Hash {
    type Err = InvalidHash;
    fn from_str(s: &str) -> Result<Self, InvalidHash> {
        decode_hex(s).map(Hash).ok_or_else(|| InvalidHash(s.to_owned()))
    }
}

/// Decodes exactly `N` bytes of hex (either case). Every event read parses two hashes and an id,
/// so this is on replay's hot path: plain arithmetic per digit and no branch, which the
/// compiler turns into vector code; validity is folded into one flag and looked at once.
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    /// A digit's value, and whether the byte was no hex digit at all.
    #[inline(always)]
    fn nibble(c: u8) -> (u8, bool) {
        let digit = c.wrapping_sub(b'0');
        let letter = (c | 0x20).wrapping_sub(b'a');
        let is_digit = digit < 10;
        let value = if is_digit { digit } else { letter.wrapping_add(10) };
        (value, !is_digit && letter >= 6)
    }
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = false;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let ((high, high_bad), (low, low_bad)) = (nibble(pair[0]), nibble(pair[1]));
        bad |= high_bad | low_bad;
        *byte = high << 4 | low;
    }
    (!bad).then_some(out)
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::with_str(deserializer, "a hex SHA-256 hash", str::parse)
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
        assert_eq!(h.to_hex().to_uppercase().parse::<Hash>().unwrap(), h);
        assert!("00".parse::<Hash>().is_err());
        let mut bad = h.to_hex();
        bad.replace_range(63..64, "g");
        assert!(bad.parse::<Hash>().is_err());
        bad.replace_range(63..64, "é");
        assert!(bad.parse::<Hash>().is_err());
        // Every ASCII byte that is not a hex digit is refused, wherever it stands.
        for byte in (0u8..128).filter(|b| !b.is_ascii_hexdigit()) {
            for at in [0, 1, 31, 62, 63] {
                let mut text = h.to_hex().into_bytes();
                text[at] = byte;
                let text = String::from_utf8(text).unwrap();
                assert!(text.parse::<Hash>().is_err(), "{text:?}");
            }
        }
    }
}
