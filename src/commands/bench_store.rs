//! `lineage bench store`: append throughput, read throughput and commit-to-follower latency.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lineage_events::limits::READ_BATCH_EVENTS;
use lineage_events::{ActorRef, CampaignId, EventStore, NewEvent, Seq, Subscription, Upcasters, synthetic};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::open;
use crate::cli::BenchStoreArgs;
use crate::machine::Machine;
use crate::output;

/// The benchmarks' events: the synthetic log of experiment after experiment, written by the
/// benchmark's actor.
pub(super) struct EventSource(synthetic::Events);

impl EventSource {
    pub(super) fn new(campaign: CampaignId) -> Self {
        Self(synthetic::Events::new(campaign, ActorRef::new("bench", "bench-store")))
    }

    pub(super) fn take(&mut self, n: u64) -> Vec<NewEvent> {
        self.0.batch(n)
    }
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    store: String,
    events: u64,
    batch: u32,
    bytes_per_event_mean: f64,
    batched_append_events_per_s: f64,
    single_append_events_per_s: f64,
    single_append_p50_ms: f64,
    single_append_p99_ms: f64,
    read_events_per_s: f64,
    read_verify_decode_events_per_s: f64,
    follower_latency_samples: u32,
    follower_latency_p50_ms: f64,
    follower_latency_p99_ms: f64,
    follower_latency_max_ms: f64,
}

pub async fn run(store_url: Option<&str>, args: &BenchStoreArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.events == 0 {
        bail!("--events and --batch must be at least 1");
    }
    // A scratch directory only when no store is named: a benchmark killed midway (as the
    // conformance suite does) would leave it behind. It lives until the benchmark ends.
    let (url, _scratch) = match store_url {
        Some(url) => (url.to_owned(), None),
        None => {
            let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
            (format!("sqlite://{}", dir.path().join("bench.db").display()), Some(dir))
        }
    };
    let store = open(&url).await?;
    let campaign = match &args.campaign {
        Some(c) => CampaignId::new(c)?,
        None => CampaignId::new(format!("bench-{}", &CampaignId::random().as_str()[2..]))?,
    };
    if store.head(&campaign).await?.is_some() {
        bail!("campaign {campaign} already exists in {}; choose another --campaign", store.location());
    }
    eprintln!("lineage bench store: campaign {campaign} in {}", store.location());
    let mut source = EventSource::new(campaign.clone());

    let batched_s = batched_appends(&*store, &campaign, &mut source, args).await?;
    let single = single_appends(&*store, &campaign, &mut source, args.single).await?;
    let head = store.head(&campaign).await?.context("campaign vanished")?;
    let (read_s, verify_s, bytes) = reads(&store, &campaign, head.next).await?;
    let latency = follower_latency(&url, &*store, &campaign, &mut source, args.latency_samples).await?;

    let report = Report {
        machine: Machine::detect(),
        store: store.location(),
        events: args.events,
        batch: args.batch,
        bytes_per_event_mean: bytes as f64 / head.next.0 as f64,
        batched_append_events_per_s: args.events as f64 / batched_s,
        single_append_events_per_s: single.rate,
        single_append_p50_ms: single.p50,
        single_append_p99_ms: single.p99,
        read_events_per_s: head.next.0 as f64 / read_s,
        read_verify_decode_events_per_s: head.next.0 as f64 / verify_s,
        follower_latency_samples: args.latency_samples,
        follower_latency_p50_ms: latency.p50,
        follower_latency_p99_ms: latency.p99,
        follower_latency_max_ms: latency.max,
    };
    print_report(&report, args.json)
}

async fn batched_appends(
    store: &dyn EventStore,
    campaign: &CampaignId,
    source: &mut EventSource,
    args: &BenchStoreArgs,
) -> anyhow::Result<f64> {
    let mut next = Seq(0);
    let mut elapsed = Duration::ZERO;
    while next.0 < args.events {
        let n = (args.events - next.0).min(args.batch as u64);
        let events = source.take(n);
        let start = Instant::now();
        let appended = store.append(campaign, next, events).await?;
        elapsed += start.elapsed();
        next = appended.head.next;
    }
    Ok(elapsed.as_secs_f64())
}

#[derive(serde::Serialize)]
pub(super) struct Distribution {
    pub(super) rate: f64,
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
}

pub(super) fn distribution(mut samples_ms: Vec<f64>) -> Distribution {
    samples_ms.sort_by(f64::total_cmp);
    let at = |q: f64| samples_ms[((samples_ms.len() - 1) as f64 * q).round() as usize];
    let total: f64 = samples_ms.iter().sum();
    Distribution {
        rate: samples_ms.len() as f64 / (total / 1000.0),
        p50: at(0.5),
        p99: at(0.99),
        max: *samples_ms.last().expect("at least one sample"),
    }
}

async fn single_appends(
    store: &dyn EventStore,
    campaign: &CampaignId,
    source: &mut EventSource,
    count: u64,
) -> anyhow::Result<Distribution> {
    let mut next = store.head(campaign).await?.context("campaign vanished")?.next;
    let mut samples = Vec::with_capacity(count as usize);
    for _ in 0..count.max(1) {
        let events = source.take(1);
        let start = Instant::now();
        next = store.append(campaign, next, events).await?.head.next;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(distribution(samples))
}

/// Seconds to read every event raw, and to read, chain-verify and decode every event; and the
/// total size of the stored bodies.
async fn reads(
    store: &Arc<dyn EventStore>,
    campaign: &CampaignId,
    total: Seq,
) -> anyhow::Result<(f64, f64, u64)> {
    let start = Instant::now();
    let mut next = Seq(0);
    let mut bytes = 0;
    while next < total {
        let batch = store.read(campaign, next, READ_BATCH_EVENTS).await?;
        next = batch.last().context("log ended early")?.seq.next();
        bytes += batch.iter().map(|e| e.body.len() as u64).sum::<u64>();
    }
    let read_s = start.elapsed().as_secs_f64();

    let upcasters = Upcasters::standard();
    let start = Instant::now();
    let mut subscription = Subscription::new(store.clone(), campaign.clone(), Seq(0));
    let mut decoded = 0u64;
    while let Some(event) = subscription.try_next().await? {
        event.decode(&upcasters)?;
        decoded += 1;
    }
    if decoded != total.0 {
        bail!("read back {decoded} events, expected {total}");
    }
    Ok((read_s, start.elapsed().as_secs_f64(), bytes))
}

/// Appends one event at a time while a second `lineage events --follow` process prints them;
/// the latency is from the append returning (durably committed) to the line arriving here.
async fn follower_latency(
    url: &str,
    store: &dyn EventStore,
    campaign: &CampaignId,
    source: &mut EventSource,
    samples: u32,
) -> anyhow::Result<Distribution> {
    let mut next = store.head(campaign).await?.context("campaign vanished")?.next;
    let exe = std::env::current_exe().context("cannot find the lineage executable")?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--store",
            url,
            "events",
            campaign.as_str(),
            "--follow",
            "--json",
            "--from",
            &next.0.to_string(),
        ])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the follower process")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut wait_for = async |seq: Seq| -> anyhow::Result<()> {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the follower saw nothing for 30 s")??
            .context("the follower exited")?;
        let got: serde_json::Value = serde_json::from_str(&line)?;
        if got["seq"].as_u64() != Some(seq.0) {
            bail!("follower printed seq {}, expected {seq}", got["seq"]);
        }
        Ok(())
    };
    // Warm-up: the follower is ready once it has printed one event.
    next = store.append(campaign, next, source.take(1)).await?.head.next;
    wait_for(Seq(next.0 - 1)).await?;

    let mut latencies = Vec::with_capacity(samples as usize);
    for i in 0..samples.max(1) {
        // Vary the gap so commits land at every phase of the follower's poll interval.
        tokio::time::sleep(Duration::from_micros(1_000 + (i as u64 * 7_919) % 4_000)).await;
        let appended = store.append(campaign, next, source.take(1)).await?;
        let committed = Instant::now();
        wait_for(next).await?;
        latencies.push(committed.elapsed().as_secs_f64() * 1000.0);
        next = appended.head.next;
    }
    child.kill().await.ok();
    Ok(distribution(latencies))
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        return output::print(&serde_json::to_string_pretty(report)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "machine: {}", report.machine)?;
    writeln!(out, "store:   {}", report.store)?;
    writeln!(
        out,
        "events:  {} (mean stored body {:.0} bytes), batches of {}",
        report.events, report.bytes_per_event_mean, report.batch
    )?;
    writeln!(out)?;
    writeln!(out, "batched durable appends   {:>12.0} events/s", report.batched_append_events_per_s)?;
    writeln!(
        out,
        "single durable appends    {:>12.0} events/s   (p50 {:.2} ms, p99 {:.2} ms)",
        report.single_append_events_per_s, report.single_append_p50_ms, report.single_append_p99_ms
    )?;
    writeln!(out, "sequential read           {:>12.0} events/s", report.read_events_per_s)?;
    writeln!(out, "read + verify + decode    {:>12.0} events/s", report.read_verify_decode_events_per_s)?;
    writeln!(
        out,
        "commit -> follower        p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples, second process)",
        report.follower_latency_p50_ms,
        report.follower_latency_p99_ms,
        report.follower_latency_max_ms,
        report.follower_latency_samples
    )?;
    Ok(())
}
