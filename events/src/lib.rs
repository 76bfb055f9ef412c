//! `lineage-events`: the event log every part of lineage rests on.
//!
//! A campaign is an append-only sequence of events. Each event is an *envelope* (campaign,
//! position, id, time, actor, causation, correlation) around a typed *payload* ([`Payload`]),
//! stored as one JSON text (the *body*, see [`envelope`]) and chained by
//! `hash_n = SHA-256(hash_{n-1} || body_n)` ([`hash`]; checked by [`chain`]). Everything else
//! lineage knows — the candidate pool, the leaderboard, the family tree — is a fold of these
//! events.
//!
//! Stores implement [`EventStore`]: [`SqliteStore`] (the embedded default), [`PostgresStore`]
//! (many machines, one log) and [`MemoryStore`] (the reference, for tests). Appends carry the
//! position the writer expects (optimistic concurrency); decision events carry ids derived from
//! the decision ([`EventId::derive`]) so a retried append is recognised rather than duplicated.
//! [`Subscription`] follows a campaign: catch-up, then live, verifying the chain as it goes.
//!
//! The key design decision: the hash covers the exact stored bytes, and the stores keep those
//! bytes verbatim (`TEXT`, never `jsonb`), so a log can be verified by anyone with SQL and SHA-256,
//! and no re-serialisation can ever make a valid log look tampered, or a tampered one valid.
//!
//! This crate knows nothing of models, training or actors.

#![warn(missing_docs)]

mod canonical;
pub mod chain;
pub mod envelope;
pub mod hash;
mod hex;
pub mod ids;
pub mod lean;
pub mod limits;
pub mod payload;
pub mod signing;
pub mod store;
pub mod synthetic;
mod text;
pub mod visible;

pub use chain::{ChainError, ChainProblem, ChainVerifier, HashedLink};
pub use envelope::{ActorRef, EncodedPayload, EventBody, NewEvent, RecordedEvent, StoredEvent};
pub use hash::{Hash, HashWriter};
pub use ids::{ArchId, CampaignId, EventId, InvalidId, RunId, Seq};
pub use lean::{LeanEvent, PreparedEvent};
pub use payload::{DecodeError, DecodedPayload, Payload, UnknownPayload, Upcasters};
pub use signing::{KeyError, PublicKey, SignatureError, SigningKey};
pub use store::{
    Appended, CampaignSummary, EventStore, Head, LogEnd, MemoryStore, PostgresStore, SqliteStore, StoreError,
    Subscription, chain_from, open_store, open_store_read_only, read_only, read_verified, verify_campaign,
};

/// Version of this build of lineage, recorded in every actor reference.
pub const CODE_VERSION: &str = env!("CARGO_PKG_VERSION");
