use super::*;
use crate::synthetic;

#[test]
fn every_event_type_round_trips_through_json() {
    let samples = synthetic::one_of_each();
    let mut seen: Vec<&str> = samples.iter().map(Payload::type_name).collect();
    seen.sort_unstable();
    seen.dedup();
    let mut all: Vec<&str> = Payload::TYPES.iter().map(|(name, _)| *name).collect();
    all.sort_unstable();
    assert_eq!(seen, all, "synthetic::one_of_each must cover every event type");

    let upcasters = Upcasters::standard();
    for payload in samples {
        let encoded = payload.encode();
        assert_eq!(encoded.version, payload.version());
        let decoded = upcasters.decode(&encoded.type_name, encoded.version, &encoded.json).unwrap();
        assert_eq!(decoded, DecodedPayload::Known(payload.clone()), "{}", encoded.type_name);
        // Encoding is deterministic: the same payload always gives the same bytes to hash.
        assert_eq!(payload.encode().json, encoded.json);
    }
}

#[test]
fn unknown_types_and_newer_versions_are_preserved_not_errors() {
    let upcasters = Upcasters::standard();
    let decoded = upcasters.decode("QuantumLeapRecorded", 1, r#"{"x":1}"#).unwrap();
    let DecodedPayload::Unknown(unknown) = decoded else { panic!("expected unknown") };
    assert_eq!(unknown.reason, UnknownReason::UnknownType);
    assert_eq!(unknown.json, r#"{"x":1}"#);

    let decoded = upcasters.decode("CampaignPaused", 99, r#"{"reason":"x","new":true}"#).unwrap();
    let DecodedPayload::Unknown(unknown) = decoded else { panic!("expected unknown") };
    assert_eq!(unknown.reason, UnknownReason::NewerVersion);
}

#[test]
fn old_versions_are_upcast_one_step_at_a_time() {
    // Pretend CampaignPaused v0 called its field `why`.
    let json = r#"{"why":"user pressed Ctrl-C"}"#;
    let err = Upcasters::standard().decode("CampaignPaused", 0, json).unwrap_err();
    assert!(matches!(err, DecodeError::NoUpcaster { version: 0, .. }), "{err}");

    let mut upcasters = Upcasters::standard();
    upcasters.register("CampaignPaused", 0, |mut value| {
        let why = value.as_object_mut().and_then(|o| o.remove("why")).ok_or("no field why")?;
        Ok(serde_json::json!({ "reason": why }))
    });
    let decoded = upcasters.decode("CampaignPaused", 0, json).unwrap();
    assert_eq!(
        decoded,
        DecodedPayload::Known(Payload::CampaignPaused(CampaignPaused {
            reason: "user pressed Ctrl-C".into()
        }))
    );
}

#[test]
fn a_known_type_with_a_broken_payload_is_an_error() {
    let err = Upcasters::standard().decode("CampaignPaused", 1, r#"{"reasn":"x"}"#).unwrap_err();
    assert!(err.to_string().contains("CampaignPaused"), "{err}");
}
