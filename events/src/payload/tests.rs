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

/// An `ImplementationChecked` as version 1 wrote it: the allowance as a number of the
/// complexity check (here 1: the quadratic reference baseline).
const CHECKED_V1: &str = concat!(
    r#"{"arch":"a-0003","program_hash":"5ba3682a4bf1177c798b39dd2953d8229d7524a540c67ad2d244cbbbe6768703","#,
    r#""attempt":0,"checks":[{"check":"type-shape","passed":true,"numbers":{"params_per_block":4160.0},"#,
    r#""diagnostics":[]},{"check":"complexity","passed":true,"numbers":{"forward_ms_at_128":0.21,"#,
    r#""ops_growth_exponent":2.0,"quadratic_allowed":1.0},"diagnostics":[]}],"passed":true,"params":8320}"#
);

fn checked(decoded: DecodedPayload) -> ImplementationChecked {
    match decoded {
        DecodedPayload::Known(Payload::ImplementationChecked(p)) => p,
        other => panic!("expected ImplementationChecked, got {other:?}"),
    }
}

#[test]
fn implementation_checked_v1_upcasts_its_quadratic_number_to_the_typed_field() {
    assert_eq!(Payload::current_version("ImplementationChecked"), Some(2));
    let upcasters = Upcasters::standard();
    let allowed = checked(upcasters.decode("ImplementationChecked", 1, CHECKED_V1).unwrap());
    assert!(allowed.quadratic_allowed);
    // The recorded measurements are kept as they were.
    assert_eq!(allowed.checks[1].numbers.get("quadratic_allowed"), Some(&1.0));
    assert_eq!((allowed.attempt, allowed.passed, allowed.params), (0, true, Some(8320)));

    let not_allowed = CHECKED_V1.replace(r#""quadratic_allowed":1.0"#, r#""quadratic_allowed":0.0"#);
    assert!(!checked(upcasters.decode("ImplementationChecked", 1, &not_allowed).unwrap()).quadratic_allowed);
    // A check that failed to parse recorded no numbers at all.
    let unparsed = r#"{"arch":"a-0004","program_hash":"5ba3682a4bf1177c798b39dd2953d8229d7524a540c67ad2d244cbbbe6768703","attempt":1,"checks":[{"check":"type-shape","passed":false,"numbers":{},"diagnostics":[]}],"passed":false,"params":null}"#;
    assert!(!checked(upcasters.decode("ImplementationChecked", 1, unparsed).unwrap()).quadratic_allowed);
    // Version 2 has no default for the field: a version-2 payload without it is malformed.
    assert!(upcasters.decode("ImplementationChecked", 2, CHECKED_V1).is_err());
}

#[test]
fn implementation_checked_v1_bodies_decode_upcast_on_both_roads() {
    use crate::envelope::{ActorRef, EncodedPayload, NewEvent, StoredEvent};
    use crate::ids::{CampaignId, EventId};
    let campaign = CampaignId::new("old").unwrap();
    let payload =
        EncodedPayload { type_name: "ImplementationChecked".into(), version: 1, json: CHECKED_V1.into() };
    let event = NewEvent {
        id: EventId::random(),
        recorded_at: chrono::Utc::now(),
        actor: ActorRef::new("engineer", "engineer"),
        causation: None,
        correlation: None,
        payload,
    };
    let body = event.body(&campaign, Seq(3)).unwrap();
    let hash = crate::Hash::chain(&crate::Hash::GENESIS, body.as_bytes());
    let stored = StoredEvent { seq: Seq(3), id: event.id, prev_hash: crate::Hash::GENESIS, hash, body };
    let upcasters = Upcasters::standard();
    let full = stored.decode(&upcasters).unwrap().payload;
    let lean = stored.decode_lean(&campaign, &upcasters).unwrap().payload;
    assert_eq!(full, lean);
    assert!(checked(lean).quadratic_allowed);
}

#[test]
fn implementation_checked_v2_round_trips_with_its_typed_field() {
    for allowed in [false, true] {
        let mut payload = synthetic::one_of_each()
            .into_iter()
            .find_map(|p| match p {
                Payload::ImplementationChecked(p) => Some(p),
                _ => None,
            })
            .unwrap();
        payload.quadratic_allowed = allowed;
        let payload = Payload::ImplementationChecked(payload);
        let encoded = payload.encode();
        assert_eq!(encoded.version, 2);
        assert!(encoded.json.contains(&format!(r#""quadratic_allowed":{allowed}"#)), "{}", encoded.json);
        let decoded = Upcasters::standard().decode(&encoded.type_name, 2, &encoded.json).unwrap();
        assert_eq!(decoded, DecodedPayload::Known(payload));
    }
}

#[test]
fn llm_exchanged_v1_upcasts_to_one_user_message_with_its_purpose_as_the_role() {
    assert_eq!(Payload::current_version("LlmExchanged"), Some(3));
    let v1 = r#"{"model":"m","purpose":"repair","prompt":"fix this","reply":"done"}"#;
    let decoded = Upcasters::standard().decode("LlmExchanged", 1, v1).unwrap();
    let DecodedPayload::Known(Payload::LlmExchanged(x)) = decoded else { panic!("{decoded:?}") };
    assert_eq!((x.role, x.subject.as_str(), x.model.as_str()), (LlmRole::Debugger, "repair", "m"));
    assert_eq!(x.messages, [ChatMessage { role: "user".into(), content: "fix this".into() }]);
    assert_eq!(x.reply, "done");
    assert!(!x.usage.reported && x.cost == 0.0, "v1 recorded no tokens and no cost");
    let missing = r#"{"model":"m","purpose":"judge","reply":"9"}"#;
    assert!(Upcasters::standard().decode("LlmExchanged", 1, missing).is_err(), "no prompt is malformed");
}

#[test]
fn the_new_optional_fields_are_left_out_when_empty_so_old_bodies_are_written_unchanged() {
    for payload in synthetic::one_of_each() {
        let json = payload.encode().json;
        let fields = ["proposer_draw", "cognition", "exchange", "llm", "operator_prior", "half_rank"];
        for field in fields.map(|f| format!("\"{f}\"")) {
            assert!(!json.contains(&field), "{}: {field} written while empty: {json}", payload.type_name());
        }
    }
}

/// A `VerificationConcluded` as version 1 wrote it (the recorded-v1 fixture's verdict).
const CONCLUDED_V1: &str = r#"{"arch":"e0001","best_baseline":"deltanet","gain_mean":-0.0859375,"gain_std":0.09943689110435824,"discovery":false,"runs":["e0001-v1","e0001-v0","deltanet-v1","deltanet-v0"]}"#;

fn concluded(decoded: DecodedPayload) -> VerificationConcluded {
    match decoded {
        DecodedPayload::Known(Payload::VerificationConcluded(p)) => p,
        other => panic!("expected VerificationConcluded, got {other:?}"),
    }
}

#[test]
fn verification_concluded_v1_upcasts_without_a_test() {
    assert_eq!(Payload::current_version("VerificationConcluded"), Some(3));
    let upcasters = Upcasters::standard();
    let v = concluded(upcasters.decode("VerificationConcluded", 1, CONCLUDED_V1).unwrap());
    // Its own numbers as recorded, bit for bit; no test numbers invented.
    assert_eq!(v.gain_mean.to_bits(), (-0.0859375_f64).to_bits());
    assert_eq!(v.gain_std.to_bits(), 0.09943689110435824_f64.to_bits());
    assert_eq!((v.arch.as_str(), v.best_baseline.as_str(), v.discovery), ("e0001", "deltanet", false));
    assert_eq!(v.runs.len(), 4);
    assert_eq!(v.test, None);
    assert_eq!(v.real_text, None);
    // The summary of an old verdict reads as it did.
    assert_eq!(Payload::VerificationConcluded(v).summary(), "e0001 gain -0.0859 ± 0.0994 discovery=false");
    // Version 2 requires the field: a version-2 payload without it is malformed.
    assert!(upcasters.decode("VerificationConcluded", 2, CONCLUDED_V1).is_err());
    // A version-1 payload that already has one is not version 1.
    let with_test = CONCLUDED_V1.replace(r#""discovery":false"#, r#""discovery":false,"test":null"#);
    assert!(upcasters.decode("VerificationConcluded", 1, &with_test).is_err());
}

#[test]
fn verification_concluded_v3_records_both_tests_and_prints_them() {
    let payload = synthetic::one_of_each()
        .into_iter()
        .find(|p| matches!(p, Payload::VerificationConcluded(_)))
        .unwrap();
    let encoded = payload.encode();
    assert_eq!(encoded.version, 3);
    assert!(
        encoded.json.contains(r#""test":{"name":"paired-t-one-sided","alpha":0.05,"pairs":3"#),
        "{}",
        encoded.json
    );
    assert!(encoded.json.contains(r#""real_text":{"task":"lm:kjv","gain_mean":0.012"#), "{}", encoded.json);
    let summary = payload.summary();
    assert!(
        summary.contains("p=0.0107 (Holm 0.0107 of 1) bound +0.0175; lm:kjv loss gain 0.0120"),
        "{summary}"
    );
    assert!(summary.ends_with("discovery=true"), "{summary}");
}

/// A version-2 verdict (a test, no real text) reads as version 3 with no real-text test; a
/// version-3 payload without the key is malformed, and a version-2 one with it is not version 2.
#[test]
fn verification_concluded_v2_upcasts_without_real_text() {
    let upcasters = Upcasters::standard();
    let v2 = synthetic::one_of_each()
        .into_iter()
        .find_map(|p| match p {
            Payload::VerificationConcluded(mut v) => {
                v.real_text = None;
                Some(v)
            }
            _ => None,
        })
        .unwrap();
    let mut json: serde_json::Value = serde_json::to_value(&v2).unwrap();
    json.as_object_mut().unwrap().remove("real_text");
    let text = json.to_string();
    assert_eq!(concluded(upcasters.decode("VerificationConcluded", 2, &text).unwrap()), v2);
    assert!(upcasters.decode("VerificationConcluded", 3, &text).is_err());
    let with = serde_json::to_string(&v2).unwrap();
    assert!(upcasters.decode("VerificationConcluded", 2, &with).is_err());
}

/// The types whose seeds became decimal strings, the version before, and where the seeds are.
const SEEDED: [(&str, u32, &[&str]); 7] = [
    ("CampaignStarted", 3, &["/seed"]),
    ("ParentSelected", 1, &["/draw/seed", "/proposer_draw/draw/seed"]),
    ("ArchitectureProposed", 1, &["/draw/seed"]),
    ("TrainingScheduled", 1, &["/seed"]),
    ("TrainingFinished", 1, &["/seed"]),
    ("PromotedToVerification", 1, &["/seeds"]),
    ("LlmExchanged", 2, &["/parameters/seed"]),
];

/// Every number found as a `seed` or in a list of `seeds`, anywhere in `value`.
fn numeric_seeds(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                // (`seeds` alone is a count, in a stage's config.)
                match item {
                    serde_json::Value::Number(n) if key == "seed" => found.push(format!("{key}: {n}")),
                    serde_json::Value::Array(items)
                        if key == "seeds" && items.iter().any(|i| i.is_number()) =>
                    {
                        found.push(format!("{key}: {item}"))
                    }
                    _ => numeric_seeds(item, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| numeric_seeds(i, found)),
        _ => {}
    }
}

/// Sets each seed at `pointers` to `seed`, as a number or as its decimal text; how many it set.
fn set_seeds(value: &mut serde_json::Value, pointers: &[&str], seed: serde_json::Value) -> usize {
    let mut set = 0;
    for pointer in pointers {
        match value.pointer_mut(pointer) {
            Some(serde_json::Value::Array(items)) => {
                for item in items {
                    *item = seed.clone();
                    set += 1;
                }
            }
            Some(serde_json::Value::Null) | None => {}
            Some(field) => {
                *field = seed.clone();
                set += 1;
            }
        }
    }
    set
}

#[test]
fn seeds_are_written_as_text_and_an_old_version_s_numbers_upcast_exactly() {
    // Above 2^53: a reader holding numbers as doubles would round it.
    let big = u64::MAX - 58;
    let upcasters = Upcasters::standard();
    let mut exercised = Vec::new();
    for payload in synthetic::one_of_each() {
        let encoded = payload.encode();
        let written: serde_json::Value = serde_json::from_str(&encoded.json).unwrap();
        let mut numbers = Vec::new();
        numeric_seeds(&written, &mut numbers);
        assert!(numbers.is_empty(), "{} writes seeds as numbers: {numbers:?}", encoded.type_name);
        let Some((_, old, pointers)) = SEEDED.iter().find(|(t, ..)| *t == encoded.type_name) else {
            continue;
        };
        assert!(Payload::current_version(&encoded.type_name) >= Some(old + 1));
        let (mut as_text, mut as_numbers) = (written.clone(), written);
        if set_seeds(&mut as_text, pointers, big.to_string().into()) == 0 {
            continue;
        }
        set_seeds(&mut as_numbers, pointers, big.into());
        exercised.push(encoded.type_name.clone());
        let (as_text, as_numbers) = (as_text.to_string(), as_numbers.to_string());
        // The old version's number is upcast to the same seed, bit for bit.
        let DecodedPayload::Known(upcast) = upcasters.decode(&encoded.type_name, *old, &as_numbers).unwrap()
        else {
            panic!("{} did not decode", encoded.type_name)
        };
        let reencoded: serde_json::Value = serde_json::from_str(&upcast.encode().json).unwrap();
        assert_eq!(reencoded, serde_json::from_str::<serde_json::Value>(&as_text).unwrap());
        // Each version holds to its own form (the first with text, and every one since).
        let current = old + 1;
        assert!(upcasters.decode(&encoded.type_name, current, &as_numbers).is_err(), "{}", encoded.type_name);
        assert!(upcasters.decode(&encoded.type_name, *old, &as_text).is_err(), "{}", encoded.type_name);
    }
    assert!(exercised.len() >= SEEDED.len() - 1, "only {exercised:?} carry a seed in the samples");
    // One value, one text.
    for text in ["+5", "05", "-1", "1e3", "18446744073709551616", ""] {
        let json = format!(r#"{{"seed":"{text}","stream":"s","values":[]}}"#);
        assert!(serde_json::from_str::<RandomDraw>(&json).is_err(), "{text:?} read as a seed");
    }
}
