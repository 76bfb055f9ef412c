//! `lineage bench replay`: how fast a campaign log folds into the campaign state — what
//! `lineage replay`, `verify` and every actor on resume do. A synthetic log of realistic
//! experiments is written to a temporary SQLite file, then folded twice: from the store (read,
//! hash-chain check, decode, apply) and from events already decoded in memory (apply only).

use std::time::Instant;

use anyhow::Context;
use lineage_events::{CampaignId, EventStore, Seq, SqliteStore, Upcasters};
use lineage_replay::{CampaignState, fold_log};
use serde::Serialize;

use super::bench_store::EventSource;
use crate::machine::Machine;

#[derive(Serialize)]
struct Report {
    machine: Machine,
    events: u64,
    architectures: usize,
    store_fold_s: f64,
    store_fold_events_per_s: f64,
    memory_fold_s: f64,
    memory_fold_events_per_s: f64,
    state_hash_ms: f64,
}

pub async fn run(events: u64, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let store = SqliteStore::open(&dir.path().join("replay.db")).await?;
    let campaign = CampaignId::new("bench-replay").expect("valid id");
    let mut source = EventSource::new(campaign.clone());
    let mut next = Seq(0);
    while next.0 < events {
        let batch = source.take((events - next.0).min(1000));
        next = store.append(&campaign, next, batch).await?.head.next;
    }
    if !json {
        eprintln!("wrote {events} events; folding…");
    }
    let start = Instant::now();
    let state = fold_log(&store, &campaign, |_| true).await?;
    let store_fold_s = start.elapsed().as_secs_f64();

    let upcasters = Upcasters::standard();
    let mut stored = Vec::with_capacity(events as usize);
    lineage_events::read_verified(&store, &campaign, |event| stored.push(event)).await?;
    let decoded = stored.iter().map(|s| s.decode(&upcasters)).collect::<Result<Vec<_>, _>>()?;
    drop(stored);
    let start = Instant::now();
    let again = CampaignState::from_events(&decoded);
    let memory_fold_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let hash = again.state_hash();
    let state_hash_ms = start.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(hash == state.state_hash(), "the two folds disagree");

    let report = Report {
        machine: Machine::detect(),
        events,
        architectures: state.archs.len(),
        store_fold_s,
        store_fold_events_per_s: events as f64 / store_fold_s,
        memory_fold_s,
        memory_fold_events_per_s: events as f64 / memory_fold_s,
        state_hash_ms,
    };
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    crate::output::print(&format!(
        "machine: {}\n{} events, {} architectures\nfrom the store (read + chain + decode + fold): {:.2} s, {:.0} events/s\nin memory (fold only): {:.2} s, {:.0} events/s\nstate hash: {:.1} ms",
        report.machine,
        events,
        report.architectures,
        store_fold_s,
        report.store_fold_events_per_s,
        memory_fold_s,
        report.memory_fold_events_per_s,
        state_hash_ms
    ))
}
