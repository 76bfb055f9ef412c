//! Reading the envelope of a body in the exact form this crate writes it
//! ([`crate::NewEvent::body`]: fixed field order, no whitespace), without a general JSON parser.
//!
//! The envelope is about half of what replay parses per event. This reader accepts only that
//! form — ids and names without escapes, canonical numbers, the fast timestamp form — and
//! declines (`None`) at the first byte that differs, so the general parser in
//! [`crate::lean`] sees every other body, valid or not, and reports its errors. Values it skips
//! (actor, causation, correlation) are still checked to be JSON: the forms lineage writes by
//! this reader, any other by serde_json.

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;

use crate::ids::{EventId, Seq};
use crate::text::parse_utc_timestamp;

/// The envelope fields a fold reads, and the payload's JSON text.
pub(crate) struct Envelope<'a> {
    pub campaign: &'a str,
    pub seq: Seq,
    pub id: EventId,
    pub recorded_at: DateTime<Utc>,
    pub type_name: &'a str,
    pub version: u32,
    /// The payload value, up to the body's closing brace (whitespace after it included).
    pub payload: &'a str,
}

/// Splits a body written in the canonical form, or declines.
pub(crate) fn split(body: &str) -> Option<Envelope<'_>> {
    let mut at = Cursor(body);
    at.expect("{\"campaign\":\"")?;
    let campaign = at.plain_string()?;
    at.expect(",\"seq\":")?;
    let seq = Seq(at.unsigned()?);
    at.expect(",\"id\":\"")?;
    let id = at.plain_string()?.parse().ok()?;
    at.expect(",\"recorded_at\":\"")?;
    let recorded_at = parse_utc_timestamp(at.plain_string()?)?;
    for key in [",\"actor\":", ",\"causation\":", ",\"correlation\":"] {
        at.expect(key)?;
        at.skip_value()?;
    }
    at.expect(",\"type\":\"")?;
    let type_name = at.plain_string()?;
    at.expect(",\"version\":")?;
    let version = u32::try_from(at.unsigned()?).ok()?;
    at.expect(",\"payload\":")?;
    let payload = at.0.strip_suffix('}')?;
    Some(Envelope { campaign, seq, id, recorded_at, type_name, version, payload })
}

/// The unread rest of a body.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    fn expect(&mut self, text: &str) -> Option<()> {
        self.0 = self.0.strip_prefix(text)?;
        Some(())
    }

    /// The rest of a string whose opening quote was read: no escapes, no control characters.
    fn plain_string(&mut self) -> Option<&'a str> {
        let end = self.0.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        let (text, rest) = self.0.split_at(end);
        self.0 = rest.strip_prefix('"')?;
        Some(text)
    }

    /// A JSON integer in canonical form (no sign, no leading zero) that fits a `u64`.
    fn unsigned(&mut self) -> Option<u64> {
        let digits = self.0.bytes().take_while(u8::is_ascii_digit).count();
        let (text, rest) = self.0.split_at(digits);
        if digits == 0 || (digits > 1 && text.starts_with('0')) || rest.starts_with(['.', 'e', 'E']) {
            return None;
        }
        self.0 = rest;
        text.parse().ok()
    }

    /// Any one JSON value. What the envelope holds as written — `null`, a plain string, a flat
    /// object of plain strings (an actor) — is read here; anything else is checked by
    /// serde_json, whose stream reader costs more than the rest of the envelope.
    fn skip_value(&mut self) -> Option<()> {
        let before = self.0;
        if self.plain_value().is_some() {
            return Some(());
        }
        self.0 = before;
        let mut values = serde_json::Deserializer::from_str(self.0).into_iter::<IgnoredAny>();
        values.next()?.ok()?;
        self.0 = &self.0[values.byte_offset()..];
        Some(())
    }

    /// `null`, a plain string, or a non-empty object whose values are all plain strings.
    fn plain_value(&mut self) -> Option<()> {
        if self.expect("null").is_some() {
            return Some(());
        }
        if self.expect("\"").is_some() {
            return self.plain_string().map(drop);
        }
        self.expect("{\"")?;
        loop {
            self.plain_string()?;
            self.expect(":\"")?;
            self.plain_string()?;
            if self.expect("}").is_some() {
                return Some(());
            }
            self.expect(",\"")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EventBody;
    use crate::ids::CampaignId;
    use crate::{ActorRef, NewEvent, synthetic};

    fn body(actor: ActorRef, seq: u64) -> String {
        let campaign = CampaignId::new("canon").unwrap();
        let payload = &synthetic::one_of_each()[3];
        let event = NewEvent::new(EventId::random(), actor, payload).caused_by(EventId::random());
        event.body(&campaign, Seq(seq)).unwrap()
    }

    #[test]
    fn written_bodies_split_as_serde_parses_them() {
        let names = ["researcher", "a name with \"quotes\" and \\ and é", "tab\there"];
        for (seq, name) in names.iter().enumerate() {
            let text = body(ActorRef::new("analyst", name), seq as u64 * 1_000_003);
            let ours = split(&text).unwrap_or_else(|| panic!("declined {text}"));
            let serde = EventBody::parse(&text).unwrap();
            assert_eq!(ours.campaign, serde.campaign.as_str());
            assert_eq!((ours.seq, ours.id, ours.recorded_at), (serde.seq, serde.id, serde.recorded_at));
            assert_eq!((ours.type_name, ours.version), (serde.type_name.as_ref(), serde.version));
            assert_eq!(ours.payload, serde.payload.get());
        }
    }

    #[test]
    fn skipped_envelope_values_are_json_whichever_road_reads_them() {
        let text = body(ActorRef::new("researcher", "r"), 12);
        assert!(text.contains(",\"actor\":{\"") && text.contains(",\"causation\":\""), "{text}");
        let valid = [
            text.replacen("\"actor\":{", "\"actor\":{\"n\":{\"m\":[1,\"}\"]},", 1),
            text.replacen("\"actor\":{", "\"actor\":{\"n\":1,", 1),
            text.replacen("\"causation\":\"", "\"causation\":\"\\u0041", 1),
        ];
        for variant in &valid {
            let ours = split(variant).unwrap_or_else(|| panic!("declined {variant}"));
            let whole: serde_json::Value = serde_json::from_str(variant).unwrap();
            assert_eq!(serde_json::from_str::<serde_json::Value>(ours.payload).unwrap(), whole["payload"]);
        }
        let invalid = [
            text.replacen("\"actor\":{", "\"actor\":{\"n\":,", 1),
            text.replacen("\"actor\":{\"", "\"actor\":{\"k\":\"v\",,\"", 1),
            text.replacen("\"causation\":\"", "\"causation\":nul\"", 1),
            text.replacen("\"causation\":\"", "\"causation\":\"\\x", 1),
        ];
        for variant in &invalid {
            assert!(serde_json::from_str::<serde_json::Value>(variant).is_err(), "{variant}");
            assert!(split(variant).is_none(), "accepted {variant}");
        }
    }

    #[test]
    fn anything_else_is_declined() {
        let text = body(ActorRef::new("researcher", "r"), 12);
        let variants = [
            text.replacen("{\"campaign\"", "{ \"campaign\"", 1),
            text.replacen("\"seq\":12", "\"seq\":012", 1),
            text.replacen("\"seq\":12", "\"seq\":12.0", 1),
            text.replacen("\"seq\":12", "\"seq\":-12", 1),
            text.replacen("\"seq\":12", "\"seq\":99999999999999999999", 1),
            text.replacen("\"campaign\":\"canon\"", "\"campaign\":\"can\\u006fn\"", 1),
            text.replacen("\"version\":1", "\"version\":4294967296", 1),
            text.replacen("Z\",\"actor\"", "+00:00\",\"actor\"", 1),
            text.replacen("\"actor\":{", "\"actor\":{,", 1),
            format!("{text} "),
            text.replacen(",\"payload\"", ",\"extra\":1,\"payload\"", 1),
        ];
        for variant in &variants {
            assert_ne!(variant, &text);
            assert!(split(variant).is_none(), "accepted {variant}");
        }
    }
}
