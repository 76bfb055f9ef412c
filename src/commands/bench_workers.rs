//! `lineage bench workers`: what `lineage worker` processes buy on one machine, and what the
//! log charges for coordinating them.
//!
//! 1. **Throughput.** For each worker count W, a real campaign runs as child processes of this
//!    binary, every one with `RAYON_NUM_THREADS=1`: W = 0 is the campaign training with its own
//!    one trainer (`--trainers 1`, the anchor); W ≥ 1 is the campaign with `--trainers 0
//!    --parallel W` and W `lineage worker --trainers 1` processes. Each campaign has a fresh name
//!    and the same preset, experiments and seed; its wall time runs from the campaign process's
//!    start to its exit. The counts are interleaved across repeats (0, 1, 2, 4, 0, 1, 2, 4, …)
//!    so that drift on the machine hits them all alike; the medians are reported, and each as a
//!    ratio to W = 0.
//! 2. **Coordination cost per job.** In this process, on the same store: M scheduled runs in a
//!    fresh campaign, each claimed (`TrainingStarted` with a lease), renewed once
//!    (`LeaseRenewed`) and finished (`TrainingFinished`) the way a worker writes — every one a
//!    conditional append, [`CampaignLog::append_if`] — against the anchor: the same three
//!    events appended with a plain `store.append` at the known head, in a second campaign with
//!    the same log. Jobs alternate between the two, so drift again hits both alike.

use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lineage_actors::messages::Decision;
use lineage_actors::worker::claims;
use lineage_actors::worker::log::CampaignLog;
use lineage_events::payload::{LeaseRenewed, Payload, TrainingStarted};
use lineage_events::{ActorRef, ArchId, CampaignId, EventId, EventStore, NewEvent, RunId, Seq, synthetic};
use lineage_replay::CampaignState;
use serde::Serialize;
use tokio::task::JoinHandle;

use super::open;
use crate::machine::{Machine, cpu_steal_s};

/// What `lineage bench workers` was asked to measure.
pub struct Options<'a> {
    pub preset: &'a str,
    pub experiments: u32,
    pub workers: &'a [u32],
    pub repeat: u32,
    pub jobs: u32,
    pub json: bool,
}

/// Every campaign's seed: the same decisions wherever the same runs finish in the same order.
const SEED: u64 = 1;
/// The workers' lease (the default of `lineage worker`).
const LEASE: &str = "30s";
const LEASE_MS: u64 = 30_000;
/// How long a worker may take to exit once its campaign has: it notices the end within a
/// poll tick (at most a second); far past that it is stuck, and is killed and counted.
const WORKER_EXIT_WAIT: Duration = Duration::from_secs(60);
/// How long a campaign process may take to record its start.
const CAMPAIGN_START_WAIT: Duration = Duration::from_secs(120);
/// The writer of the coordination benchmark's claims.
const WORKER: &str = "bench-worker";

#[derive(Serialize)]
struct Report {
    machine: Machine,
    /// CPU seconds the hypervisor held back from this machine during the whole benchmark.
    steal_s: Option<f64>,
    /// `postgres` or `sqlite`.
    store_kind: &'static str,
    store: String,
    preset: String,
    experiments: u32,
    seed: u64,
    repeat: u32,
    /// Compute threads of every child process (`RAYON_NUM_THREADS`).
    threads_per_process: u32,
    throughput: Vec<Count>,
    coordination: Coordination,
}

/// The campaigns of one worker count.
#[derive(Serialize)]
struct Count {
    workers: u32,
    /// More training processes than cores: they share them.
    oversubscribed: bool,
    trials: Vec<Trial>,
    median_wall_s: f64,
    median_experiments_per_hour: f64,
    /// The median's ratio to the median with no workers (the campaign training alone).
    ratio_to_anchor: f64,
}

/// One campaign.
#[derive(Serialize)]
struct Trial {
    repeat: u32,
    campaign: String,
    wall_s: f64,
    experiments: u32,
    experiments_per_hour: f64,
    /// Runs with a result (exploration, baselines and verification).
    runs: u32,
    /// Of them, runs trained by workers.
    runs_by_workers: u32,
    /// `TrainingStarted` events: more than `runs` where a run was started again.
    starts: u32,
    /// The runs' own training time, summed.
    train_s: f64,
    steal_s: Option<f64>,
    /// Each worker's last line (`lineage worker --json`).
    worker_reports: Vec<serde_json::Value>,
    /// Runs workers claimed without recording (or dropping) a result for them.
    claims_without_result: u32,
    /// Workers that had not exited a minute after their campaign (killed), or failed.
    worker_problems: Vec<String>,
}

#[derive(Serialize)]
struct Coordination {
    jobs: u32,
    /// Mean milliseconds per job: claim + renewal + result, each with `append_if`.
    conditional_ms_per_job: f64,
    conditional_p50_ms_per_job: f64,
    claim_ms: f64,
    renewal_ms: f64,
    result_ms: f64,
    /// Mean milliseconds per job: the same three events, plain appends at the known head.
    plain_ms_per_job: f64,
    plain_p50_ms_per_job: f64,
    /// Conditional over plain (means).
    ratio: f64,
}

pub async fn run(store_url: Option<&str>, options: &Options<'_>) -> anyhow::Result<()> {
    let mut counts: Vec<u32> = Vec::new();
    for &w in options.workers {
        if !counts.contains(&w) {
            counts.push(w);
        }
    }
    if !counts.contains(&0) {
        bail!("--workers must include 0: the campaign training alone is what the others are compared with");
    }
    if let Some(w) = counts.iter().find(|&&w| w > 64) {
        bail!("--workers {w} is out of range: allowed 0..=64");
    }
    // A scratch SQLite file only when no store is named; the processes share it.
    let (url, _scratch) = match store_url {
        Some(url) => (url.to_owned(), None),
        None => {
            let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
            (format!("sqlite://{}", dir.path().join("bench.db").display()), Some(dir))
        }
    };
    let store_kind = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "postgres"
    } else if url.starts_with("sqlite://") {
        "sqlite"
    } else {
        bail!("{url}: bench workers needs a store other processes can open: sqlite://PATH or postgres://…");
    };
    let store = open(&url).await?;
    let exe = std::env::current_exe().context("cannot find the lineage executable")?;
    let tag = CampaignId::random().as_str()[2..].to_owned();
    let machine = Machine::detect();
    let steal_start = cpu_steal_s();
    eprintln!("lineage bench workers: {} in {}", store_kind, store.location());

    let coordination = coordination(&store, &tag, options.jobs).await?;
    eprintln!(
        "coordination: {:.2} ms/job conditional, {:.2} ms/job plain ({} jobs)",
        coordination.conditional_ms_per_job, coordination.plain_ms_per_job, options.jobs
    );

    let mut trials: Vec<Vec<Trial>> = counts.iter().map(|_| Vec::new()).collect();
    for repeat in 1..=options.repeat {
        for (&workers, done) in counts.iter().zip(&mut trials) {
            let campaign = CampaignId::new(format!("bw-{tag}-{workers}w{repeat}"))?;
            let trial = trial(&exe, &url, &store, options, workers, repeat, campaign)
                .await
                .with_context(|| format!("{workers} workers, repeat {repeat}"))?;
            eprintln!(
                "{workers} workers, repeat {repeat}/{}: {:.1} s, {} experiments, {} runs ({} by workers){}",
                options.repeat,
                trial.wall_s,
                trial.experiments,
                trial.runs,
                trial.runs_by_workers,
                if trial.worker_problems.is_empty() {
                    String::new()
                } else {
                    format!("; {}", trial.worker_problems.join("; "))
                }
            );
            done.push(trial);
        }
    }
    let mut throughput: Vec<Count> = counts
        .iter()
        .zip(trials)
        .map(|(&workers, trials)| Count {
            workers,
            oversubscribed: workers > machine.cores,
            median_wall_s: median(trials.iter().map(|t| t.wall_s).collect()),
            median_experiments_per_hour: median(trials.iter().map(|t| t.experiments_per_hour).collect()),
            ratio_to_anchor: 0.0,
            trials,
        })
        .collect();
    let anchor =
        throughput.iter().find(|c| c.workers == 0).expect("0 is measured").median_experiments_per_hour;
    for count in &mut throughput {
        count.ratio_to_anchor = count.median_experiments_per_hour / anchor;
    }
    let report = Report {
        steal_s: steal_start.zip(cpu_steal_s()).map(|(before, after)| after - before),
        machine,
        store_kind,
        store: store.location(),
        preset: options.preset.to_owned(),
        experiments: options.experiments,
        seed: SEED,
        repeat: options.repeat,
        threads_per_process: 1,
        throughput,
        coordination,
    };
    if options.json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    crate::output::print(&text(&report))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// A child process of this binary with one compute thread, its output captured.
fn child(exe: &std::path::Path, url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    command
        .env("RAYON_NUM_THREADS", "1")
        .args(["--store", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The last lines of a process's error output, for a message.
fn tail(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// One campaign with `workers` worker processes, timed from its process's start to its exit.
async fn trial(
    exe: &std::path::Path,
    url: &str,
    store: &Arc<dyn EventStore>,
    options: &Options<'_>,
    workers: u32,
    repeat: u32,
    campaign: CampaignId,
) -> anyhow::Result<Trial> {
    let mut command = child(exe, url);
    command.args([
        "run",
        "--preset",
        options.preset,
        "--experiments",
        &options.experiments.to_string(),
        "--seed",
        &SEED.to_string(),
        "--name",
        campaign.as_str(),
        "--json",
    ]);
    if workers == 0 {
        command.args(["--trainers", "1"]);
    } else {
        command.args(["--trainers", "0", "--parallel", &workers.to_string()]);
    }
    let steal_before = cpu_steal_s();
    let start = Instant::now();
    let process = command.spawn().context("cannot start the campaign process")?;
    let running = tokio::spawn(process.wait_with_output());

    // Workers follow a campaign that exists: start them once its first event is in the store.
    let mut worker_tasks: Vec<JoinHandle<std::io::Result<Output>>> = Vec::new();
    if workers > 0 {
        while store.head(&campaign).await?.is_none() && !running.is_finished() {
            if start.elapsed() > CAMPAIGN_START_WAIT {
                bail!("campaign {campaign} recorded nothing in {CAMPAIGN_START_WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A campaign process that exited before recording anything failed: said below.
        let started = store.head(&campaign).await?.is_some();
        for k in (1..=workers).filter(|_| started) {
            let mut command = child(exe, url);
            let name = format!("{campaign}-w{k}");
            command.args([
                "worker",
                "--campaign",
                campaign.as_str(),
                "--trainers",
                "1",
                "--name",
                &name,
                "--lease",
                LEASE,
                "--json",
            ]);
            let process = command.spawn().context("cannot start a worker process")?;
            worker_tasks.push(tokio::spawn(process.wait_with_output()));
        }
    }
    let output = running.await.context("campaign process")??;
    let wall_s = start.elapsed().as_secs_f64();
    let steal_s = steal_before.zip(cpu_steal_s()).map(|(before, after)| after - before);
    let mut worker_reports = Vec::new();
    let mut worker_problems = Vec::new();
    for (k, mut task) in worker_tasks.into_iter().enumerate() {
        match tokio::time::timeout(WORKER_EXIT_WAIT, &mut task).await {
            Err(_) => {
                task.abort(); // drops the process: killed
                worker_problems
                    .push(format!("worker {} had not exited {WORKER_EXIT_WAIT:?} after the campaign", k + 1));
            }
            Ok(done) => {
                let done = done.context("worker process")??;
                let line = String::from_utf8_lossy(&done.stdout);
                match serde_json::from_str::<serde_json::Value>(line.trim()) {
                    Ok(report) if done.status.success() => worker_reports.push(report),
                    _ => worker_problems.push(format!(
                        "worker {} failed ({}): {}",
                        k + 1,
                        done.status,
                        tail(&done)
                    )),
                }
            }
        }
    }
    ensure!(output.status.success(), "the campaign process failed ({}): {}", output.status, tail(&output));
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("the campaign printed no JSON summary")?;
    ensure!(summary["finished"] == true, "campaign {campaign} did not finish: {summary}");
    let experiments = summary["experiments"].as_u64().context("no experiment count")? as u32;

    let state = lineage_replay::fold_log(store.as_ref(), &campaign, |_| true).await?;
    let (mut runs, mut runs_by_workers, mut starts, mut train_ms) = (0, 0, 0, 0);
    for run in state.runs.values() {
        starts += run.starts;
        if run.finished.is_some() || run.failed.is_some() {
            runs += 1;
            runs_by_workers += u32::from(run.claim.as_ref().is_some_and(|c| c.lease_ms.is_some()));
        }
        if let Some((finished, _)) = &run.finished {
            train_ms += finished.metrics.wall_ms;
        }
    }
    let count = |report: &serde_json::Value, key: &str| report[key].as_u64().unwrap_or(0) as u32;
    let claims_without_result = worker_reports
        .iter()
        .map(|r| {
            count(r, "claimed")
                .saturating_sub(count(r, "results") + count(r, "discarded") + count(r, "released"))
        })
        .sum();
    Ok(Trial {
        repeat,
        campaign: campaign.to_string(),
        wall_s,
        experiments,
        experiments_per_hour: experiments as f64 / (wall_s / 3600.0),
        runs,
        runs_by_workers,
        starts,
        train_s: train_ms as f64 / 1000.0,
        steal_s,
        worker_reports,
        claims_without_result,
        worker_problems,
    })
}

/// One scheduled run of the coordination benchmark.
struct Job {
    run: RunId,
    arch: ArchId,
    scheduled: EventId,
    finished: Payload,
}

/// Starts a campaign like a real one up to `jobs` scheduled runs: `CampaignStarted`, then per
/// experiment its selection, proposal, novelty verdict, check and `TrainingScheduled`.
async fn seed_log(
    store: &dyn EventStore,
    campaign: &CampaignId,
    jobs: u32,
) -> anyhow::Result<(Seq, Vec<Job>)> {
    let actor = ActorRef::new("bench", "bench-workers");
    let mut payloads = vec![synthetic::one_of_each().swap_remove(0)];
    let mut out = Vec::new();
    for i in 1..=u64::from(jobs) {
        let experiment = synthetic::experiment(i);
        let scheduled = experiment.iter().position(|p| matches!(p, Payload::TrainingScheduled(_)));
        let scheduled = scheduled.expect("an experiment schedules a run");
        let finished = experiment.iter().find(|p| matches!(p, Payload::TrainingFinished(_)));
        let finished = finished.expect("an experiment's run finishes").clone();
        let Payload::TrainingScheduled(run) = &experiment[scheduled] else { unreachable!() };
        let key = format!("setup/{}", payloads.len() + scheduled);
        out.push(Job {
            run: run.run.clone(),
            arch: run.arch.clone(),
            scheduled: EventId::derive(campaign, &key),
            finished,
        });
        payloads.extend(experiment.into_iter().take(scheduled + 1));
    }
    ensure!(matches!(payloads[0], Payload::CampaignStarted(_)), "the synthetic log starts with its start");
    let events: Vec<NewEvent> = payloads
        .iter()
        .enumerate()
        .map(|(n, p)| NewEvent::new(EventId::derive(campaign, &format!("setup/{n}")), actor.clone(), p))
        .collect();
    let mut next = Seq(0);
    for batch in events.chunks(500) {
        next = store.append(campaign, next, batch.to_vec()).await?.head.next;
    }
    Ok((next, out))
}

/// A job's three decisions, as a worker makes them: claim, renewal, result.
fn decisions(job: &Job) -> [Decision; 3] {
    let started = TrainingStarted {
        run: job.run.clone(),
        arch: job.arch.clone(),
        trainer: WORKER.into(),
        backend: "flex".into(),
        threads: 1,
        host: lineage_actors::host(),
        lease_ms: Some(LEASE_MS),
    };
    let renewed =
        LeaseRenewed { run: job.run.clone(), arch: job.arch.clone(), start: 0, worker: WORKER.into() };
    [
        Decision::new(format!("start/{}/0", job.run), WORKER, started).caused_by(Some(job.scheduled)),
        Decision::new(format!("renew/{}/0/0", job.run), WORKER, renewed),
        Decision::new(format!("finish/{}", job.run), WORKER, job.finished.clone())
            .caused_by(Some(job.scheduled)),
    ]
}

/// The event a decision is recorded as (as `append_if` and the recorder write it).
fn event(campaign: &CampaignId, decision: Decision) -> NewEvent {
    let mut event =
        NewEvent::new(EventId::derive(campaign, &decision.key), decision.actor, &decision.payload);
    event.causation = decision.cause;
    event
}

/// Milliseconds of a job's claim, renewal and result, each a conditional append.
async fn conditional_job(log: &mut CampaignLog, job: &Job) -> anyhow::Result<[f64; 3]> {
    let [claim, renewal, result] = decisions(job);
    let start = Instant::now();
    // The worker looks for the next claimable run, then claims it if it is still free there.
    let run = claims::claimable(&log.state).first().map(|r| (*r).clone()).context("nothing to claim")?;
    ensure!(run == job.run, "the next claimable run is {run}, expected {}", job.run);
    let free = |s: &CampaignState| s.runs.get(&run).is_some_and(|r| r.claimable() && r.starts == 0);
    ensure!(log.append_if(vec![claim], free).await?, "the claim of {run} was refused");
    let claimed = start.elapsed();
    let holds = |s: &CampaignState| claims::holds(s, &run, 0, WORKER);
    ensure!(log.append_if(vec![renewal], holds).await?, "the renewal of {run} was refused");
    let renewed = start.elapsed();
    ensure!(log.append_if(vec![result], holds).await?, "the result of {run} was refused");
    let done = start.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok([ms(claimed), ms(renewed - claimed), ms(done - renewed)])
}

/// Milliseconds of the same three events appended one by one at the known head.
async fn plain_job(
    store: &dyn EventStore,
    campaign: &CampaignId,
    next: &mut Seq,
    job: &Job,
) -> anyhow::Result<f64> {
    let events = decisions(job).map(|d| event(campaign, d));
    let start = Instant::now();
    for e in events {
        *next = store.append(campaign, *next, vec![e]).await?.head.next;
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

async fn coordination(store: &Arc<dyn EventStore>, tag: &str, jobs: u32) -> anyhow::Result<Coordination> {
    let conditional = CampaignId::new(format!("bw-{tag}-conditional"))?;
    let plain = CampaignId::new(format!("bw-{tag}-plain"))?;
    let (_, conditional_jobs) = seed_log(store.as_ref(), &conditional, jobs).await?;
    let (mut next, plain_jobs) = seed_log(store.as_ref(), &plain, jobs).await?;
    let mut log = CampaignLog::new(store.clone(), conditional.clone());
    log.catch_up().await?;

    let (mut steps, mut per_job, mut plain_ms) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (a, b)) in conditional_jobs.iter().zip(&plain_jobs).enumerate() {
        // Alternate which goes first.
        if i % 2 == 1 {
            plain_ms.push(plain_job(store.as_ref(), &plain, &mut next, b).await?);
        }
        let ms = conditional_job(&mut log, a).await?;
        steps.push(ms);
        per_job.push(ms.iter().sum::<f64>());
        if i % 2 == 0 {
            plain_ms.push(plain_job(store.as_ref(), &plain, &mut next, b).await?);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let step = |k: usize| mean(&steps.iter().map(|s| s[k]).collect::<Vec<_>>());
    let conditional_ms_per_job = mean(&per_job);
    let plain_ms_per_job = mean(&plain_ms);
    Ok(Coordination {
        jobs,
        conditional_ms_per_job,
        conditional_p50_ms_per_job: median(per_job),
        claim_ms: step(0),
        renewal_ms: step(1),
        result_ms: step(2),
        plain_ms_per_job,
        plain_p50_ms_per_job: median(plain_ms),
        ratio: conditional_ms_per_job / plain_ms_per_job,
    })
}

fn text(report: &Report) -> String {
    let steal = match report.steal_s {
        Some(s) => format!("; hypervisor steal during the benchmark: {s:.1} CPU-s"),
        None => String::new(),
    };
    let store = match report.store_kind {
        "postgres" => "PostgreSQL",
        _ => "SQLite (a quick check: the shared store is PostgreSQL)",
    };
    let mut out = format!("machine: {}{steal}\n", report.machine);
    out += &format!("store:   {store}, {}\n", report.store);
    out += &format!(
        "campaigns: preset {}, {} experiments, seed {}, {} repeat(s) per count, interleaved; every process one compute thread (RAYON_NUM_THREADS=1)\n\n",
        report.preset, report.experiments, report.seed, report.repeat
    );
    out += "workers   wall s   experiments/h   vs 0 workers   runs (by workers)   training s/run\n";
    for count in &report.throughput {
        let runs = median(count.trials.iter().map(|t| f64::from(t.runs)).collect());
        let by_workers = median(count.trials.iter().map(|t| f64::from(t.runs_by_workers)).collect());
        let per_run = median(count.trials.iter().map(|t| t.train_s / f64::from(t.runs.max(1))).collect());
        out += &format!(
            "{:>5}{} {:>8.1} {:>15.0} {:>13.2}x {:>10.0} ({:>3.0}) {:>16.2}\n",
            count.workers,
            if count.oversubscribed { "*" } else { " " },
            count.median_wall_s,
            count.median_experiments_per_hour,
            count.ratio_to_anchor,
            runs,
            by_workers,
            per_run,
        );
    }
    if report.throughput.iter().any(|c| c.oversubscribed) {
        out += &format!(
            "* more worker processes than the {} cores: they share them (and the campaign process's)\n",
            report.machine.cores
        );
    }
    out += "(medians over the repeats; wall time from the campaign process's start to its exit)\n";
    let unclaimed: u32 =
        report.throughput.iter().flat_map(|c| &c.trials).map(|t| t.claims_without_result).sum();
    if unclaimed > 0 {
        out +=
            &format!("note: workers claimed {unclaimed} run(s) they recorded no result for (see --json)\n");
    }
    for trial in report.throughput.iter().flat_map(|c| &c.trials) {
        for problem in &trial.worker_problems {
            out += &format!("note: {}: {problem}\n", trial.campaign);
        }
    }
    let c = &report.coordination;
    out += &format!("\ncoordination per job ({} jobs: claim, one lease renewal, result):\n", c.jobs);
    out += &format!(
        "  conditional appends (append_if)   {:>7.2} ms/job (p50 {:.2}; claim {:.2}, renewal {:.2}, result {:.2})\n",
        c.conditional_ms_per_job, c.conditional_p50_ms_per_job, c.claim_ms, c.renewal_ms, c.result_ms
    );
    out += &format!(
        "  plain appends at the known head   {:>7.2} ms/job (p50 {:.2})\n",
        c.plain_ms_per_job, c.plain_p50_ms_per_job
    );
    out += &format!("  ratio                             {:>7.2}x", c.ratio);
    out
}
