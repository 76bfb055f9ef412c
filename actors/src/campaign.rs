//! Starting and resuming a campaign: build the actor system, replay the existing log into every
//! actor, record the start (or the resume, with what is re-dispatched), and let the
//! orchestrator run until the campaign finishes, pauses (Ctrl-C) or fails.

use std::sync::Arc;

use actix::prelude::*;
use lineage_events::payload::{
    CampaignConfig, CampaignExtended, CampaignResumed, CampaignStarted, LlmRole, RoleMode,
};
use lineage_events::{CampaignId, EventStore, Head, SigningKey};
use lineage_replay::{CampaignState, Folded};

use crate::analyst::Analyst;
use crate::config::Resources;
use crate::debugger::Debugger;
use crate::engineer::Engineer;
use crate::error::{ActorError, FirstFailure};
use crate::host::host;
use crate::llm::Llm;
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
    /// Continue from the log, with the config it started with.
    Resume {
        /// The model's base URL as this machine reaches it now, instead of the recorded one (a
        /// local server moved). Every exchange records the endpoint it went to.
        llm_url: Option<String>,
        /// A new experiment budget, above the one in force: recorded as `CampaignExtended`
        /// first. A finished campaign can only be resumed with one; it is reopened.
        experiments: Option<u32>,
    },
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
    Stopped(ActorError, CampaignId),
}

/// How the run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The state at the end.
    pub state: CampaignState,
    /// The head of the log at the end: what to publish to anchor it.
    pub head: Head,
    /// Paused (Ctrl-C) rather than finished.
    pub paused: bool,
    /// The signal that paused it (2 for Ctrl-C, 15 for SIGTERM), if one did: the caller exits
    /// with 128 plus it, as shells expect of a stopped program.
    pub stopped_by: Option<i32>,
}

async fn read_state(store: &Arc<dyn EventStore>, campaign: &CampaignId) -> Result<Folded, CampaignError> {
    Ok(lineage_replay::fold_log_to_head(store.as_ref(), campaign, |_| true).await?)
}

/// Resolves to the number of the first Ctrl-C (2) or SIGTERM (15), the same stop for both (a
/// cluster manager or `kill` stops a campaign as cleanly as a person at the terminal). On Unix
/// the handlers are in place when this returns.
fn interrupt() -> std::io::Result<impl std::future::Future<Output = Option<i32>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut int, mut term) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
        Ok(async move {
            tokio::select! {
                got = int.recv() => got.map(|()| 2),
                got = term.recv() => got.map(|()| 15),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async { tokio::signal::ctrl_c().await.ok().map(|()| 2) })
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
            until: crate::attach::Until::End,
        };
        let label = name.clone();
        actix::spawn(async move {
            if let Err(error) = attach.run(analyst.as_mut(), std::future::pending()).await {
                tracing::warn!("analyst {label}: {error}");
            }
        });
    }
}

/// The config and seed to run with: the new campaign's, or those its log started with.
fn config_and_seed(
    start: &Start,
    existing: &CampaignState,
    campaign: &CampaignId,
) -> Result<(CampaignConfig, u64), CampaignError> {
    match (start, &existing.started) {
        (Start::New(_), Some(_)) => Err(CampaignError::Invalid(format!(
            "campaign {campaign} already exists; resume it or pick another name"
        ))),
        (Start::New(new), None) => Ok((new.config.clone(), new.seed)),
        (Start::Resume { .. }, None) => Err(CampaignError::Invalid(format!(
            "campaign {campaign} has no CampaignStarted event to resume from"
        ))),
        (Start::Resume { llm_url, experiments }, Some(started)) => match (&existing.finished, experiments) {
            (Some(finished), None) => Err(CampaignError::Invalid(format!(
                "campaign {campaign} already finished ({}); nothing to resume (`--experiments N` raises its budget and continues it)",
                finished.reason
            ))),
            _ => {
                let mut config = CampaignConfig::clone(&started.config);
                // The planner reads the budget in force from the log (`CampaignExtended`).
                check_extension(existing, &config, *experiments, campaign)?;
                match (llm_url, &mut config.llm) {
                    (None, _) => {}
                    (Some(url), Some(llm)) => {
                        llm.base_url = url.clone();
                        crate::config::llm::validate(llm)
                            .map_err(|e| CampaignError::Invalid(format!("--llm: {e}")))?;
                    }
                    (Some(_), None) => {
                        return Err(CampaignError::Invalid(format!(
                            "campaign {campaign} asks no model: --llm applies only to a campaign started with one"
                        )));
                    }
                }
                Ok((config, started.seed))
            }
        },
    }
}

/// Refuses a new experiment budget for a resume unless it raises the one in force, within the
/// limit, while no other budget is spent (it would start nothing).
fn check_extension(
    existing: &CampaignState,
    config: &CampaignConfig,
    requested: Option<u32>,
    campaign: &CampaignId,
) -> Result<(), CampaignError> {
    let Some(requested) = requested else { return Ok(()) };
    let in_force = existing.experiments_max().unwrap_or(config.budget.experiments_max);
    if requested <= in_force {
        return Err(CampaignError::Invalid(format!(
            "--experiments {requested}: campaign {campaign}'s budget is {in_force} experiments already; give a larger one"
        )));
    }
    let b = &config.budget;
    let spent = [
        (b.wall_s_max.is_some_and(|s| existing.wall_ms >= s * 1000), "wall-clock"),
        (b.compute_s_max.is_some_and(|s| existing.compute_ms >= s * 1000), "compute"),
    ];
    if let Some((_, which)) = spent.iter().find(|(spent, _)| *spent) {
        return Err(CampaignError::Invalid(format!(
            "campaign {campaign} has spent its {which} budget: more experiments would start none"
        )));
    }
    lineage_arch::limits::EXPERIMENTS
        .check("--experiments", requested)
        .map(|_| ())
        .map_err(|e| CampaignError::Invalid(e.to_string()))
}

/// The model the config's LLM roles ask, with the replies and spend the log already holds; a
/// server that cannot be reached is an error in one line before anything is recorded (a
/// warning on resume), and so is an API key no request can carry (on resume too).
fn model(
    config: &CampaignConfig,
    seed: u64,
    campaign: &CampaignId,
    existing: &CampaignState,
    resuming: bool,
) -> Result<Option<Arc<Llm>>, CampaignError> {
    let Some(llm_config) = &config.llm else { return Ok(None) };
    if LlmRole::ALL.iter().all(|r| llm_config.roles.of(*r) == RoleMode::Builtin) {
        return Ok(None);
    }
    let llm = Llm::new(
        llm_config.clone(),
        seed,
        campaign.clone(),
        existing.llm.replies.clone(),
        existing.llm.total(),
    )
    // A key no request can carry fails every request here, whatever the server: an error on
    // resume too, where it can be set right.
    .map_err(CampaignError::Invalid)?;
    match (llm.probe(), resuming) {
        (Ok(()), _) => {}
        (Err(dead), false) => return Err(CampaignError::Invalid(dead)),
        // What is left may need no model (verification, a spent budget, replies already
        // recorded); the roles that ask record their failures and fall back.
        (Err(dead), true) => {
            tracing::warn!("{dead}; the roles that ask it will fall back to their built-in rules")
        }
    }
    Ok(Some(Arc::new(llm)))
}

/// Starts the actors that do the work, each on its own `SyncArbiter` threads (one idle trainer
/// thread when `trainers = 0`: the planner sends it nothing, workers train every run). Each
/// trainer computes on a pool of its own, this machine's threads shared evenly among them.
fn start_team(shared: &Shared) -> Team {
    let trainers = {
        let s = shared.clone();
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads = crate::training::threads_per_trainer(shared.config.trainers);
        SyncArbiter::start(shared.config.trainers.max(1) as usize, move || {
            Trainer::new(s.clone(), counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed), threads)
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
    Team { researcher, engineer, debugger, trainers, analyst }
}

/// The first decision of this run: the start of a new campaign, or the resume of one, with
/// what is dispatched again.
fn first_decisions(
    start: &Start,
    existing: &CampaignState,
    config: &CampaignConfig,
    seed: u64,
) -> Vec<Decision> {
    match start {
        Start::New(new) => vec![Decision::new(
            "start",
            "orchestrator",
            CampaignStarted {
                name: new.name.clone(),
                seed,
                config: Box::new(config.clone()),
                code_version: lineage_events::CODE_VERSION.into(),
                backend: lineage_arch::backend::label(),
                host: host(),
            },
        )],
        Start::Resume { experiments, .. } => {
            // The budget first: a finished campaign is reopened by it, then resumed.
            let extended = experiments.map(|experiments_max| {
                let previous_max = existing.experiments_max().unwrap_or(experiments_max);
                let extended = CampaignExtended { experiments_max, previous_max };
                Decision::new(format!("extend/{}", existing.round), "orchestrator", extended)
            });
            let redispatched = crate::planner::unfinished(existing);
            let resumed = CampaignResumed { from_seq: existing.events, redispatched, host: host() };
            let resumed = Decision::new(format!("resume/{}", existing.resumes), "orchestrator", resumed);
            extended.into_iter().chain([resumed]).collect()
        }
    }
}

/// Runs the campaign to its end on the calling thread (which must not be inside an async
/// runtime: this starts the actor system's own), within the memory budget `resources` (from
/// the config's `resources` table, see [`crate::config::resolve`], or
/// [`Resources::of_machine`]). The config — a new campaign's, or the one a log started with —
/// is validated first: one out of range is refused in one line before anything is recorded.
/// With `signing_key`, checkpoints of the log's head are signed: after each pause and after the
/// finish, the recorder appends a `HeadSigned` event for the head it has just committed. The
/// key is never recorded; without one nothing is signed.
pub fn run(
    store: Arc<dyn EventStore>,
    campaign: CampaignId,
    start: Start,
    observer: Observer,
    resources: Resources,
    signing_key: Option<SigningKey>,
) -> Result<Outcome, CampaignError> {
    let system = System::new();
    // The signal that paused the campaign, if one did (0: none).
    let stopped_by = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let outcome = system.block_on(async {
        let existing = read_state(&store, &campaign).await?.state;
        let (config, seed) = config_and_seed(&start, &existing, &campaign)?;
        crate::config::validate(&config).map_err(|e| match start {
            Start::New(_) => CampaignError::Invalid(e.to_string()),
            Start::Resume { .. } => CampaignError::Invalid(format!(
                "campaign {campaign} was recorded with a config this version refuses ({e}); it cannot be resumed"
            )),
        })?;
        let llm = model(&config, seed, &campaign, &existing, matches!(start, Start::Resume { .. }))?;
        let failure = FirstFailure::default();
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
            budget: Arc::new(crate::training::budget(&config, resources.per_run(config.trainers))),
            llm,
            stalls: Default::default(),
        };
        let team = start_team(&shared);
        let (researcher, analyst) = (team.researcher.clone(), team.analyst.clone());
        let signing = signing_key.is_some();
        let orchestrator = Orchestrator::new(shared.clone(), team).signing(signing).start();
        let monitor = Monitor::new(observer).start();
        let subscribers: Vec<Recipient<Committed>> = vec![
            orchestrator.clone().recipient(),
            researcher.recipient(),
            analyst.recipient(),
            monitor.recipient(),
        ];
        let recorder = Recorder::new(store.clone(), campaign.clone(), subscribers)
            .signing(signing_key)
            .stalls(shared.stalls.clone());
        recorder.replay_existing().await?;
        ctx.run(recorder);

        // Listening for Ctrl-C starts before the first event is recorded, so an interrupt at any
        // point after it records a pause (one before it ends the process having written nothing).
        let interrupted =
            interrupt().map_err(|e| CampaignError::Invalid(format!("cannot listen for Ctrl-C: {e}")))?;
        let first = first_decisions(&start, &existing, &config, seed);
        recorder_addr
            .send(Record(first))
            .await
            .map_err(|e| CampaignError::Invalid(e.to_string()))?
            .map_err(|e| CampaignError::Stopped(e, campaign.clone()))?;
        orchestrator.do_send(Kick);
        start_attached_analysts(&store, &campaign, &config);
        let pause = orchestrator.clone();
        let stopped_by = stopped_by.clone();
        actix::spawn(async move {
            if let Some(signal) = interrupted.await {
                stopped_by.store(signal, std::sync::atomic::Ordering::Relaxed);
                let why = if signal == 15 { "stopped (SIGTERM)" } else { "interrupted (Ctrl-C)" };
                pause.do_send(Pause(why.into()));
            }
        });
        Ok::<_, CampaignError>(failure)
    });
    let failure = outcome?;
    // A fatal error stops the system with a non-zero code: report the error, not the code.
    let ran = system.run();
    if let Some(error) = failure.take() {
        return Err(CampaignError::Stopped(error, campaign));
    }
    ran.map_err(|e| CampaignError::Invalid(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CampaignError::Invalid(format!("cannot start a runtime: {e}")))?;
    let Folded { state, head } = runtime.block_on(read_state(&store, &campaign))?;
    let paused = state.finished.is_none();
    let stopped_by = Some(stopped_by.load(std::sync::atomic::Ordering::Relaxed)).filter(|s| *s != 0);
    Ok(Outcome { state, head, paused, stopped_by })
}
