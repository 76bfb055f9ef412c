//! `lineage bench attach`: how soon an attached analyst hears of a committed event. A writer
//! appends single events to a temporary SQLite file; an analyst is attached through a second,
//! separate store handle on the same file (its own connections and change poll, as another
//! process would have), optionally wrapping a program started with `--exec`. Measured from the
//! append returning (durably committed) to the attach runner handing the event to the analyst,
//! and, with `--exec`, to the program's `done` for it.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lineage_actors::attach::external::External;
use lineage_actors::attach::{Attach, AttachError, Conclusion, LiveAnalyst, StartAt};
use lineage_events::{CampaignId, EventStore, RecordedEvent, Seq, SqliteStore};
use lineage_replay::CampaignState;
use serde::Serialize;

use super::bench_store::{Distribution, EventSource, distribution};
use crate::machine::Machine;

#[derive(Serialize)]
struct Report {
    machine: Machine,
    samples: u32,
    exec: Option<String>,
    to_runner_p50_ms: f64,
    to_runner_p99_ms: f64,
    to_runner_max_ms: f64,
    to_answer_p50_ms: Option<f64>,
    to_answer_p99_ms: Option<f64>,
}

/// Forwards to the analyst under test (if any), noting when each event arrived and when it was
/// answered.
struct Timed {
    inner: Option<External>,
    seen: mpsc::Sender<(Seq, Instant, Instant)>,
}

impl LiveAnalyst for Timed {
    fn start(&mut self, from: Seq) -> Result<(), AttachError> {
        self.inner.as_mut().map_or(Ok(()), |a| a.start(from))
    }

    fn observe(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
        body: &str,
    ) -> Result<Vec<Conclusion>, AttachError> {
        let arrived = Instant::now();
        let out = self.inner.as_mut().map_or(Ok(Vec::new()), |a| a.observe(state, event, body))?;
        let _ = self.seen.send((event.seq, arrived, Instant::now()));
        Ok(out)
    }
}

pub async fn run(samples: u32, exec: Option<&str>, json: bool) -> anyhow::Result<()> {
    if samples == 0 {
        bail!("--samples must be at least 1");
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let path = dir.path().join("attach.db");
    let writer = SqliteStore::open(&path).await?;
    let campaign = CampaignId::new("bench-attach").expect("valid id");
    let mut source = EventSource::new(campaign.clone());
    let mut next = writer.append(&campaign, Seq(0), source.take(1)).await?.head.next;

    let (seen, arrivals) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let inner = exec.map(|command| External::spawn(command, "bench", &campaign)).transpose()?;
    let follower = {
        let (path, campaign) = (path.clone(), campaign.clone());
        // Its own thread and runtime: an external analyst is spoken to with blocking pipes.
        std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let store = std::sync::Arc::new(SqliteStore::open(&path).await?);
                let attach = Attach {
                    store,
                    campaign,
                    label: "bench".into(),
                    from: StartAt::Start,
                    checkpoint: None,
                    until: lineage_actors::attach::Until::Stopped,
                };
                let mut timed = Timed { inner, seen };
                attach
                    .run(&mut timed, async {
                        let _ = stopped.await;
                    })
                    .await?;
                Ok(())
            })
        })
    };
    let wait_for = |seq: Seq| -> anyhow::Result<(Instant, Instant)> {
        loop {
            let (got, arrived, answered) =
                arrivals.recv_timeout(Duration::from_secs(30)).context("the analyst saw nothing for 30 s")?;
            if got == seq {
                return Ok((arrived, answered));
            }
        }
    };
    wait_for(Seq(0))?; // warm-up: the analyst is following
    let (mut to_runner, mut to_answer) = (Vec::new(), Vec::new());
    for i in 0..samples {
        // Vary the gap so commits land at every phase of the follower's poll interval.
        tokio::time::sleep(Duration::from_micros(1_000 + (i as u64 * 7_919) % 4_000)).await;
        let appended = writer.append(&campaign, next, source.take(1)).await?;
        let committed = Instant::now();
        let (arrived, answered) = wait_for(next)?;
        to_runner.push(arrived.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        to_answer.push(answered.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        next = appended.head.next;
    }
    let _ = stop.send(());
    follower.join().map_err(|_| anyhow::anyhow!("the follower panicked"))??;

    let runner: Distribution = distribution(to_runner);
    let answer = exec.map(|_| distribution(to_answer));
    let report = Report {
        machine: Machine::detect(),
        samples,
        exec: exec.map(str::to_owned),
        to_runner_p50_ms: runner.p50,
        to_runner_p99_ms: runner.p99,
        to_runner_max_ms: runner.max,
        to_answer_p50_ms: answer.as_ref().map(|a| a.p50),
        to_answer_p99_ms: answer.as_ref().map(|a| a.p99),
    };
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    let mut text = format!(
        "machine: {}\n{samples} events, one at a time\ncommit -> attached analyst: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        report.machine, runner.p50, runner.p99, runner.max
    );
    if let Some(a) = &answer {
        text.push_str(&format!(
            "\ncommit -> the program's answer ({}): p50 {:.2} ms, p99 {:.2} ms",
            exec.unwrap_or(""),
            a.p50,
            a.p99
        ));
    }
    crate::output::print(&text)
}
