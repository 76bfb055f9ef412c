//! The envelope around every payload, and the exact text the stores keep.
//!
//! An event is stored as one JSON object, its *body*, whose fields appear in this order:
//! `campaign`, `seq`, `id`, `recorded_at`, `actor`, `causation`, `correlation`, `type`,
//! `version`, `payload`. The body is what the hash chain covers; stores keep it byte for byte.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::hash::Hash;
use crate::ids::{ArchId, CampaignId, EventId, Seq};
// Defined with the payloads, which encode into it; re-exported here, where it always was.
pub use crate::payload::EncodedPayload;
use crate::payload::{DecodeError, DecodedPayload, Payload, Upcasters};

/// Who decided: the kind of actor, its instance name and the code version that ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRef {
    /// Role, e.g. `researcher`, `trainer`, `analyst`, `orchestrator`, `operator` (a person at
    /// the CLI). Free text so that an analyst written elsewhere can name itself.
    pub kind: String,
    /// Instance, e.g. `trainer-2` or `edit-stats`.
    pub name: String,
    /// Version of the code that made the decision.
    pub version: String,
}

impl ActorRef {
    /// An actor of this build of lineage.
    pub fn new(kind: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), name: name.to_owned(), version: crate::CODE_VERSION.to_owned() }
    }
}

/// An event about to be appended: everything but its position and hashes, which the store
/// assigns.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Identity; derived from the decision for decision events (see [`EventId::derive`]).
    pub id: EventId,
    /// When the actor recorded it (UTC).
    pub recorded_at: DateTime<Utc>,
    /// Who decided.
    pub actor: ActorRef,
    /// The event this one reacts to.
    pub causation: Option<EventId>,
    /// The architecture it is about.
    pub correlation: Option<ArchId>,
    /// What happened.
    pub payload: EncodedPayload,
}

impl NewEvent {
    /// An event with the given identity and payload, recorded now (to the microsecond, the
    /// precision of the stored body), reacting to nothing.
    pub fn new(id: EventId, actor: ActorRef, payload: &Payload) -> Self {
        Self {
            id,
            recorded_at: Utc::now().trunc_subsecs(6),
            actor,
            causation: None,
            correlation: payload.arch().cloned(),
            payload: payload.into(),
        }
    }

    /// Sets the event this one reacts to.
    pub fn caused_by(mut self, cause: EventId) -> Self {
        self.causation = Some(cause);
        self
    }

    /// The stored body of this event at position `seq` of `campaign`: the bytes that get hashed.
    pub fn body(&self, campaign: &CampaignId, seq: Seq) -> Result<String, DecodeError> {
        // Borrowing parse: validates the payload JSON without copying it.
        let payload: &RawValue = serde_json::from_str(&self.payload.json).map_err(|e| DecodeError::Json {
            type_name: self.payload.type_name.clone(),
            message: e.to_string(),
        })?;
        let body = BodyOut {
            campaign,
            seq,
            id: self.id,
            recorded_at: self.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            actor: &self.actor,
            causation: self.causation,
            correlation: self.correlation.as_ref(),
            type_name: &self.payload.type_name,
            version: self.payload.version,
            payload,
        };
        let mut text = Vec::with_capacity(self.payload.json.len() + 384);
        serde_json::to_writer(&mut text, &body).expect("an envelope of valid JSON always serialises");
        Ok(String::from_utf8(text).expect("serde_json writes UTF-8"))
    }
}

#[derive(Serialize)]
struct BodyOut<'a> {
    campaign: &'a CampaignId,
    seq: Seq,
    id: EventId,
    recorded_at: String,
    actor: &'a ActorRef,
    causation: Option<EventId>,
    correlation: Option<&'a ArchId>,
    #[serde(rename = "type")]
    type_name: &'a str,
    version: u32,
    payload: &'a RawValue,
}

/// A stored body, parsed lazily: the payload stays raw JSON until someone asks for it.
#[derive(Debug, Deserialize)]
pub struct EventBody<'a> {
    /// Campaign the event belongs to.
    pub campaign: CampaignId,
    /// Position within the campaign.
    pub seq: Seq,
    /// Identity.
    pub id: EventId,
    /// When the actor recorded it.
    #[serde(deserialize_with = "crate::text::deserialize_timestamp")]
    pub recorded_at: DateTime<Utc>,
    /// Who decided.
    pub actor: ActorRef,
    /// The event this one reacts to.
    pub causation: Option<EventId>,
    /// The architecture it is about.
    pub correlation: Option<ArchId>,
    /// Payload type name.
    #[serde(rename = "type", borrow)]
    pub type_name: std::borrow::Cow<'a, str>,
    /// Payload schema version.
    pub version: u32,
    /// The payload, unparsed.
    #[serde(borrow)]
    pub payload: &'a RawValue,
}

impl<'a> EventBody<'a> {
    /// Parses a stored body.
    pub fn parse(body: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// An event as a store returns it: position, identity, hashes and the exact stored body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position within the campaign (from the store's row, checked against the body on verify).
    pub seq: Seq,
    /// Identity (from the store's row).
    pub id: EventId,
    /// Hash of the previous event ([`Hash::GENESIS`] for event 0).
    pub prev_hash: Hash,
    /// `SHA-256(prev_hash || body)`.
    pub hash: Hash,
    /// The stored JSON text, byte for byte.
    pub body: String,
}

impl StoredEvent {
    /// Parses the body and decodes the payload, upcasting old versions; a type this build does
    /// not know comes back as [`DecodedPayload::Unknown`], not as an error.
    pub fn decode(&self, upcasters: &Upcasters) -> Result<RecordedEvent, DecodeError> {
        let body = EventBody::parse(&self.body)
            .map_err(|e| DecodeError::Envelope { seq: self.seq, message: e.to_string() })?;
        let payload = upcasters.decode(&body.type_name, body.version, body.payload.get())?;
        Ok(RecordedEvent {
            campaign: body.campaign,
            seq: body.seq,
            id: body.id,
            recorded_at: body.recorded_at,
            actor: body.actor,
            causation: body.causation,
            correlation: body.correlation,
            payload,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// A fully decoded event.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// Campaign the event belongs to.
    pub campaign: CampaignId,
    /// Position within the campaign.
    pub seq: Seq,
    /// Identity.
    pub id: EventId,
    /// When the actor recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Who decided.
    pub actor: ActorRef,
    /// The event this one reacts to.
    pub causation: Option<EventId>,
    /// The architecture it is about.
    pub correlation: Option<ArchId>,
    /// What happened (or an unknown type, preserved).
    pub payload: DecodedPayload,
    /// Hash of the previous event.
    pub prev_hash: Hash,
    /// Hash of this event.
    pub hash: Hash,
}
