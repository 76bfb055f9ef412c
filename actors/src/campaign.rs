//! Starting and resuming a campaign: build the actor system, replay the existing log into every
//! actor, record the start (or the resume, with what is re-dispatched), and let the
//! orchestrator run until the campaign finishes, pauses (Ctrl-C) or fails.

use std::sync::{Arc, OnceLock};

use actix::prelude::*;
use lineage_events::payload::{CampaignConfig, CampaignResumed, CampaignStarted, HostInfo};
use lineage_events::{CampaignId, EventStore};
use lineage_replay::{CampaignState, Phase};

use crate::analyst::Analyst;
use crate::debugger::Debugger;
use crate::engineer::Engineer;
use crate::messages::{Committed, Decision, Pause, Record};
use crate::monitor::{Monitor, Observer};
use crate::novelty::Fingerprints;
use crate::orchestrator::{Kick, Orchestrator, Team};
use crate::recorder::Recorder;
use crate::researcher::Researcher;
use crate::shared::Shared;
use crate::trainer::Trainer;

/// A new campaign.
#[derive(Clone, Debug)]
pub struct NewCampaign {
    /// Human name.
    pub name: String,
    /// Campaign seed: every random draw derives from it.
    pub seed: u64,
    /// Resolved config.
    pub config: CampaignConfig,
}

/// Start a new campaign or continue one from its log.
#[derive(Clone, Debug)]
pub enum Start {
    /// Record `CampaignStarted` and begin.
    New(Box<NewCampaign>),
    /// Continue from the log.
    Resume,
}

/// Why a campaign could not run.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] lineage_events::StoreError),
    /// Something about the campaign's log or state prevents the request.
    #[error("{0}")]
    Invalid(String),
    /// The campaign stopped on an error; what was committed is kept.
    #[error("the campaign stopped: {0}; what was recorded is kept, continue with `lineage resume {1}`")]
    Stopped(String, CampaignId),
}

/// How the run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The state at the end.
    pub state: CampaignState,
    /// Paused (Ctrl-C) rather than finished.
    pub paused: bool,
}

async fn read_state(
    store: &Arc<dyn EventStore>,
    campaign: &CampaignId,
) -> Result<CampaignState, CampaignError> {
    Ok(lineage_replay::fold_log(store.as_ref(), campaign, |_| true).await?)
}

/// Resolves to `true` at the first Ctrl-C. On Unix the handler is in place when this returns.
fn interrupt() -> std::io::Result<impl std::future::Future<Output = bool>> {
    #[cfg(unix)]
    {
        let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        Ok(async move { signal.recv().await.is_some() })
    }
    #[cfg(not(unix))]
    {
        Ok(async { tokio::signal::ctrl_c().await.is_ok() })
    }
}

/// This machine, for the record.
pub fn host() -> HostInfo {
    let hostname = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    HostInfo {
        hostname: if hostname.is_empty() { "unknown".into() } else { hostname.into() },
        platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH).into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}

/// The analysts the config names that run through the attach mechanism (`edit-stats` runs
/// inside the Analyst, in step with the fitness it explains): each follows the log from the
/// start (what it wrote before a resume is not written again) until the system stops.
fn start_attached_analysts(store: &Arc<dyn EventStore>, campaign: &CampaignId, config: &CampaignConfig) {
    for name in config.analysts.iter().filter(|a| *a != "edit-stats") {
        let Some(mut analyst) = crate::attach::builtin::by_name(name, name) else { continue };
        let attach = crate::attach::Attach {
            store: store.clone(),
            campaign: campaign.clone(),
            label: name.clone(),
            from: crate::attach::StartAt::Start,
            checkpoint: None,
            once: false,
        };
        let label = name.clone();
        actix::spawn(async move {
            if let Err(error) = attach.run(analyst.as_mut(), std::future::pending()).await {
                tracing::warn!("analyst {label}: {error}");
            }
        });
    }
}

/// Runs the campaign to its end on the calling thread (which must not be inside an async
/// runtime: this starts the actor system's own).
pub fn run(
    store: Arc<dyn EventStore>,
    campaign: CampaignId,
    start: Start,
    observer: Observer,
) -> Result<Outcome, CampaignError> {
    let system = System::new();
    let outcome = system.block_on(async {
        let existing = read_state(&store, &campaign).await?;
        let (config, seed) = match (&start, &existing.started) {
            (Start::New(_), Some(_)) => {
                return Err(CampaignError::Invalid(format!(
                    "campaign {campaign} already exists; resume it or pick another name"
                )));
            }
            (Start::New(new), None) => (new.config.clone(), new.seed),
            (Start::Resume, None) => {
                return Err(CampaignError::Invalid(format!(
                    "campaign {campaign} has no CampaignStarted event to resume from"
                )));
            }
            (Start::Resume, Some(started)) => {
                if let Some(finished) = &existing.finished {
                    return Err(CampaignError::Invalid(format!(
                        "campaign {campaign} already finished ({}); nothing to resume",
                        finished.reason
                    )));
                }
                (CampaignConfig::clone(&started.config), started.seed)
            }
        };
        let failure = Arc::new(OnceLock::new());
        let ctx = Context::<Recorder>::new();
        let recorder_addr = ctx.address();
        let shared = Shared {
            config: config.clone(),
            seed,
            device: lineage_arch::backend::device(),
            recorder: recorder_addr.clone(),
            fingerprints: Fingerprints::default(),
            campaign: campaign.clone(),
            failure: failure.clone(),
            system: System::current(),
        };
        let trainers = {
            let s = shared.clone();
            let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            SyncArbiter::start(config.trainers as usize, move || {
                Trainer::new(s.clone(), counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            })
        };
        let engineer = {
            let s = shared.clone();
            SyncArbiter::start(1, move || Engineer::new(s.clone()))
        };
        let debugger = {
            let s = shared.clone();
            SyncArbiter::start(1, move || Debugger::new(s.clone()))
        };
        let researcher = {
            let s = shared.clone();
            SyncArbiter::start(1, move || Researcher::new(s.clone()))
        };
        let analyst = {
            let s = shared.clone();
            SyncArbiter::start(1, move || Analyst::new(s.clone()))
        };
        let team =
            Team { researcher: researcher.clone(), engineer, debugger, trainers, analyst: analyst.clone() };
        let orchestrator = Orchestrator::new(shared.clone(), team).start();
        let monitor = Monitor::new(observer).start();
        let subscribers: Vec<Recipient<Committed>> = vec![
            orchestrator.clone().recipient(),
            researcher.recipient(),
            analyst.recipient(),
            monitor.recipient(),
        ];
        let recorder = Recorder::new(store.clone(), campaign.clone(), subscribers);
        recorder.replay_existing().await?;
        ctx.run(recorder);

        // Listening for Ctrl-C starts before the first event is recorded, so an interrupt at any
        // point after it records a pause (one before it ends the process having written nothing).
        let interrupted =
            interrupt().map_err(|e| CampaignError::Invalid(format!("cannot listen for Ctrl-C: {e}")))?;
        let first = match &start {
            Start::New(new) => Decision::new(
                "start",
                "orchestrator",
                CampaignStarted {
                    name: new.name.clone(),
                    seed,
                    config: Box::new(config.clone()),
                    code_version: lineage_events::CODE_VERSION.into(),
                    backend: lineage_arch::backend::name().into(),
                    host: host(),
                },
            ),
            Start::Resume => {
                let redispatched = existing
                    .order
                    .iter()
                    .filter(|a| {
                        !matches!(
                            existing.phase(a),
                            Phase::Scored | Phase::Failed | Phase::Abandoned | Phase::Rejected
                        )
                    })
                    .map(|a| format!("{a}: {:?}", existing.phase(a)))
                    .collect();
                let resumed = CampaignResumed { from_seq: existing.events, redispatched, host: host() };
                Decision::new(format!("resume/{}", existing.resumes), "orchestrator", resumed)
            }
        };
        recorder_addr
            .send(Record(vec![first]))
            .await
            .map_err(|e| CampaignError::Invalid(e.to_string()))?
            .map_err(|e| CampaignError::Stopped(e, campaign.clone()))?;
        orchestrator.do_send(Kick);
        start_attached_analysts(&store, &campaign, &config);
        let pause = orchestrator.clone();
        actix::spawn(async move {
            if interrupted.await {
                pause.do_send(Pause("interrupted (Ctrl-C)".into()));
            }
        });
        Ok(failure)
    });
    let failure = outcome?;
    system.run().map_err(|e| CampaignError::Invalid(e.to_string()))?;
    if let Some(error) = failure.get() {
        return Err(CampaignError::Stopped(error.clone(), campaign));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CampaignError::Invalid(format!("cannot start a runtime: {e}")))?;
    let state = runtime.block_on(read_state(&store, &campaign))?;
    let paused = state.finished.is_none();
    Ok(Outcome { state, paused })
}
