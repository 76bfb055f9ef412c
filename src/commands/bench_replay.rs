//! `lineage bench replay`: how fast a campaign log replays — what `lineage replay` does. A
//! synthetic log of realistic experiments is written to a temporary SQLite file and settled on
//! disk, then timed: the store's reads alone (the floor), the fold from the store (read,
//! hash-chain check, decode, apply: also what `verify` and every actor on resume do), the
//! summary `replay` prints (state hash, leaderboard, counts), and the whole `lineage replay`
//! command in a process of its own, as a user runs it.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;
use lineage_audit::Summary;
use lineage_events::{CampaignId, EventStore, Seq, SqliteStore};
use lineage_replay::fold_log;
use serde::Serialize;

use super::bench_store::EventSource;
use crate::machine::{Machine, cpu_steal_s};

/// Timed runs of the whole command (its spread is this machine's as much as the program's).
/// One more runs first, untimed: right after a gigabyte has been written, the first replay
/// here was up to half again slower than the ones after it.
const COMMAND_RUNS: usize = 3;

#[derive(Serialize)]
struct Report {
    machine: Machine,
    events: u64,
    architectures: usize,
    /// The state hash of the fold (what `lineage replay` prints for the log).
    state_hash: String,
    read_s: f64,
    fold_s: f64,
    fold_events_per_s: f64,
    summary_s: f64,
    replay_s: f64,
    /// Wall-clock seconds of each run of the whole `lineage replay` command, in order.
    command_s: Vec<f64>,
    /// CPU seconds the hypervisor held back from this machine during each run (`null` where
    /// the kernel does not say): on a shared virtual machine, the slow runs are these.
    command_steal_s: Vec<Option<f64>>,
}

pub async fn run(events: u64, keep: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let path = match keep {
        Some(path) if path.exists() => anyhow::bail!("{} already exists; name a new file", path.display()),
        Some(path) => path.to_owned(),
        None => dir.path().join("replay.db"),
    };
    let store = SqliteStore::open(&path).await?;
    let campaign = CampaignId::new("bench-replay").expect("valid id");
    let mut source = EventSource::new(campaign.clone());
    let mut next = Seq(0);
    while next.0 < events {
        let batch = source.take((events - next.0).min(1000));
        next = store.append(&campaign, next, batch).await?.head.next;
    }
    // Settle the log first: closing the store checkpoints its WAL into the file, and the sync
    // waits for the kernel to write it out, work that would otherwise run during the timing.
    drop(store);
    std::fs::File::open(&path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot sync {}", path.display()))?;
    let store = SqliteStore::open(&path).await?;
    if !json {
        eprintln!("wrote {events} events; replaying…");
    }
    let start = Instant::now();
    let mut from = Seq(0);
    loop {
        let batch = store.read(&campaign, from, lineage_events::limits::READ_BATCH_EVENTS).await?;
        let Some(last) = batch.last() else { break };
        from = last.seq.next();
    }
    let read_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let state = fold_log(&store, &campaign, |_| true).await?;
    let fold_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let summary = Summary::of(&campaign, &state);
    let summary_s = start.elapsed().as_secs_f64();
    anyhow::ensure!(state.events == events, "the fold stopped early");
    drop(store);
    time_replay_command(&path, &campaign)?;
    let (mut command_s, mut command_steal_s) = (Vec::new(), Vec::new());
    for _ in 0..COMMAND_RUNS {
        let (seconds, steal) = time_replay_command(&path, &campaign)?;
        command_s.push(seconds);
        command_steal_s.push(steal);
    }

    let report = Report {
        machine: Machine::detect(),
        events,
        architectures: state.archs.len(),
        state_hash: summary.state_hash.clone(),
        read_s,
        fold_s,
        fold_events_per_s: events as f64 / fold_s,
        summary_s,
        replay_s: fold_s + summary_s,
        command_s,
        command_steal_s,
    };
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    crate::output::print(&format!(
        "machine: {}\n{} events, {} architectures\nstore reads alone: {:.2} s\nfold from the store (read + chain + decode + apply): {:.2} s, {:.0} events/s\nsummary (state hash {}…, leaderboard, counts): {:.2} s\nreplay (fold + summary): {:.2} s\nthe whole `lineage replay` command, {COMMAND_RUNS} runs after a first: {}",
        report.machine,
        events,
        report.architectures,
        read_s,
        fold_s,
        report.fold_events_per_s,
        &report.state_hash[..12],
        summary_s,
        report.replay_s,
        report.command_s.iter().zip(&report.command_steal_s).map(command_text).collect::<Vec<_>>().join(", "),
    ))
}

/// A run's time, and the hypervisor's share when it took one.
fn command_text((seconds, steal): (&f64, &Option<f64>)) -> String {
    match steal {
        Some(steal) if *steal >= 0.05 => {
            format!("{seconds:.2} s ({steal:.2} CPU-s stolen by the hypervisor)")
        }
        _ => format!("{seconds:.2} s"),
    }
}

/// Seconds one `lineage replay` of the log takes in a process of its own, from start to exit,
/// and the CPU time the hypervisor took from this machine meanwhile.
fn time_replay_command(path: &Path, campaign: &CampaignId) -> anyhow::Result<(f64, Option<f64>)> {
    let exe = std::env::current_exe().context("cannot find the lineage executable")?;
    let url = format!("sqlite://{}", path.display());
    let steal_before = cpu_steal_s();
    let start = Instant::now();
    let status = std::process::Command::new(exe)
        .args(["--store", &url, "replay", campaign.as_str()])
        .stdout(Stdio::null())
        .status()
        .context("cannot run lineage replay")?;
    let seconds = start.elapsed().as_secs_f64();
    let steal = steal_before.zip(cpu_steal_s()).map(|(before, after)| after - before);
    anyhow::ensure!(status.success(), "lineage replay failed ({status})");
    Ok((seconds, steal))
}
