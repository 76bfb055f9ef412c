//! Decoding what a fold needs of a stored event — position, identity, time and payload — in
//! one pass over its body, and preparing events for an in-order fold ([`PreparedEvent`]).
//!
//! [`crate::StoredEvent::decode`] builds a whole [`crate::RecordedEvent`]: it parses the envelope
//! with the payload left raw (a scan to find its end), then parses the payload again, and
//! allocates the actor, campaign and correlation. Replaying a long log decodes every event, so
//! this path deserialises a current-version payload in place, borrows the envelope fields it
//! only compares, and skips the ones a fold never reads. Older versions and unknown types go
//! through [`Upcasters::decode`] as usual.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::canonical;
use crate::chain::{HashedLink, Placement, check_placement};
use crate::envelope::StoredEvent;
use crate::ids::{CampaignId, EventId, Seq};
use crate::payload::{DecodeError, DecodedPayload, Payload, Upcasters};
use crate::store::StoreError;
use crate::text::{CowStr, deserialize_timestamp};

/// The parts of an event a projection folds.
#[derive(Debug)]
pub struct LeanEvent {
    /// Position within the campaign.
    pub seq: Seq,
    /// Identity.
    pub id: EventId,
    /// When the actor recorded it.
    pub recorded_at: DateTime<Utc>,
    /// What happened (or an unknown type, preserved).
    pub payload: DecodedPayload,
}

/// An event made ready for a fold, on any thread: its body hashed for the in-order chain check
/// ([`crate::ChainVerifier::check_link`]) and decoded. The fold checks the link first and only
/// then looks at the decoding, so a broken chain is reported before anything in its bodies.
#[derive(Debug)]
pub struct PreparedEvent {
    /// The chain fields and the body's hash.
    pub link: HashedLink,
    /// The decoded event, or why it could not be decoded (or was misplaced).
    pub event: Result<LeanEvent, StoreError>,
}

impl StoredEvent {
    /// Hashes and decodes the event for a fold.
    pub fn prepare(&self, campaign: &CampaignId, upcasters: &Upcasters) -> PreparedEvent {
        PreparedEvent { link: HashedLink::of(self), event: self.decode_lean(campaign, upcasters) }
    }

    /// Decodes the parts a fold needs, checking that the body belongs where it is stored (its
    /// campaign, position and id), as the chain check does.
    pub fn decode_lean(&self, campaign: &CampaignId, upcasters: &Upcasters) -> Result<LeanEvent, StoreError> {
        // Bodies as this crate writes them take the fast road; anything it declines, or whose
        // payload does not decode, the general one, which also words the errors.
        if let Some(event) = self.decode_canonical(campaign) {
            return event;
        }
        let envelope = |message: String| DecodeError::Envelope { seq: self.seq, message };
        let mut de = serde_json::Deserializer::from_str(&self.body);
        let body = de.deserialize_map(BodyVisitor).map_err(|e| envelope(e.to_string()))?;
        de.end().map_err(|e| envelope(e.to_string()))?;
        let missing = |field: &str| envelope(format!("missing field `{field}`"));
        let (seq, id) = (body.seq.ok_or_else(|| missing("seq"))?, body.id.ok_or_else(|| missing("id"))?);
        let placed_campaign = body.campaign.ok_or_else(|| missing("campaign"))?;
        check_placement(campaign, self, Placement { campaign: &placed_campaign, seq, id })?;
        let recorded_at = body.recorded_at.ok_or_else(|| missing("recorded_at"))?;
        let payload = match body.payload {
            Some(LeanPayload::Decoded(payload)) => DecodedPayload::Known(payload),
            Some(LeanPayload::Raw(raw)) => {
                let type_name = body.type_name.ok_or_else(|| missing("type"))?;
                upcasters.decode(&type_name, body.version.ok_or_else(|| missing("version"))?, raw.get())?
            }
            None => return Err(missing("payload").into()),
        };
        Ok(LeanEvent { seq, id, recorded_at, payload })
    }

    /// The fast road: a canonical body with a current-version payload, or `None`.
    fn decode_canonical(&self, campaign: &CampaignId) -> Option<Result<LeanEvent, StoreError>> {
        let body = canonical::split(&self.body)?;
        if Payload::current_version(body.type_name) != Some(body.version) {
            return None;
        }
        let placed = Placement { campaign: body.campaign, seq: body.seq, id: body.id };
        if let Err(misplaced) = check_placement(campaign, self, placed) {
            return Some(Err(misplaced.into()));
        }
        let mut de = serde_json::Deserializer::from_str(body.payload);
        let payload = Payload::deserialize_current(body.type_name, &mut de).ok()?;
        de.end().ok()?;
        let (seq, id, recorded_at) = (body.seq, body.id, body.recorded_at);
        Some(Ok(LeanEvent { seq, id, recorded_at, payload: DecodedPayload::Known(payload) }))
    }
}

/// The envelope fields read, as they come.
#[derive(Default)]
struct LeanBody<'a> {
    campaign: Option<Cow<'a, str>>,
    seq: Option<Seq>,
    id: Option<EventId>,
    recorded_at: Option<DateTime<Utc>>,
    type_name: Option<Cow<'a, str>>,
    version: Option<u32>,
    payload: Option<LeanPayload<'a>>,
}

#[allow(clippy::large_enum_variant)] // lives for one parse; a box would cost an allocation per event
enum LeanPayload<'a> {
    /// A current-version payload, deserialised where it stood.
    Decoded(Payload),
    /// Anything else, for the upcasters.
    Raw(&'a RawValue),
}

/// The envelope's keys, matched without allocating them.
enum Field {
    Campaign,
    Seq,
    Id,
    RecordedAt,
    Type,
    Version,
    Payload,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key;

        impl Visitor<'_> for Key {
            type Value = Field;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Field, E> {
                Ok(match key {
                    "campaign" => Field::Campaign,
                    "seq" => Field::Seq,
                    "id" => Field::Id,
                    "recorded_at" => Field::RecordedAt,
                    "type" => Field::Type,
                    "version" => Field::Version,
                    "payload" => Field::Payload,
                    _ => Field::Other,
                })
            }
        }

        deserializer.deserialize_identifier(Key)
    }
}

/// `recorded_at`, through the fast timestamp parser.
struct Timestamp(DateTime<Utc>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_timestamp(deserializer).map(Timestamp)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = LeanBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut body = LeanBody::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Campaign => body.campaign = Some(map.next_value::<CowStr>()?.0),
                Field::Seq => body.seq = Some(map.next_value()?),
                Field::Id => body.id = Some(map.next_value()?),
                Field::RecordedAt => body.recorded_at = Some(map.next_value::<Timestamp>()?.0),
                Field::Type => body.type_name = Some(map.next_value::<CowStr>()?.0),
                Field::Version => body.version = Some(map.next_value()?),
                Field::Payload => {
                    // Bodies are written with the type and version before the payload; one that
                    // is not falls back to the raw path.
                    let current = match (&body.type_name, body.version) {
                        (Some(t), Some(v)) => Payload::current_version(t) == Some(v),
                        _ => false,
                    };
                    body.payload = Some(if current {
                        let type_name = body.type_name.as_deref().expect("checked above");
                        let payload = map
                            .next_value_seed(PayloadSeed(type_name))
                            .map_err(|e| A::Error::custom(format!("payload of type {type_name}: {e}")))?;
                        LeanPayload::Decoded(payload)
                    } else {
                        LeanPayload::Raw(map.next_value()?)
                    });
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(body)
    }
}

struct PayloadSeed<'t>(&'t str);

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Payload;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Payload, D::Error> {
        Payload::deserialize_current(self.0, deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;
    use crate::{ActorRef, NewEvent};

    fn stored(campaign: &CampaignId, seq: u64, payload: &Payload) -> StoredEvent {
        let event = NewEvent::new(EventId::random(), ActorRef::new("test", "test"), payload);
        let body = event.body(campaign, Seq(seq)).unwrap();
        StoredEvent {
            seq: Seq(seq),
            id: event.id,
            prev_hash: crate::Hash::GENESIS,
            hash: crate::Hash::GENESIS,
            body,
        }
    }

    #[test]
    fn lean_decoding_agrees_with_full_decoding() {
        let campaign = CampaignId::new("lean").unwrap();
        let upcasters = Upcasters::standard();
        for (seq, payload) in synthetic::experiment(3).iter().enumerate() {
            let stored = stored(&campaign, seq as u64, payload);
            let full = stored.decode(&upcasters).unwrap();
            let lean = stored.decode_lean(&campaign, &upcasters).unwrap();
            assert_eq!((lean.seq, lean.id, lean.recorded_at), (full.seq, full.id, full.recorded_at));
            assert_eq!(lean.payload, full.payload);
        }
    }

    #[test]
    fn misplaced_and_malformed_bodies_are_errors() {
        let campaign = CampaignId::new("lean").unwrap();
        let upcasters = Upcasters::standard();
        let payload = &synthetic::experiment(1)[0];
        let mut moved = stored(&campaign, 4, payload);
        moved.seq = Seq(5);
        let error = moved.decode_lean(&campaign, &upcasters).unwrap_err().to_string();
        assert!(error.contains("seq"), "{error}");
        let other = CampaignId::new("other").unwrap();
        let error = stored(&campaign, 0, payload).decode_lean(&other, &upcasters).unwrap_err().to_string();
        assert!(error.contains("campaign"), "{error}");
        let mut broken = stored(&campaign, 0, payload);
        broken.body = broken.body.replace("\"experiment\":1", "\"experiment\":\"one\"");
        let error = broken.decode_lean(&campaign, &upcasters).unwrap_err().to_string();
        assert!(error.contains("ParentSelected"), "{error}");
        broken.body.push('x');
        assert!(broken.decode_lean(&campaign, &upcasters).is_err());
    }

    #[test]
    fn bodies_off_the_fast_road_decode_the_same() {
        let campaign = CampaignId::new("lean").unwrap();
        let upcasters = Upcasters::standard();
        let canonical = stored(&campaign, 7, &synthetic::experiment(2)[1]);
        let expected = canonical.decode_lean(&campaign, &upcasters).unwrap();
        // Valid JSON the canonical reader declines: whitespace, a field after the payload.
        let spaced = canonical.body.replacen("\"seq\":7", "\"seq\": 7", 1);
        let extra = format!("{},\"extra\":true}}", &canonical.body[..canonical.body.len() - 1]);
        for body in [spaced, extra] {
            let event = StoredEvent { body, ..canonical.clone() };
            let lean = event.decode_lean(&campaign, &upcasters).unwrap();
            assert_eq!(
                (lean.seq, lean.id, lean.recorded_at),
                (expected.seq, expected.id, expected.recorded_at)
            );
            assert_eq!(lean.payload, expected.payload);
        }
        // A truncated body is an error on either road.
        let truncated = canonical.body[..canonical.body.len() - 1].to_owned();
        let event = StoredEvent { body: truncated, ..canonical };
        assert!(event.decode_lean(&campaign, &upcasters).is_err());
    }

    #[test]
    fn unknown_types_come_back_unknown() {
        let campaign = CampaignId::new("lean").unwrap();
        let mut event = stored(&campaign, 0, &synthetic::experiment(1)[0]);
        event.body = event.body.replace("\"type\":\"ParentSelected\"", "\"type\":\"SomethingNew\"");
        let lean = event.decode_lean(&campaign, &Upcasters::standard()).unwrap();
        assert!(matches!(lean.payload, DecodedPayload::Unknown(_)));
    }
}
