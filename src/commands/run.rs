//! `lineage run` and `lineage resume`: resolve the config, run the campaign's actors on their
//! own thread (actix starts its own runtime), show progress, print the leaderboard, the state
//! hash and the head. With a signing key (`--signing-key` or `LINEAGE_SIGNING_KEY`), the
//! campaign signs its head at each pause and at the end.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lineage_actors::config::{self, Overrides, Resources};
use lineage_actors::{NewCampaign, Outcome, Start};
use lineage_audit::Summary;
use lineage_events::payload::Payload;
use lineage_events::{CampaignId, DecodedPayload, EventStore, RecordedEvent, SigningKey};
use lineage_replay::CampaignState;

use crate::cli::RunArgs;

/// The preset `run` uses when none is named.
const DEFAULT_PRESET: &str = "quick";

pub async fn start(url: &str, args: &RunArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    let overrides = Overrides {
        experiments: args.experiments,
        wall_s: args.time.map(|t| t.as_secs()),
        trainers: args.trainers,
        parallel: args.parallel,
        llm_url: args.llm.clone(),
        llm_model: args.model.clone(),
    };
    let preset = match &args.preset {
        Some(preset) => preset.as_str(),
        None => {
            let (name, about, _) =
                config::PRESETS.iter().find(|p| p.0 == DEFAULT_PRESET).expect("a built-in preset");
            eprintln!("lineage run: preset {name} ({about}); --preset smoke takes seconds");
            name
        }
    };
    let (config, resources) =
        config::resolve(preset, file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), &overrides)?;
    let campaign = match &args.name {
        Some(name) => CampaignId::new(name.clone())?,
        None => CampaignId::random(),
    };
    let signing_key = super::keygen::load(args.signing_key.as_deref())?;
    let created = NewStoreFile::before_opening(url);
    let store = super::open(url).await?;
    if let Some(name) = &args.name
        && let Some((_, holder)) =
            super::campaign_admin::names(store.as_ref()).await?.into_iter().find(|(n, _)| n == name)
    {
        created.remove_if_empty(store).await;
        anyhow::bail!("name {name:?} is already campaign {holder}'s: pick another");
    }
    if config.trainers == 0 && !args.json {
        eprintln!(
            "lineage run: {campaign} trains nothing itself ({} runs in flight for workers): start them with `lineage worker --store {} --campaign {campaign}` (docs/scale-out.md)",
            config.parallel(),
            store.location()
        );
    }
    let new = NewCampaign {
        name: args.name.clone().unwrap_or_else(|| campaign.to_string()),
        seed: args.seed,
        config,
    };
    let result =
        drive(store.clone(), campaign, Start::New(Box::new(new)), resources, signing_key, args.json).await;
    if result.is_err() {
        created.remove_if_empty(store).await;
    }
    result
}

/// The SQLite file a `run` is about to create, if it does not exist yet: a run refused before
/// it records anything (an LLM that cannot be reached, a name taken) removes it again, so that
/// bad input leaves nothing behind.
struct NewStoreFile(Option<std::path::PathBuf>);

impl NewStoreFile {
    fn before_opening(url: &str) -> Self {
        let path = url.strip_prefix("sqlite://").map(std::path::PathBuf::from);
        Self(path.filter(|p| !p.exists()))
    }

    /// Removes the file (and SQLite's journal files beside it) if no campaign is in it.
    async fn remove_if_empty(self, store: Arc<dyn EventStore>) {
        let Some(path) = self.0 else { return };
        if !matches!(store.campaigns().await, Ok(campaigns) if campaigns.is_empty()) {
            return;
        }
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

pub async fn resume(
    url: &str,
    campaign: &str,
    json: bool,
    signing_key: Option<&Path>,
    llm_url: Option<&str>,
    experiments: Option<u32>,
) -> anyhow::Result<()> {
    let signing_key = super::keygen::load(signing_key)?;
    let store = super::open_existing_for_writing(url).await?;
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let start = Start::Resume { llm_url: llm_url.map(str::to_owned), experiments };
    drive(store, campaign, start, Resources::of_machine(), signing_key, json).await
}

async fn drive(
    store: Arc<dyn EventStore>,
    campaign: CampaignId,
    start: Start,
    resources: Resources,
    signing_key: Option<SigningKey>,
    json: bool,
) -> anyhow::Result<()> {
    let bar = progress_bar(json);
    let observer_bar = bar.clone();
    let observer =
        Box::new(move |state: &CampaignState, event: &RecordedEvent| observe(&observer_bar, state, event));
    let id = campaign.clone();
    let thread = std::thread::Builder::new()
        .name("campaign".into())
        .spawn(move || lineage_actors::run(store, id, start, observer, resources, signing_key))
        .context("cannot start the campaign thread")?;
    let outcome = tokio::task::spawn_blocking(move || thread.join())
        .await
        .context("campaign thread")?
        .map_err(|_| anyhow::anyhow!("the campaign thread panicked; what was recorded is kept"))?;
    bar.finish_and_clear();
    let outcome = outcome?;
    print_outcome(&campaign, &outcome, json)?;
    if let Some(signal) = outcome.stopped_by {
        super::signals::stopped_by(signal);
    }
    super::signals::exit_if_stopped()
}

fn progress_bar(json: bool) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] experiments {pos}/{len} {wide_msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn observe(bar: &ProgressBar, state: &CampaignState, event: &RecordedEvent) {
    let DecodedPayload::Known(payload) = &event.payload else { return };
    if let Some(started) = &state.started {
        bar.set_length(started.config.budget.experiments_max as u64);
    }
    bar.set_position(state.experiments_spent as u64);
    let best = state.best().map_or("no fitness yet".to_owned(), |(a, f)| format!("best {a} {f:.3}"));
    let doing = match payload {
        Payload::TrainingProgress(p) => format!("training {} step {} loss {:.3}", p.arch, p.step + 1, p.loss),
        Payload::TrainingStarted(p) => format!("training {}", p.arch),
        Payload::ArchitectureProposed(p) => format!("proposed {}", p.arch),
        Payload::ImplementationChecked(p) => {
            format!("checked {}: {}", p.arch, if p.passed { "pass" } else { "fail" })
        }
        Payload::RepairAttempted(p) => format!("repairing {} ({})", p.arch, p.rule),
        Payload::PromotedToVerification(p) => format!("verifying {}", p.arch),
        other => other.type_name().to_owned(),
    };
    bar.set_message(format!("| {best} | {doing}"));
}

fn print_outcome(campaign: &CampaignId, outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    let mut summary = Summary::of(campaign, &outcome.state).at_head(outcome.head);
    // The hash of the final state is the one its end recorded (what verify re-derives): an
    // analyst in another process may have appended since, which the head's state would count.
    if let Some(end) = outcome.state.finished.as_ref().filter(|_| !outcome.paused) {
        summary.state_hash = end.state_hash.to_hex();
    }
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&summary)?);
    }
    crate::output::print_text(&summary.table())?;
    let status = match (&summary.reason, outcome.paused) {
        (_, true) => format!("campaign {campaign} paused; continue with `lineage resume {campaign}`"),
        (Some(reason), false) => format!("campaign {campaign} finished: {reason}"),
        (None, false) => format!("campaign {campaign} finished"),
    };
    crate::output::print(&format!("{status}\nstate hash {}", summary.state_hash))?;
    match summary.head() {
        Some(head) => crate::output::print(&format!("head {head}")),
        None => Ok(()),
    }
}
