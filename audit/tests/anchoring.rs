//! What `verify` catches of a log rewritten by someone with write access to the store, who
//! recomputes every hash after the change (the chain alone holds then): an event appended after
//! `CampaignFinished`, a fitness total or a verdict that no longer follows from what it is
//! derived from, a log that no longer extends a head anchored earlier, and a signed checkpoint
//! that does not sign the rewritten head. And `Anchor`, the statement to publish.

mod support;

use std::collections::BTreeMap;

use lineage_audit::{Anchor, AnchoredHead, Expected, Verification, verify, verify_against};
use lineage_events::payload::*;
use lineage_events::{
    ActorRef, CampaignId, DecodedPayload, EventId, EventStore, Hash, MemoryStore, NewEvent, PublicKey,
    RecordedEvent, Seq, SigningKey,
};
use lineage_replay::CampaignState;
use support::{campaign, id, store_of};

type Events = Vec<(EventId, Payload)>;

fn key(byte: u8) -> SigningKey {
    SigningKey::from_hex(&format!("{byte:02x}").repeat(32)).unwrap()
}

/// Replaces the `CampaignFinished` at the end with one recording the state hash of the events
/// before it: what a forger who rewrites a log also rewrites.
fn refinish(events: &mut Events) {
    let (last, before) = events.split_last_mut().unwrap();
    let mut state = CampaignState::default();
    for (seq, (id, payload)) in before.iter().enumerate() {
        state.apply_payload(Seq(seq as u64), *id, DecodedPayload::Known(payload.clone()));
    }
    let Payload::CampaignFinished(finished) = &mut last.1 else {
        panic!("the campaign ends with its finish")
    };
    finished.state_hash = state.state_hash();
}

/// The position of the first event of the log matching `pick`.
fn position(events: &Events, pick: impl Fn(&Payload) -> bool) -> usize {
    events.iter().position(|(_, p)| pick(p)).unwrap()
}

/// Appends `payload` at the head through the store, which hashes it into the chain.
async fn append(store: &MemoryStore, campaign: &CampaignId, payload: &Payload) -> Seq {
    let head = store.head(campaign).await.unwrap().unwrap();
    let event = NewEvent::new(EventId::random(), ActorRef::new("forger", "f"), payload);
    store.append(campaign, head.next, vec![event]).await.unwrap();
    head.next
}

/// The log's head as `verify --head` takes it.
async fn head(store: &MemoryStore, campaign: &CampaignId) -> AnchoredHead {
    let head = store.head(campaign).await.unwrap().unwrap();
    AnchoredHead { seq: Seq(head.next.0 - 1), hash: head.hash }
}

fn failed<'a>(verification: &'a Verification, name: &str) -> &'a str {
    let check =
        verification.check(name).unwrap_or_else(|| panic!("no {name} check: {:?}", verification.checks));
    assert!(!check.ok, "{name} held: {:?}", verification.checks);
    &check.detail
}

/// The verdict the campaign recorded.
fn recorded_verdict(events: &Events) -> VerificationConcluded {
    events
        .iter()
        .find_map(|(_, p)| match p {
            Payload::VerificationConcluded(v) => Some(v.clone()),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn an_event_appended_after_the_finish_fails_verify_naming_it() {
    let (events, _) = campaign(None);
    let (store, campaign) = store_of(&events, None).await;
    assert_eq!(verify(&store, &campaign).await.failures(), 0);
    // A verdict exactly as the rule derives it, but after the campaign's end: the chain, the
    // schema, the references and the verdict itself all hold — only the end does not.
    let finished_at = events.len() - 1;
    let forged = append(&store, &campaign, &Payload::VerificationConcluded(recorded_verdict(&events))).await;
    let verification = verify(&store, &campaign).await;
    assert_eq!(verification.failures(), 1, "{:?}", verification.checks);
    let detail = failed(&verification, "end");
    assert!(detail.starts_with(&format!("event {forged} (")), "{detail}");
    assert!(
        detail.ends_with(&format!(
            "VerificationConcluded) comes after CampaignFinished (event {finished_at}): the log continues past its end"
        )),
        "{detail}"
    );
    // Replay folds it (and says so): the state knows the first event past the end.
    let state = verification.state.as_ref().unwrap();
    assert_eq!(state.past_end.as_ref().map(|p| p.seq), Some(forged));

    // A forged discovery after the end: past the end, and not what its runs give either.
    let (store, campaign) = store_of(&events, None).await;
    let mut forged = recorded_verdict(&events);
    (forged.arch, forged.discovery) = (id("a-0001"), true);
    let at = append(&store, &campaign, &Payload::VerificationConcluded(forged)).await;
    let verification = verify(&store, &campaign).await;
    assert!(failed(&verification, "end").starts_with(&format!("event {at} (")));
    let detail = failed(&verification, "consistency");
    assert!(detail.starts_with(&format!("event {at} (")), "{detail}");
    assert!(detail.ends_with("concludes the verification of a-0001, which was never promoted"), "{detail}");
}

#[tokio::test]
async fn what_may_follow_the_finish_passes() {
    let (events, _) = campaign(None);
    let (store, campaign) = store_of(&events, None).await;
    let insight = synthetic_insight();
    append(&store, &campaign, &insight).await;
    let signed = key(1).sign_head(
        &campaign,
        Seq(events.len() as u64),
        store.head(&campaign).await.unwrap().unwrap().hash,
    );
    append(&store, &campaign, &Payload::HeadSigned(signed)).await;
    let verification = verify(&store, &campaign).await;
    assert_eq!(verification.failures(), 0, "{:?}", verification.checks);
    let end = &verification.check("end").unwrap().detail;
    assert!(
        end.contains(
            "after it only analysts' conclusions, signed checkpoints or types this version skips (2 events)"
        ),
        "{end}"
    );
}

fn synthetic_insight() -> Payload {
    Payload::InsightRecorded(InsightRecorded {
        analyst: "pareto".into(),
        kind: "pareto".into(),
        text: "a-0002 is on the front".into(),
        confidence: 0.5,
        data: Default::default(),
        cites: Vec::new(),
    })
}

#[tokio::test]
async fn a_fitness_total_that_does_not_follow_from_its_components_is_named() {
    let (mut events, _) = support::campaign(None);
    let at = position(&events, |p| matches!(p, Payload::FitnessAssigned(f) if f.arch == id("a-0001")));
    let Payload::FitnessAssigned(fitness) = &mut events[at].1 else { unreachable!() };
    let honest = fitness.total;
    fitness.total += 0.25;
    refinish(&mut events);
    let (store, campaign) = store_of(&events, None).await;
    let verification = verify(&store, &campaign).await;
    // The state hash was rewritten with it: only the consistency check sees the forgery.
    assert_eq!(verification.failures(), 1, "{:?}", verification.checks);
    let detail = failed(&verification, "consistency");
    let expected = format!(
        "event {at} ({}, FitnessAssigned): the fitness total of a-0001 is {}, but its components and the config's constants give {honest} (Eq. 2)",
        events[at].0,
        honest + 0.25
    );
    assert_eq!(detail, expected);

    // Constants other than the recorded config's are named too.
    let (mut events, _) = support::campaign(None);
    let Payload::FitnessAssigned(fitness) = &mut events[at].1 else { unreachable!() };
    fitness.constants.loss_weight = 2.0;
    refinish(&mut events);
    let (store, campaign) = store_of(&events, None).await;
    let detail = failed(&verify(&store, &campaign).await, "consistency").to_owned();
    assert!(detail.ends_with("records constants other than the campaign's config"), "{detail}");
}

#[tokio::test]
async fn a_verdict_that_does_not_follow_from_its_runs_is_named() {
    let forgeries: [fn(&mut VerificationConcluded); 4] = [
        |v| v.gain_mean += 1e-9,
        // The test's numbers are derived too: a p-value, its correction or the bound.
        |v| v.test.as_mut().unwrap().p_value *= 2.0,
        |v| v.test.as_mut().unwrap().family = 3,
        |v| v.test.as_mut().unwrap().lower_bound = Some(0.3),
    ];
    for forge in forgeries {
        let (at, id, detail) = forged_verdict(forge).await;
        let prefix = format!("event {at} ({id}, VerificationConcluded): the verdict on a-0002 (gain ");
        assert!(detail.starts_with(&prefix), "{detail}");
        assert!(detail.contains("does not follow from its runs: the discovery rule gives gain "), "{detail}");
    }
    // A verdict that says otherwise than its tests is named.
    let (at, id, detail) = forged_verdict(|v| v.discovery = false).await;
    assert_eq!(
        detail,
        format!(
            "event {at} ({id}, VerificationConcluded): the verdict on a-0002 records discovery false, but its tests give true"
        )
    );
    // A run of another architecture in the verdict is named.
    let (mut events, _) = support::campaign(None);
    let at = position(&events, |p| matches!(p, Payload::VerificationConcluded(_)));
    let Payload::VerificationConcluded(verdict) = &mut events[at].1 else { unreachable!() };
    verdict.runs[0] = lineage_events::RunId::new("r-a-0001").unwrap();
    refinish(&mut events);
    let (store, campaign) = store_of(&events, None).await;
    let detail = failed(&verify(&store, &campaign).await, "consistency").to_owned();
    assert!(
        detail.ends_with("names run r-a-0001, which is no finished verification run of a-0002 or deltanet"),
        "{detail}"
    );
}

/// A verdict without its test would be re-derived by the version-1 rule: only a
/// version-1 event may be one.
#[tokio::test]
async fn a_new_verdict_stripped_of_its_test_is_named() {
    let (mut events, _) = support::campaign(None);
    let at = position(&events, |p| matches!(p, Payload::VerificationConcluded(_)));
    let Payload::VerificationConcluded(verdict) = &mut events[at].1 else { unreachable!() };
    verdict.test = None;
    refinish(&mut events);
    let (store, campaign) = store_of(&events, None).await;
    let verification = verify(&store, &campaign).await;
    let detail = failed(&verification, "schema");
    assert_eq!(
        detail,
        format!(
            "event {at}: payload of type VerificationConcluded version 3 records no test; only version 1 may"
        )
    );
}

#[tokio::test]
async fn an_account_that_does_not_match_its_experiments_is_named() {
    let (mut events, _) = support::campaign(None);
    let at = position(&events, |p| matches!(p, Payload::BudgetSpent(_)));
    let Payload::BudgetSpent(spent) = &mut events[at].1 else { unreachable!() };
    spent.experiments = 2;
    refinish(&mut events);
    let (store, campaign) = store_of(&events, None).await;
    let detail = failed(&verify(&store, &campaign).await, "consistency").to_owned();
    assert_eq!(
        detail,
        format!(
            "event {at} ({}, BudgetSpent): accounts for 2 experiments in all, but only 1 were started",
            events[at].0
        )
    );

    let (mut events, _) = support::campaign(None);
    let last = events.len() - 1;
    let Payload::CampaignFinished(finished) = &mut events[last].1 else { unreachable!() };
    finished.experiments = 3;
    let (store, campaign) = store_of(&events, None).await;
    let detail = failed(&verify(&store, &campaign).await, "consistency").to_owned();
    assert!(detail.ends_with("reports 3 experiments; the log started 2 and accounted for 2"), "{detail}");
}

/// The log of `store` with one field the state hash does not cover changed — a-0002's
/// throughput — and every hash from there on recomputed: every other event byte for byte as it
/// was, and a log that holds on its own. Returns it and the position of the change.
async fn rewritten(store: &MemoryStore, campaign: &CampaignId) -> (MemoryStore, Seq) {
    let stored = store.read(campaign, Seq(0), 100_000).await.unwrap();
    let (mut events, mut at) = (Vec::new(), None);
    for event in stored {
        let RecordedEvent { seq, id: event, recorded_at, actor, causation, correlation, payload, .. } =
            event.decode(&Default::default()).unwrap();
        let DecodedPayload::Known(mut payload) = payload else { panic!("a known type") };
        if let Payload::TrainingFinished(f) = &mut payload
            && f.arch == id("a-0002")
            && at.is_none()
        {
            f.metrics.tokens_per_s *= 10.0;
            at = Some(seq);
        }
        events.push(NewEvent {
            id: event,
            recorded_at,
            actor,
            causation,
            correlation,
            payload: payload.encode(),
        });
    }
    let forged = MemoryStore::new();
    forged.append(campaign, Seq(0), events).await.unwrap();
    (forged, at.unwrap())
}

#[tokio::test]
async fn a_recomputed_chain_fails_against_the_head_anchored_before_it() {
    let (events, _) = campaign(None);
    let (original, campaign) = store_of(&events, None).await;
    let anchored = head(&original, &campaign).await;
    let (forged, at) = rewritten(&original, &campaign).await;
    assert_eq!(verify(&forged, &campaign).await.failures(), 0, "on its own, the rewritten log holds");

    let expected = Expected { head: Some(anchored), public_key: None };
    let verification = verify_against(&forged, &campaign, &expected).await;
    let detail = failed(&verification, "head");
    let now = head(&forged, &campaign).await.hash;
    assert_eq!(
        detail,
        format!(
            "event {} has hash {now}, not the anchored {}: the log was rewritten at or before event {}",
            anchored.seq, anchored.hash, anchored.seq
        )
    );
    assert!(verification.state.is_none(), "a log that does not extend its anchor is not replayed");
    // The original extends its own head; and a head anchored before the change still holds.
    assert_eq!(verify_against(&original, &campaign, &expected).await.failures(), 0);
    let earlier = original.read(&campaign, Seq(at.0 - 1), 1).await.unwrap().remove(0);
    let before =
        Expected { head: Some(AnchoredHead { seq: earlier.seq, hash: earlier.hash }), public_key: None };
    let verification = verify_against(&forged, &campaign, &before).await;
    assert_eq!(verification.failures(), 0, "{:?}", verification.checks);
    // A head past the end is missing.
    let beyond =
        Expected { head: Some(AnchoredHead { seq: Seq(10_000), hash: anchored.hash }), public_key: None };
    let detail = failed(&verify_against(&original, &campaign, &beyond).await, "head").to_owned();
    assert!(detail.contains("event 10000 of the anchored head") && detail.contains("is missing"), "{detail}");
}

/// The events with a signed checkpoint of their head appended by `signer`, as the campaign
/// writes it after its finish.
async fn signed(events: &Events, signer: &SigningKey) -> (MemoryStore, CampaignId) {
    let (store, campaign) = store_of(events, None).await;
    let head = head(&store, &campaign).await;
    append(&store, &campaign, &Payload::HeadSigned(signer.sign_head(&campaign, head.seq, head.hash))).await;
    (store, campaign)
}

#[tokio::test]
async fn a_rewritten_log_cannot_carry_a_valid_signature_of_its_rewritten_head() {
    let owner = key(7);
    let trusted = Expected { head: None, public_key: Some(owner.public_key()) };
    let (events, _) = campaign(None);
    let (original, campaign) = signed(&events, &owner).await;
    let verification = verify_against(&original, &campaign, &trusted).await;
    assert_eq!(verification.failures(), 0, "{:?}", verification.checks);
    let last = events.len() - 1;
    let detail = &verification.check("signatures").unwrap().detail;
    assert!(
        detail.starts_with(&format!(
            "1 signed checkpoint verified, by the given key {}; the last (event {}) covers events 0-{last}",
            owner.public_key(),
            last + 1
        )),
        "{detail}"
    );

    // The rewritten log keeps the signature event as it was: it signs a head the log no longer has.
    let stored = original.read(&campaign, Seq(last as u64 + 1), 1).await.unwrap().remove(0);
    let DecodedPayload::Known(Payload::HeadSigned(signature)) =
        stored.decode(&Default::default()).unwrap().payload
    else {
        panic!("the last event is the signature")
    };
    let unsigned = store_of(&events, None).await.0;
    let (forged, _) = rewritten(&unsigned, &campaign).await;
    append(&forged, &campaign, &Payload::HeadSigned(signature.clone())).await;
    let detail = failed(&verify_against(&forged, &campaign, &trusted).await, "signatures").to_owned();
    assert!(
        detail.contains(&format!(
            "event {} signs head {last}:{}, but event {last} has hash ",
            last + 1,
            signature.head_hash
        )),
        "{detail}"
    );
    assert!(detail.ends_with("after it was signed"), "{detail}");
    // Without a trusted key too: a signed head is compared with the log either way.
    assert!(!verify(&forged, &campaign).await.check("signatures").unwrap().ok);

    // Pointed at the rewritten head, the signature no longer verifies.
    let (forged, _) = rewritten(&unsigned, &campaign).await;
    let new_head = head(&forged, &campaign).await;
    let repointed = HeadSigned { head_hash: new_head.hash, ..signature.clone() };
    append(&forged, &campaign, &Payload::HeadSigned(repointed)).await;
    let detail = failed(&verify_against(&forged, &campaign, &trusted).await, "signatures").to_owned();
    assert!(
        detail.ends_with(&format!(
            "its signature does not verify for head {last}:{} under key {}",
            new_head.hash,
            owner.public_key()
        )),
        "{detail}"
    );

    // Signed anew with the forger's own key: valid on its own, refused against the owner's.
    let (forged, _) = rewritten(&unsigned, &campaign).await;
    let new_head = head(&forged, &campaign).await;
    append(
        &forged,
        &campaign,
        &Payload::HeadSigned(key(9).sign_head(&campaign, new_head.seq, new_head.hash)),
    )
    .await;
    assert_eq!(
        verify(&forged, &campaign).await.failures(),
        0,
        "a signature proves nothing without a trusted key"
    );
    let detail = failed(&verify_against(&forged, &campaign, &trusted).await, "signatures").to_owned();
    assert!(
        detail.ends_with(&format!(
            "with key {}, not the given key {}",
            key(9).public_key(),
            owner.public_key()
        )),
        "{detail}"
    );

    // Left unsigned: a trusted key finds no signature.
    let (forged, _) = rewritten(&unsigned, &campaign).await;
    let detail = failed(&verify_against(&forged, &campaign, &trusted).await, "signatures").to_owned();
    assert_eq!(detail, format!("the log carries no signature by key {}", owner.public_key()));
}

#[tokio::test]
async fn a_trusted_key_asks_that_the_end_be_signed() {
    let owner = key(7);
    let (mut events, _) = support::campaign(None);
    // Signed at a checkpoint before the finish only (the signature sits before the finish, so
    // the finish is rewritten after it: the state hash covers the events before it).
    let finish = events.pop().unwrap();
    let (store, campaign) = signed(&events, &owner).await;
    let Payload::CampaignFinished(mut finished) = finish.1 else { unreachable!() };
    finished.state_events = Some(events.len() as u64 + 1);
    append(&store, &campaign, &Payload::CampaignFinished(finished)).await;
    let trusted = Expected { head: None, public_key: Some(owner.public_key()) };
    let detail = failed(&verify_against(&store, &campaign, &trusted).await, "signatures").to_owned();
    let signed_at = events.len();
    assert_eq!(
        detail,
        format!(
            "the last signature (event {signed_at}) covers events 0-{}; CampaignFinished (event {}) is signed by none",
            signed_at - 1,
            signed_at + 1
        )
    );
}

#[tokio::test]
async fn the_anchor_states_the_head_the_state_hash_and_the_last_signature() {
    let owner = key(7);
    let (events, _) = campaign(None);
    let (store, campaign) = signed(&events, &owner).await;
    let anchor = Anchor::of(&store, &campaign).await.unwrap();
    let head = head(&store, &campaign).await;
    let Some(Payload::CampaignFinished(finished)) = events.last().map(|(_, p)| p) else { panic!() };
    assert_eq!(
        (anchor.head_seq, anchor.head_hash.clone(), anchor.events),
        (head.seq.0, head.hash.to_hex(), head.seq.0 + 1)
    );
    assert_eq!(anchor.state_hash, Some(finished.state_hash.to_hex()));
    let signature = anchor.signature.as_ref().unwrap();
    assert_eq!((signature.event_seq, signature.seq), (head.seq.0, head.seq.0 - 1));
    assert_eq!(signature.public_key, owner.public_key().to_string());
    let check =
        format!("lineage verify audit --head {}:{} --public-key {}", head.seq, head.hash, owner.public_key());
    assert_eq!(anchor.check, check);
    let text = anchor.text();
    assert!(
        text.starts_with(&format!("lineage campaign audit: head {}:{}, recorded at 20", head.seq, head.hash)),
        "{text}"
    );
    assert!(text.contains(&format!(" ({} events); finished, state hash {}; signed at event {} over head {}:{} by Ed25519 key {}, signature {}. Check: {check}", head.seq.0 + 1, finished.state_hash, head.seq, signature.seq, signature.head_hash, owner.public_key(), signature.signature)), "{text}");
    assert_eq!(text.lines().count(), 1, "one paragraph");
    // What the statement says is what verify checks.
    let expected = Expected { head: Some(head), public_key: Some(owner.public_key()) };
    assert_eq!(verify_against(&store, &campaign, &expected).await.failures(), 0);

    // Unsigned, unfinished: said so, and the check needs no key.
    let (store, campaign) = store_of(&events[..events.len() - 1], None).await;
    let text = Anchor::of(&store, &campaign).await.unwrap().text();
    assert!(text.contains("; not finished; not signed. Check: lineage verify audit --head "), "{text}");
    assert!(!text.contains("--public-key"), "{text}");

    // A log that fails verify is not anchored.
    let (store, campaign) = store_of(&events, None).await;
    append(&store, &campaign, &Payload::VerificationConcluded(recorded_verdict(&events))).await;
    let error = Anchor::of(&store, &campaign).await.unwrap_err().to_string();
    assert!(error.starts_with("campaign audit fails verification (end: event "), "{error}");
}

#[test]
fn a_head_is_seq_colon_hash() {
    let hash = Hash::of(b"x");
    let head: AnchoredHead = format!("258:{hash}").parse().unwrap();
    assert_eq!((head.seq, head.hash), (Seq(258), hash));
    assert_eq!(head.to_string(), format!("258:{hash}"));
    for bad in
        ["258", "258:", ":abc", "x:abc", &format!("-1:{hash}"), &format!("258:{}", &hash.to_hex()[1..])]
    {
        let error = bad.parse::<AnchoredHead>().unwrap_err().to_string();
        assert!(error.starts_with("a head is SEQ:HASH"), "{bad}: {error}");
    }
    assert!("00".parse::<PublicKey>().is_err());
}

/// A verdict must read every finished verification run of both architectures: one that leaves
/// a seed out is named even when its numbers follow from the runs it does name — the forgery
/// that drops an unlucky seed and recomputes the rest.
#[tokio::test]
async fn a_verdict_that_leaves_out_a_seed_is_named_even_when_recomputed() {
    let forgeries: [fn(&mut VerificationConcluded); 2] = [
        // One of the baseline's seeds left out, nothing recomputed.
        |v| drop(v.runs.pop()),
        // Seed 13 left out on both sides and the verdict recomputed from seeds 11 and 12.
        |v| {
            v.runs.retain(|r| !r.as_str().ends_with("-v2"));
            let candidate = BTreeMap::from([(11, 0.81), (12, 0.83)]);
            let baseline = BTreeMap::from([(11, 0.60), (12, 0.61)]);
            let recomputed = lineage_replay::discovery::verdicts(&[candidate], &baseline).remove(0);
            (v.gain_mean, v.gain_std, v.discovery, v.test) =
                (recomputed.gain_mean, recomputed.gain_std, recomputed.discovery, Some(recomputed.test));
        },
    ];
    for forge in forgeries {
        let (at, id, detail) = forged_verdict(forge).await;
        assert!(
            detail.starts_with(&format!("event {at} ({id}, VerificationConcluded): names runs [")),
            "{detail}"
        );
        assert!(
            detail.ends_with(
                "but the finished verification runs of a-0002 and deltanet are [a-0002-v0, a-0002-v1, a-0002-v2, deltanet-v0, deltanet-v1, deltanet-v2]"
            ),
            "{detail}"
        );
    }
}

/// The campaign with its verdict changed by `forge` and every hash after it recomputed: the
/// verdict's position and id, and what the (one failing) consistency check says.
async fn forged_verdict(forge: Forgery) -> (usize, EventId, String) {
    forged(support::campaign(None).0, forge).await
}

/// `events` with their verdict changed by `forge`, as [`forged_verdict`].
async fn forged(mut events: Vec<(EventId, Payload)>, forge: Forgery) -> (usize, EventId, String) {
    let at = position(&events, |p| matches!(p, Payload::VerificationConcluded(_)));
    let Payload::VerificationConcluded(verdict) = &mut events[at].1 else { unreachable!() };
    forge(verdict);
    refinish(&mut events);
    let (store, campaign) = store_of(&events, None).await;
    let verification = verify(&store, &campaign).await;
    assert_eq!(verification.failures(), 1, "{:?}", verification.checks);
    (at, events[at].0, failed(&verification, "consistency").to_owned())
}

/// An edit of a recorded verdict.
type Forgery = fn(&mut VerificationConcluded);

/// Where the verification stage trains real text, a discovery must gain there too: a candidate
/// clearly better on the benchmark but worse on real text is recorded as no discovery, and the
/// record verifies; a verdict without its real-text test, or with one that does not follow from
/// its runs, or calling a discovery what the real-text test refused, is named.
#[tokio::test]
async fn a_discovery_must_hold_on_real_text_where_the_stage_has_it() {
    let better = [[1.50, 1.52, 1.51], [1.60, 1.63, 1.61]];
    let worse = [[1.70, 1.66, 1.72], [1.60, 1.63, 1.61]];
    for (losses, discovery) in [(better, true), (worse, false)] {
        let events = support::campaign_with_real_text(losses);
        let verdict = events
            .iter()
            .find_map(|(_, p)| match p {
                Payload::VerificationConcluded(v) => Some(v.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(verdict.discovery, discovery, "{verdict:?}");
        let text = verdict.real_text.as_ref().expect("the real-text test is recorded");
        assert_eq!(text.task, "lm:kjv");
        assert!((text.gain_mean - if discovery { 0.1033 } else { -0.0800 }).abs() < 1e-3, "{text:?}");
        let (store, campaign) = store_of(&events, None).await;
        let verification = verify(&store, &campaign).await;
        assert_eq!(verification.failures(), 0, "{:?}", verification.checks);
    }
    let forgeries: [(Forgery, &str); 3] = [
        (
            |v| v.real_text = None,
            "has no real-text test, but the verification stage trains the real-text task lm:kjv: a discovery must hold there too",
        ),
        (
            |v| v.real_text.as_mut().unwrap().test.p_value /= 2.0,
            "does not follow from its runs: the discovery rule gives lm:kjv loss gain ",
        ),
        (|v| v.discovery = true, "records discovery true, but its tests give false"),
    ];
    for (forge, expected) in forgeries {
        let (_, _, detail) = forged(support::campaign_with_real_text(worse), forge).await;
        assert!(detail.contains(expected), "{detail}");
    }
}
