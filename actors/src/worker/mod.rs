//! `lineage worker`: trains the runs of the live campaigns in a shared store, on any machine
//! that can reach it (docs/scale-out.md). No scheduler: the log is the queue and the lock.
//!
//! - **Claim.** A scheduled run no one holds is claimed by appending its `TrainingStarted` with
//!   a lease, under the key `start/{run}/{n}` a trainer of the campaign process would use for
//!   the same start: whoever appends it first trains, the other finds it taken.
//! - **Lease.** The worker shows it is alive — progress, or `LeaseRenewed` when a third of the
//!   lease passes without any — and anyone (the campaign, another worker) that sees a lease
//!   silent for longer than itself records `LeaseExpired`; the run may then start again.
//! - **Result.** Keyed by the run alone and appended only while the worker's start still holds
//!   the run ([`claims::holds`], checked at the position the append lands on): a worker that
//!   was stopped past its lease finds its start expired and records nothing, so a run has one
//!   counted result whoever trained it.
//!
//! Every write goes through [`log::CampaignLog::append_if`]. A store that fails (the server
//! restarting) is retried with backoff; nothing the worker decided is acted on before it is
//! in the log.

pub mod claims;
pub mod log;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lineage_arch::backend::Numerics;
use lineage_events::payload::{
    HostInfo, LeaseExpired, LeaseRenewed, Payload, TrainingFailure, TrainingFinished, TrainingProgress,
    TrainingStarted,
};
use lineage_events::{CampaignId, EventStore, RunId, StoreError};
use tokio::sync::mpsc;

use self::log::CampaignLog;
use crate::messages::{Decision, Train};
use crate::planner;
use crate::trainer::{progress_key, result_decision, start_key, train_run};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Its name in the log (`TrainingStarted.trainer`, `LeaseRenewed.worker`).
    pub name: String,
    /// Only these campaigns (they must exist); empty: every live campaign, including ones
    /// started later.
    pub campaigns: Vec<CampaignId>,
    /// Runs trained at once.
    pub trainers: u32,
    /// The lease a claim carries.
    pub lease: Duration,
    /// Memory one run may use here, bytes.
    pub memory_per_run: u64,
}

/// What a worker did, for its last line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerReport {
    /// Runs it claimed.
    pub claimed: u32,
    /// Results it recorded (finished or failed runs).
    pub results: u32,
    /// Results it dropped: its lease had lapsed and the run was released.
    pub discarded: u32,
    /// Runs it stopped training: its lease lapsed while it was silent (stopped, cut off).
    pub lost: u32,
    /// Leases it renewed.
    pub renewals: u32,
    /// Other holders' leases it recorded as expired.
    pub expired: u32,
    /// Its own runs it released when stopped.
    pub released: u32,
    /// Store failures it waited out.
    pub store_retries: u32,
}

/// Why a worker stopped without finishing its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A campaign named with `--campaign` is not in the store. Tell the user.
    #[error("unknown campaign {0} (see `lineage campaigns`)")]
    UnknownCampaign(CampaignId),
    /// A campaign named with `--campaign` trains on another backend than this worker's: its
    /// results would not be comparable with the campaign's. Tell the user.
    #[error(
        "campaign {campaign} trains on backend {recorded} (recorded at its start); this worker's is {here}: set LINEAGE_BACKEND={recorded} on a build that has it"
    )]
    Backend {
        /// The campaign.
        campaign: CampaignId,
        /// Its recorded backend.
        recorded: String,
        /// This worker's.
        here: String,
    },
    /// The store failed and kept failing. Tell the user; restart the worker.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A run this worker trains.
struct Job {
    train: Train,
    start: u32,
    /// When this worker last put a sign of life in the log.
    shown: Instant,
    renewals: u32,
    cancel: Arc<AtomicBool>,
}

/// What a training thread reports.
#[derive(Clone)]
enum Report {
    Progress(JobKey, TrainingProgress),
    Done(JobKey, Result<TrainingFinished, TrainingFailure>),
}

/// A job: the followed campaign's index and the run (run ids repeat across campaigns).
type JobKey = (usize, RunId);

/// A followed campaign: its log, and whether this worker can train it (`None`: not read yet).
struct Followed {
    log: CampaignLog,
    usable: Option<bool>,
}

/// How often the worker looks for new campaigns in the store.
const DISCOVER_EVERY: Duration = Duration::from_secs(5);
/// Backoff after a store failure, doubling up to [`STORE_BACKOFF_MAX`].
const STORE_BACKOFF: Duration = Duration::from_millis(200);
const STORE_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Store failures in a row after which the worker gives up.
const STORE_FAILURES_MAX: u32 = 30;

/// A worker over `store`; runs until `stop` completes, or, with named campaigns, until they
/// have all finished.
pub struct Worker {
    store: Arc<dyn EventStore>,
    options: WorkerOptions,
    followed: Vec<Followed>,
    jobs: BTreeMap<JobKey, Job>,
    reports: (mpsc::UnboundedSender<Report>, mpsc::UnboundedReceiver<Report>),
    /// Reports received and not recorded yet.
    pending: std::collections::VecDeque<Report>,
    report: WorkerReport,
    backend: String,
    host: HostInfo,
    /// Compute threads per trainer: this machine's shared evenly.
    threads: u32,
}

impl Worker {
    /// A worker with these options.
    pub fn new(store: Arc<dyn EventStore>, options: WorkerOptions) -> Self {
        Self {
            store,
            followed: Vec::new(),
            jobs: BTreeMap::new(),
            reports: mpsc::unbounded_channel(),
            pending: Default::default(),
            report: WorkerReport::default(),
            backend: lineage_arch::backend::label(),
            host: crate::host::host(),
            threads: crate::training::threads_per_trainer(options.trainers),
            options,
        }
    }

    /// Works until `stop` completes (then releases its runs) or every named campaign finished.
    pub async fn run(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerReport, WorkerError> {
        for campaign in &self.options.campaigns {
            if self.store.head(campaign).await?.is_none() {
                return Err(WorkerError::UnknownCampaign(campaign.clone()));
            }
        }
        tokio::pin!(stop);
        let mut changes = self.store.changes();
        let tick = (self.options.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut last_discovery: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            let step = async {
                if last_discovery.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY) {
                    self.discover().await?;
                    last_discovery = Some(Instant::now());
                }
                self.step().await
            };
            match step.await {
                Ok(()) => failures = 0,
                Err(WorkerError::Store(error)) if failures < STORE_FAILURES_MAX => {
                    failures += 1;
                    self.report.store_retries += 1;
                    let wait = (STORE_BACKOFF * 2u32.saturating_pow(failures - 1)).min(STORE_BACKOFF_MAX);
                    tracing::warn!(
                        "worker {}: the store failed ({error}); again in {wait:?}",
                        self.options.name
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(other) => return Err(other),
            }
            if self.all_named_finished() {
                return Ok(self.report);
            }
            tokio::select! {
                () = &mut stop => break,
                _ = changes.changed() => {}
                Some(report) = self.reports.1.recv() => self.pending.push_back(report),
                () = tokio::time::sleep(tick) => {}
            }
        }
        self.release().await?;
        Ok(self.report)
    }

    /// One round: read every campaign, record what lapsed, renew, claim.
    async fn step(&mut self) -> Result<(), WorkerError> {
        for i in 0..self.followed.len() {
            // A finished campaign, or one on another backend, has nothing more for it.
            let f = &self.followed[i];
            if f.log.state.finished.is_some() || f.usable == Some(false) {
                continue;
            }
            self.followed[i].log.catch_up().await?;
            if self.followed[i].usable.is_none() && self.followed[i].log.state.started.is_some() {
                let usable = self.check_backend(i)?;
                self.followed[i].usable = Some(usable);
            }
        }
        while let Ok(report) = self.reports.1.try_recv() {
            self.pending.push_back(report);
        }
        // Each report is forgotten only once recorded: a store failure meanwhile retries it.
        while let Some(report) = self.pending.front().cloned() {
            self.handle(report).await?;
            self.pending.pop_front();
        }
        self.expire_others().await?;
        self.renew().await?;
        self.claim().await
    }

    /// Follows the store's campaigns (the named ones, or every one) not followed yet.
    async fn discover(&mut self) -> Result<(), WorkerError> {
        let ids: Vec<CampaignId> = if self.options.campaigns.is_empty() {
            self.store.campaigns().await?.into_iter().map(|c| c.campaign).collect()
        } else {
            self.options.campaigns.clone()
        };
        for id in ids {
            if !self.followed.iter().any(|f| f.log.campaign == id) {
                self.followed.push(Followed { log: CampaignLog::new(self.store.clone(), id), usable: None });
            }
        }
        Ok(())
    }

    /// Whether this worker's backend is the one the campaign trains on; a named campaign on
    /// another is an error, any other is skipped with one warning.
    fn check_backend(&self, i: usize) -> Result<bool, WorkerError> {
        let log = &self.followed[i].log;
        let recorded = &log.state.started.as_ref().expect("started").backend;
        // The backend decides where a run can train; the numerics revision is each run's own.
        let (recorded, here) = (Numerics::of_label(recorded).0, lineage_arch::backend::name());
        if recorded == here {
            return Ok(true);
        }
        let error = WorkerError::Backend {
            campaign: log.campaign.clone(),
            recorded: recorded.into(),
            here: here.into(),
        };
        if self.options.campaigns.contains(&log.campaign) {
            return Err(error);
        }
        tracing::warn!("worker {}: skipping: {error}", self.options.name);
        Ok(false)
    }

    fn all_named_finished(&self) -> bool {
        !self.options.campaigns.is_empty()
            && self.jobs.is_empty()
            && self.followed.iter().all(|f| f.log.state.finished.is_some())
    }

    /// Records `LeaseExpired` for other holders' leases silent longer than their lease.
    async fn expire_others(&mut self) -> Result<(), WorkerError> {
        let now = Instant::now();
        for i in 0..self.followed.len() {
            let jobs = &self.jobs;
            let log = &mut self.followed[i].log;
            let seen = &mut log.seen;
            let stalled = log.stalls.last();
            let last_seen = |run: &RunId| {
                let seen = *seen.entry(run.clone()).or_insert(now);
                stalled.map_or(seen, |s| s.max(seen))
            };
            let mine = |run: &RunId| jobs.contains_key(&(i, run.clone()));
            let lapsed = claims::lapsed(&log.state, now, last_seen, mine);
            // Judged on the state as read: only onto that state (a renewal since answers it).
            let judged_at = log.state.events;
            for expired in lapsed {
                let (run, start) = (expired.run.clone(), expired.start);
                let decision = Decision::new(claims::expiry_key(&expired), &self.options.name, expired);
                if log.append_if(vec![decision], |s| s.events == judged_at).await? {
                    self.report.expired += 1;
                    tracing::info!("worker {}: lease of {run} start {start} expired", self.options.name);
                }
            }
        }
        Ok(())
    }

    /// Renews each of its leases a third of a lease after it last showed a sign of life; drops
    /// a job whose start no longer holds its run.
    async fn renew(&mut self) -> Result<(), WorkerError> {
        let due: Vec<JobKey> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.shown.elapsed() >= self.options.lease / 3)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let job = &self.jobs[&key];
            let renewed = LeaseRenewed {
                run: job.train.run.clone(),
                arch: job.train.arch.clone(),
                start: job.start,
                worker: self.options.name.as_str().into(),
            };
            let decision = Decision::new(
                format!("renew/{}/{}/{}", job.train.run, job.start, job.renewals),
                &self.options.name,
                renewed,
            );
            if self.append_for_job(&key, decision).await? {
                self.report.renewals += 1;
                if let Some(job) = self.jobs.get_mut(&key) {
                    job.renewals += 1;
                }
            }
        }
        Ok(())
    }

    /// Appends a decision of a job while its start holds the run; when it no longer does, the
    /// job is cancelled and forgotten (another may hold the run now), counted as a run lost or,
    /// for its result, a late result dropped.
    async fn append_for_job(&mut self, key: &JobKey, decision: Decision) -> Result<bool, WorkerError> {
        let result = matches!(decision.payload, Payload::TrainingFinished(_) | Payload::TrainingFailed(_));
        let Some(job) = self.jobs.get(key) else { return Ok(false) };
        let (run, start, name) = (job.train.run.clone(), job.start, self.options.name.clone());
        let log = &mut self.followed[key.0].log;
        let appended = log.append_if(vec![decision], |s| claims::holds(s, &run, start, &name)).await?;
        if appended {
            if let Some(job) = self.jobs.get_mut(key) {
                job.shown = Instant::now();
            }
        } else if !claims::holds(&log.state, &run, start, &name) {
            tracing::warn!(
                "worker {name}: lost {run} (start {start}): its lease expired while this worker was silent; dropping it"
            );
            if let Some(job) = self.jobs.remove(key) {
                job.cancel.store(true, Ordering::Relaxed);
                if result {
                    self.report.discarded += 1;
                } else {
                    self.report.lost += 1;
                }
            }
        }
        Ok(appended)
    }

    /// A training thread's report: progress is recorded (it renews the lease), a result is
    /// recorded if the start still holds the run, else discarded.
    async fn handle(&mut self, report: Report) -> Result<(), WorkerError> {
        match report {
            Report::Progress(key, progress) => {
                let Some(job) = self.jobs.get(&key) else { return Ok(()) };
                let decision =
                    Decision::new(progress_key(&job.train, progress.step), &self.options.name, progress)
                        .caused_by(Some(job.train.cause));
                self.append_for_job(&key, decision).await?;
            }
            Report::Done(key, result) => {
                let Some(job) = self.jobs.get(&key) else { return Ok(()) };
                let decision =
                    result_decision(&job.train, &self.options.name, result).caused_by(Some(job.train.cause));
                if self.append_for_job(&key, decision).await? {
                    self.report.results += 1;
                    tracing::info!("worker {}: recorded the result of {}", self.options.name, key.1);
                }
                self.jobs.remove(&key);
            }
        }
        Ok(())
    }

    /// Claims runs while a trainer is free: the first claimable run of any usable campaign that
    /// fits this machine's memory per run.
    async fn claim(&mut self) -> Result<(), WorkerError> {
        while self.jobs.len() < self.options.trainers as usize {
            let Some((i, train)) = self.next_run() else { return Ok(()) };
            let started = TrainingStarted {
                run: train.run.clone(),
                arch: train.arch.clone(),
                trainer: self.options.name.as_str().into(),
                backend: self.backend.clone().into(),
                threads: self.threads,
                host: self.host.clone(),
                lease_ms: Some(self.options.lease.as_millis() as u64),
            };
            let decision =
                Decision::new(start_key(&train), &self.options.name, started).caused_by(Some(train.cause));
            let (run, starts) = (train.run.clone(), train.previous_starts);
            let free = |s: &lineage_replay::CampaignState| {
                s.runs.get(&run).is_some_and(|r| r.claimable() && r.starts == starts)
            };
            if !self.followed[i].log.append_if(vec![decision], free).await? {
                continue; // taken meanwhile: look again
            }
            self.report.claimed += 1;
            tracing::info!("worker {}: claimed {} ({})", self.options.name, train.run, train.arch);
            self.spawn(i, train);
        }
        Ok(())
    }

    /// The next run to claim, with its training command.
    fn next_run(&self) -> Option<(usize, Train)> {
        for (i, followed) in self.followed.iter().enumerate() {
            if followed.usable != Some(true) {
                continue;
            }
            let state = &followed.log.state;
            for run in claims::claimable(state) {
                let config = state.config();
                let train = planner::training_command(state, config, run);
                let stage = match train.stage {
                    lineage_events::payload::Stage::Exploration => &config.exploration,
                    lineage_events::payload::Stage::Verification => &config.verification,
                };
                // A run this machine cannot hold stays for one that can.
                if crate::training::trainable(&train.program, stage, self.options.memory_per_run).is_ok() {
                    return Some((i, train));
                }
            }
        }
        None
    }

    /// Trains on a thread of its own computing on a pool of its own, reporting progress and the
    /// result.
    fn spawn(&mut self, campaign: usize, train: Train) {
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job {
            train: train.clone(),
            start: train.previous_starts,
            shown: Instant::now(),
            renewals: 0,
            cancel: cancel.clone(),
        };
        self.jobs.insert((campaign, train.run.clone()), job);
        let config = self.followed[campaign].log.state.config().clone();
        let memory = self.options.memory_per_run;
        let reports = self.reports.0.clone();
        let key = (campaign, train.run.clone());
        let threads = self.threads;
        std::thread::spawn(move || {
            let device = lineage_arch::backend::device();
            let result = crate::training::pool(threads).install(|| {
                train_run(&train, &config, memory, &device, |progress| {
                    if cancel.load(Ordering::Relaxed) {
                        // Out of the training loop, caught by `train_run`; no panic message.
                        std::panic::resume_unwind(Box::new("cancelled"));
                    }
                    let _ = reports.send(Report::Progress(key.clone(), progress));
                })
            });
            if !cancel.load(Ordering::Relaxed) {
                let _ = reports.send(Report::Done(key, result));
            }
        });
    }

    /// Stopping: cancels every job and releases its run at once (an expiry of its own start),
    /// so another worker or the campaign takes it without waiting out the lease.
    async fn release(&mut self) -> Result<(), WorkerError> {
        let jobs = std::mem::take(&mut self.jobs);
        for ((i, run), job) in jobs {
            job.cancel.store(true, Ordering::Relaxed);
            let expired = LeaseExpired {
                run: run.clone(),
                arch: job.train.arch.clone(),
                start: job.start,
                worker: self.options.name.as_str().into(),
                lease_ms: self.options.lease.as_millis() as u64,
                silent_ms: 0,
            };
            let decision = Decision::new(claims::expiry_key(&expired), &self.options.name, expired);
            let name = self.options.name.clone();
            let start = job.start;
            if self.followed[i]
                .log
                .append_if(vec![decision], |s| claims::holds(s, &run, start, &name))
                .await?
            {
                self.report.released += 1;
            }
        }
        Ok(())
    }
}
