//! Decoding what a fold needs of a stored event — position, identity, time and payload — in
//! one pass over its body.
//!
//! [`StoredEvent::decode`] builds a whole [`crate::RecordedEvent`]: it parses the envelope
//! with the payload left raw (a scan to find its end), then parses the payload again, and
//! allocates the actor, campaign and correlation. Replaying a long log decodes every event, so
//! this path deserialises a current-version payload in place, borrows the envelope fields it
//! only compares, and skips the ones a fold never reads. Older versions and unknown types go
//! through [`Upcasters::decode`] as usual.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::envelope::StoredEvent;
use crate::hash::{Placement, check_placement};
use crate::ids::{CampaignId, EventId, Seq};
use crate::payload::{DecodeError, DecodedPayload, Payload, Upcasters};
use crate::store::StoreError;

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

impl StoredEvent {
    /// Decodes the parts a fold needs, checking that the body belongs where it is stored (its
    /// campaign, position and id), as the chain check does.
    pub fn decode_lean(&self, campaign: &CampaignId, upcasters: &Upcasters) -> Result<LeanEvent, StoreError> {
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

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = LeanBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut body = LeanBody::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "campaign" => body.campaign = Some(map.next_value()?),
                "seq" => body.seq = Some(map.next_value()?),
                "id" => body.id = Some(map.next_value()?),
                "recorded_at" => body.recorded_at = Some(map.next_value()?),
                "type" => body.type_name = Some(map.next_value()?),
                "version" => body.version = Some(map.next_value()?),
                "payload" => {
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
                _ => {
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
            type_name: payload.type_name().to_owned(),
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
    fn unknown_types_come_back_unknown() {
        let campaign = CampaignId::new("lean").unwrap();
        let mut event = stored(&campaign, 0, &synthetic::experiment(1)[0]);
        event.body = event.body.replace("\"type\":\"ParentSelected\"", "\"type\":\"SomethingNew\"");
        let lean = event.decode_lean(&campaign, &Upcasters::standard()).unwrap();
        assert!(matches!(lean.payload, DecodedPayload::Unknown(_)));
    }
}
