//! The audit views on the small campaign of `support` (two seed baselines, two experiments,
//! a-0002 verified as a discovery), written through the memory store.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use lineage_audit::counterfactual::recorded_weights;
use lineage_audit::{Counterfactual, Log, Policy, Provenance, Summary, proposer_label, verify};
use lineage_events::payload::*;
use lineage_events::{
    Appended, ArchId, CampaignId, CampaignSummary, EventId, EventStore, Hash, Head, MemoryStore, NewEvent,
    Seq, StoreError, StoredEvent,
};
use lineage_replay::fitness::Weights;
use serde_json::Value;
use support::{campaign, id, store_of};
use tokio::sync::watch;

async fn log() -> (CampaignId, Log, EventId) {
    let (events, cited) = campaign(None);
    let (store, campaign) = store_of(&events, None).await;
    let log = Log::read(&store, &campaign).await.unwrap();
    (campaign, log, cited)
}

fn position(log: &Log, id: EventId) -> usize {
    log.events.iter().position(|e| e.id == id).unwrap()
}

#[tokio::test]
async fn provenance_follows_the_chain_to_the_baseline_with_every_event_about_each_step() {
    let (campaign, log, cited) = log().await;
    let state = log.state().unwrap();
    let arch = state.resolve_arch("a-0002").unwrap().clone();
    let diff = |parent_program: &str, program: &str, parent: &ArchId, arch: &ArchId| {
        Some(format!("{parent} -> {arch}: {} -> {} bytes", parent_program.len(), program.len()))
    };
    let provenance = Provenance::new(&campaign, &log, &state, &arch, &diff);
    assert_eq!(provenance.chain(), [id("gated-deltanet"), id("a-0001"), id("a-0002")]);

    let json = provenance.json();
    let steps = json["lineage"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(steps[0]["parent"].is_null() && steps[0]["diff_against_parent"].is_null());
    assert_eq!(steps[2]["parent"], "a-0001");
    assert!(steps[2]["diff_against_parent"].as_str().unwrap().starts_with("a-0001 -> a-0002: "));
    let listed: BTreeSet<&str> =
        steps[2]["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    // Every event correlated with a-0002, its experiment's selection and the analysis it cites.
    let mut expected: BTreeSet<String> = log
        .events
        .iter()
        .filter(|e| e.correlation.as_ref() == Some(&arch))
        .map(|e| e.id.to_string())
        .collect();
    expected.insert(cited.to_string());
    let selection = |n: u32| {
        log.events
            .iter()
            .find(|e| matches!(e.payload.known(), Some(Payload::ParentSelected(p)) if p.experiment == n))
            .unwrap()
    };
    expected.insert(selection(2).id.to_string());
    assert_eq!(listed, expected.iter().map(String::as_str).collect());
    assert!(!listed.contains(selection(1).id.to_string().as_str()), "another experiment's selection");
    // Events appear as stored.
    let shown =
        steps[2]["events"].as_array().unwrap().iter().find(|e| e["id"] == selection(2).id.to_string());
    assert_eq!(shown, Some(&log.bodies[position(&log, selection(2).id)]));

    let text = provenance.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "provenance of a-0002: gated-deltanet → a-0001 → a-0002");
    assert!(text.contains("== gated-deltanet (Scored, experiment 0)\nseed baseline: "), "{text}");
    assert!(text.contains("program, against a-0001:\n    a-0001 -> a-0002: "), "{text}");
    assert!(text.contains("components: loss 0.6000, benchmark 0.6000, judge 0.5000"), "{text}");
    assert!(!text.contains("TrainingProgress"), "progress is left out of the text: {text}");
    // One exploration run per step of the chain, and a-0002's three verification runs.
    assert_eq!(text.matches(" TrainingFinished ").count(), 6, "{text}");

    let dot = provenance.dot();
    assert!(dot.starts_with("digraph provenance {\n") && dot.ends_with('}'), "{dot}");
    assert!(dot.contains("  \"a-0001\" -> \"a-0002\" [label=\"parent\"];\n"), "{dot}");
    assert!(dot.contains("  \"gated-deltanet\" [label=\"gated-deltanet\\nfitness 1.500\", style=rounded];"));
    assert!(dot.contains("  \"a-0002\" [label=\"a-0002\\nfitness 1.700\"];"), "{dot}");

    let prov = provenance.prov();
    let kinds: BTreeSet<&str> =
        prov["activity"].as_object().unwrap().values().map(|a| a["prov:type"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["analysis", "check", "proposal", "training"]));
    assert_eq!(prov["wasDerivedFrom"].as_object().unwrap().len(), 2, "two parent links");
    assert_eq!(prov["entity"]["lineage:result/r-a-0002"]["prov:type"], "result");
    assert_eq!(prov["prefix"]["lineage"], "urn:lineage:audit:");
    // Relation ids are numbered once across all relations.
    let relations: Vec<&str> = ["wasGeneratedBy", "used", "wasAssociatedWith", "wasDerivedFrom"]
        .iter()
        .flat_map(|r| prov[*r].as_object().unwrap().keys().map(String::as_str))
        .collect();
    let unique: BTreeSet<&str> = relations.iter().copied().collect();
    assert_eq!(unique.len(), relations.len());
    assert!(unique.contains(format!("_:r{}", relations.len()).as_str()));
}

fn order(c: &Counterfactual) -> Vec<&str> {
    c.ranking.iter().map(|r| r.arch.as_str()).collect()
}

#[tokio::test]
async fn the_counterfactual_reranks_with_the_recorded_total_and_names_where_selection_diverges() {
    let (_, log, _) = log().await;
    let state = log.state().unwrap();
    let recorded = recorded_weights(&state);

    // The recorded weights give the recorded ranking, bit for bit.
    let same = Counterfactual::of(&state, recorded, Policy::default());
    let ranked: Vec<(&str, f64)> = state.ranked().into_iter().map(|(a, f)| (a.as_str(), f)).collect();
    let reranked: Vec<(&str, f64)> = same.ranking.iter().map(|r| (r.arch.as_str(), r.fitness)).collect();
    assert_eq!(reranked, ranked);
    assert_eq!(order(&same), ["a-0002", "a-0001", "gated-deltanet", "deltanet"]);
    assert!(
        same.ranking.iter().enumerate().all(|(i, r)| r.was == Some(i + 1) && r.recorded == Some(r.fitness))
    );
    assert_eq!(same.promoted, [(id("a-0002"), Some(true))]);
    assert_eq!(same.divergence, None);

    // The benchmark alone reverses it, promotes the never-verified a-0001, and (with only the
    // top parent allowed) would not have chosen gated-deltanet in experiment 1: deltanet
    // outranked it then.
    let bench = Weights { loss: 0.0, benchmark: 1.0, judge: 0.0 };
    let policy = Policy { pool: None, parent_ranks: Some((1, 1)) };
    let other = Counterfactual::of(&state, bench, policy);
    assert_eq!(order(&other), ["a-0001", "a-0002", "deltanet", "gated-deltanet"]);
    assert_eq!(other.ranking[0].was, Some(2));
    assert_eq!(other.ranking[0].fitness, 0.95);
    assert_eq!(other.promoted_recorded, [id("a-0002")]);
    assert_eq!(other.promoted, [(id("a-0001"), None)]);
    let divergence = other.divergence.as_ref().unwrap();
    assert_eq!(
        (divergence.experiment, divergence.parent.as_str(), divergence.rank),
        (1, "gated-deltanet", Some(2))
    );

    let text = other.text();
    assert!(text.starts_with(
        "counterfactual fitness: loss 0.000, bench 1.000, judge 0.000 (recorded 1.000, 1.000, 1.000)\n"
    ));
    let first_row: Vec<&str> = text.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(first_row, ["1", "2", "a-0001", "0.9500", "1.6500"], "{text}");
    assert!(
        text.contains("promoted to verification: recorded [a-0002], counterfactual [a-0001]\n"),
        "{text}"
    );
    assert!(text.contains("  a-0001: unknown: it was never verified, and a counterfactual trains nothing\n"));
    assert!(
        text.ends_with("selection: diverges at experiment 1: its parent gated-deltanet would rank 2 in a pool of 50, outside ranks 1-1; from there on the campaign would have proposed other architectures, which a counterfactual cannot know"),
        "{text}"
    );
    // The recorded weights with the same rule: every recorded parent ranked first.
    assert_eq!(Counterfactual::of(&state, recorded, policy).divergence, None);
}

#[tokio::test]
async fn the_summary_lists_the_leaderboard_and_counts() {
    let (campaign, log, _) = log().await;
    let state = log.state().unwrap();
    let summary = Summary::of(&campaign, &state);
    assert_eq!(summary.state_hash, state.state_hash().to_hex());
    assert!(summary.finished);
    assert_eq!((summary.experiments, summary.events), (2, log.events.len() as u64));
    assert_eq!(summary.discoveries, ["a-0002"]);
    let rows: Vec<(usize, &str, &str)> =
        summary.leaderboard.iter().map(|r| (r.rank, r.arch, r.proposer.as_ref())).collect();
    assert_eq!(
        rows,
        [
            (1, "a-0002", "mutate:add-gate"),
            (2, "a-0001", "mutate:add-gate"),
            (3, "gated-deltanet", "baseline"),
            (4, "deltanet", "baseline")
        ]
    );
    let json: Value = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["leaderboard"][0]["discovery"], true);
    assert_eq!(json["leaderboard"][1]["parent"], "gated-deltanet");
    assert_eq!(json["leaderboard"][3]["parent"], Value::Null);
    let table = summary.table();
    // Gains 0.21, 0.22, 0.23 on three seeds: t ≈ 38 on two degrees of freedom.
    assert!(
        table.lines().nth(1).unwrap().ends_with(
            "mutate:add-gate [discovery: gain +0.220, ≥ +0.203 at 95%; p 0.0003, Holm 0.0003 of 1]"
        ),
        "{table}"
    );
    assert_eq!(json["leaderboard"][0]["test"]["family"], 1);
    assert!(
        table.ends_with(
            "2 experiments; 0 rejected as duplicates, 0 abandoned after repair, 0 failed training"
        )
    );

    let llm = Proposer::Llm { model: "m".into(), exchange: EventId::random() };
    assert_eq!(proposer_label(&llm), "llm m");
    assert_eq!(proposer_label(&Proposer::Human { name: "ada".into() }), "human ada");
}

#[tokio::test]
async fn an_intact_log_passes_every_check() {
    let (events, _) = campaign(None);
    let (store, campaign) = store_of(&events, None).await;
    let verification = verify(&store, &campaign).await;
    let names: Vec<&str> = verification.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, ["hash chain", "schema", "references", "consistency", "end", "replay"]);
    assert_eq!(verification.failures(), 0, "{:?}", verification.checks);
    assert!(verification.checks[0].detail.starts_with(&format!("{} events, head ", events.len())));
    let state = verification.state.as_ref().unwrap();
    let Some(Payload::CampaignFinished(finished)) = events.last().map(|(_, p)| p) else { panic!() };
    assert_eq!(verification.checks[5].detail, format!("state hash {0} (recorded {0})", finished.state_hash));
    // Four fitness totals and a-0002's verdict re-derived, and the counts they carry.
    assert!(verification.checks[3].detail.starts_with("4 fitness totals, 1 verification verdict and "));
    let last = events.len() - 1;
    assert_eq!(verification.checks[4].detail, format!("the log ends at CampaignFinished (event {last})"));
    assert_eq!(state.events, events.len() as u64);
}

#[tokio::test]
async fn a_wrong_recorded_state_hash_fails_replay() {
    let (events, _) = campaign(Some(Hash::of(b"another state")));
    let (store, campaign) = store_of(&events, None).await;
    let verification = verify(&store, &campaign).await;
    assert_eq!(verification.failures(), 1);
    let failed = verification.first_failure().unwrap();
    assert_eq!(failed.name, "replay");
    assert!(failed.detail.ends_with(&format!("(recorded {})", Hash::of(b"another state"))), "{failed:?}");
}

#[tokio::test]
async fn a_dangling_cause_fails_the_reference_check_naming_the_event() {
    let (events, _) = campaign(None);
    let stranger = EventId::random();
    let (store, campaign) = store_of(&events, Some((7, stranger))).await;
    let verification = verify(&store, &campaign).await;
    assert!(verification.chain_intact(), "the chain was recomputed: {:?}", verification.checks);
    assert!(verification.state.is_none(), "a log with a dangling reference is not replayed");
    let names: Vec<&str> = verification.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, ["hash chain", "schema", "references"]);
    let failed = verification.first_failure().unwrap();
    assert_eq!(
        failed.detail,
        format!("event 7 ({}) refers to cause {stranger}, which no earlier event records", events[7].0)
    );
}

/// A memory store that hands out an edited copy of one event, as if its row had been changed.
struct Tampered {
    inner: MemoryStore,
    seq: Seq,
}

#[async_trait]
impl EventStore for Tampered {
    fn location(&self) -> String {
        "tampered".into()
    }
    async fn append(&self, c: &CampaignId, e: Seq, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        self.inner.append(c, e, events).await
    }
    async fn read(&self, c: &CampaignId, from: Seq, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = self.inner.read(c, from, limit).await?;
        for event in events.iter_mut().filter(|e| e.seq == self.seq) {
            event.body = event.body.replacen("\"experiment\":1,", "\"experiment\":7,", 1);
        }
        Ok(events)
    }
    async fn head(&self, c: &CampaignId) -> Result<Option<Head>, StoreError> {
        self.inner.head(c).await
    }
    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        self.inner.campaigns().await
    }
    async fn delete_campaign(&self, c: &CampaignId) -> Result<u64, StoreError> {
        self.inner.delete_campaign(c).await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes()
    }
}

#[tokio::test]
async fn a_changed_byte_fails_the_hash_chain_naming_the_event() {
    let (events, _) = campaign(None);
    let (inner, campaign) = store_of(&events, None).await;
    let at = events.iter().position(|(_, p)| matches!(p, Payload::ParentSelected(_))).unwrap();
    let store: Arc<dyn EventStore> = Arc::new(Tampered { inner, seq: Seq(at as u64) });
    let body = store.read(&campaign, Seq(at as u64), 1).await.unwrap().remove(0).body;
    assert!(body.contains("\"experiment\":7,"), "the tamper changed nothing: {body}");

    let verification = verify(store.as_ref(), &campaign).await;
    assert!(!verification.chain_intact());
    assert_eq!(verification.checks.len(), 1, "nothing is decoded from an altered log");
    assert!(verification.state.is_none());
    let detail = &verification.checks[0].detail;
    assert!(detail.contains(&format!("event {at}")), "{detail}");
    assert!(Log::read(store.as_ref(), &campaign).await.is_err(), "provenance refuses it too");
}
