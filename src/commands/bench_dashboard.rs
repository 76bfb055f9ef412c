//! `lineage bench dashboard`: do open dashboard pages slow a campaign's log writes?
//!
//! A real smoke campaign is run once (a child process of this binary) for a real log. Then, in
//! rounds that alternate between no pages and `--pages` pages, that log is written again as a
//! fresh campaign, one event per append at a campaign's pace, into a SQLite file that
//! `lineage serve`'s dashboard (in this process, on its own read-only handle) is showing. Each
//! page is what the browser's script does: it holds the campaign's live event stream and, after
//! events arrive, fetches the page's live sections (at most one fetch per 300 ms). Reported: the
//! appends' latency without and with the pages, how soon the pages received each event after
//! its commit, and how many times the sections were rendered for all the pages' fetches.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lineage_events::payload::DecodedPayload;
use lineage_events::{CampaignId, EventStore, NewEvent, Seq, SqliteStore, Upcasters};
use serde::Serialize;

use super::bench_store::{Distribution, distribution};
use crate::machine::Machine;

/// The pause between appends: about the pace of a smoke campaign's log on two cores.
const PACE: Duration = Duration::from_millis(5);
/// A page fetches its sections at most this often (dashboard.js).
const REFRESH: Duration = Duration::from_millis(300);

#[derive(Serialize)]
struct Round {
    pages: u32,
    appends: usize,
    append_ms: Distribution,
    /// Commit to a page's receipt, over every page and event.
    delivery_ms: Option<Distribution>,
    sections_fetched: u64,
    sections_rendered: u64,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    events_per_round: usize,
    pages: u32,
    rounds: Vec<Round>,
    /// Median append latency with the pages over without, each the median of its rounds.
    append_p50_ratio: f64,
    append_p99_ratio: f64,
}

pub async fn run(pages: u32, rounds: u32, json: bool) -> anyhow::Result<()> {
    if pages == 0 || rounds == 0 {
        bail!("--pages and --rounds must be at least 1");
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let path = dir.path().join("dashboard.db");
    let url = format!("sqlite://{}", path.display());
    let events = recorded_campaign(&url).await?;
    let writer = SqliteStore::open(&path).await?;
    let reader = lineage_events::open_store_read_only(&url).await?;
    let dashboard = lineage_web::Dashboard::new(reader, Arc::new(super::provenance::program_diff));
    let (server, address) = lineage_web::bind(dashboard.clone(), "127.0.0.1:0".parse().expect("an address"))?;
    let server_handle = server.handle();
    tokio::spawn(server);
    let base = format!("http://{address}");

    let mut report = Report {
        machine: Machine::detect(),
        events_per_round: events.len(),
        pages,
        rounds: Vec::new(),
        append_p50_ratio: 0.0,
        append_p99_ratio: 0.0,
    };
    for round in 0..rounds * 2 {
        // Alternate, so drift on the machine hits both alike.
        let open = if round % 2 == 0 { 0 } else { pages };
        let campaign = CampaignId::new(format!("bench-{round}")).expect("a valid id");
        if !json {
            eprintln!("lineage bench dashboard: round {} of {}, {open} pages", round + 1, rounds * 2);
        }
        let rendered_before = dashboard.sections_rendered();
        let result = write_watched(&writer, &campaign, &events, &base, open).await?;
        report
            .rounds
            .push(Round { sections_rendered: dashboard.sections_rendered() - rendered_before, ..result });
    }
    server_handle.stop(false).await;
    let median_of = |with: bool, pick: fn(&Round) -> f64| {
        let mut values: Vec<f64> = report.rounds.iter().filter(|r| (r.pages > 0) == with).map(pick).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    report.append_p50_ratio = median_of(true, |r| r.append_ms.p50) / median_of(false, |r| r.append_ms.p50);
    report.append_p99_ratio = median_of(true, |r| r.append_ms.p99) / median_of(false, |r| r.append_ms.p99);
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    let mut text = format!(
        "machine: {}\n{} events a round (a smoke campaign's log), one per append, {} ms apart; SQLite\n",
        report.machine,
        report.events_per_round,
        PACE.as_millis()
    );
    text.push_str(
        "pages  append p50 ms  append p99 ms  delivery p50 ms  delivery p99 ms  sections fetched  rendered\n",
    );
    for r in &report.rounds {
        let delivery = |pick: fn(&Distribution) -> f64| {
            r.delivery_ms.as_ref().map_or("–".to_owned(), |d| format!("{:.2}", pick(d)))
        };
        text.push_str(&format!(
            "{:>5}  {:>13.3}  {:>13.3}  {:>15}  {:>15}  {:>16}  {:>8}\n",
            r.pages,
            r.append_ms.p50,
            r.append_ms.p99,
            delivery(|d| d.p50),
            delivery(|d| d.p99),
            r.sections_fetched,
            r.sections_rendered
        ));
    }
    text.push_str(&format!(
        "appends with {pages} pages open / with none (medians of rounds): p50 {:.2}x, p99 {:.2}x",
        report.append_p50_ratio, report.append_p99_ratio
    ));
    crate::output::print(&text)
}

/// The events of a real smoke campaign, ready to be written again under another name.
async fn recorded_campaign(url: &str) -> anyhow::Result<Vec<NewEvent>> {
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["--store", url, "run", "--preset", "smoke", "--seed", "1", "--name", "source"])
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run the source campaign")?;
    if !status.success() {
        bail!("the source campaign failed");
    }
    let store = lineage_events::open_store_read_only(url).await?;
    let stored = store.read(&CampaignId::new("source").expect("a valid id"), Seq(0), u32::MAX).await?;
    let upcasters = Upcasters::standard();
    let mut events = Vec::with_capacity(stored.len());
    for s in stored {
        let e = s.decode(&upcasters)?;
        let DecodedPayload::Known(payload) = &e.payload else {
            bail!("the source campaign has an unknown event")
        };
        let mut new = NewEvent::new(e.id, e.actor.clone(), payload);
        new.causation = e.causation;
        events.push(new);
    }
    Ok(events)
}

/// Writes `events` as `campaign`, one per append, while `pages` pages watch it.
async fn write_watched(
    store: &SqliteStore,
    campaign: &CampaignId,
    events: &[NewEvent],
    base: &str,
    pages: u32,
) -> anyhow::Result<Round> {
    store.append(campaign, Seq(0), events[..1].to_vec()).await?;
    let mut commits: HashMap<u64, Instant> = HashMap::new();
    let last = events.len() as u64 - 1;
    let (done, finished) = mpsc::channel::<(Vec<(u64, Instant)>, u64)>();
    for _ in 0..pages {
        let live = format!("{base}/campaigns/{campaign}/live?from=1");
        let sections = format!("{base}/campaigns/{campaign}/sections");
        let done = done.clone();
        std::thread::spawn(move || {
            let _ = done.send(page(&live, &sections, last).unwrap_or_default());
        });
    }
    drop(done);
    tokio::time::sleep(Duration::from_millis(200)).await; // let the pages connect
    let mut append_ms = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate().skip(1) {
        let started = Instant::now();
        store.append(campaign, Seq(i as u64), vec![event.clone()]).await?;
        let committed = Instant::now();
        commits.insert(i as u64, committed);
        append_ms.push(committed.duration_since(started).as_secs_f64() * 1000.0);
        tokio::time::sleep(PACE).await;
    }
    let (mut delivery, mut fetched) = (Vec::new(), 0);
    for (received, fetches) in finished.iter() {
        let latency = |(seq, at): (u64, Instant)| Some(at.saturating_duration_since(*commits.get(&seq)?));
        delivery.extend(received.into_iter().filter_map(latency).map(|d| d.as_secs_f64() * 1000.0));
        fetched += fetches;
    }
    Ok(Round {
        pages,
        appends: append_ms.len(),
        append_ms: distribution(append_ms),
        delivery_ms: (!delivery.is_empty()).then(|| distribution(delivery)),
        sections_fetched: fetched,
        sections_rendered: 0,
    })
}

/// One page: follows the live stream until event `last`, fetching the sections after events as
/// the page's script does. Returns when it received each event, and the fetches made.
fn page(live: &str, sections: &str, last: u64) -> anyhow::Result<(Vec<(u64, Instant)>, u64)> {
    let (wake, woken) = mpsc::channel::<()>();
    let sections = sections.to_owned();
    let fetcher = std::thread::spawn(move || {
        let mut fetched = 0;
        while woken.recv().is_ok() {
            std::thread::sleep(REFRESH);
            while woken.try_recv().is_ok() {}
            if ureq::get(&sections).call().is_ok_and(|mut r| r.body_mut().read_to_string().is_ok()) {
                fetched += 1;
            }
        }
        fetched
    });
    let response = ureq::get(live).call()?;
    let mut lines = BufReader::new(response.into_body().into_reader()).lines();
    let mut received = Vec::new();
    while let Some(line) = lines.next().transpose()? {
        let Some(id) = line.strip_prefix("id: ") else { continue };
        let seq: u64 = id.parse()?;
        received.push((seq, Instant::now()));
        let _ = wake.send(());
        if seq >= last {
            break;
        }
    }
    drop(wake);
    Ok((received, fetcher.join().unwrap_or(0)))
}
