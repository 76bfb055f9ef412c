//! `lineage attach`: an analyst joins a campaign — running or not, in this process or another
//! — catches up from a chosen point, follows live, and records what it concludes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use lineage_actors::attach::external::External;
use lineage_actors::attach::{Attach, LiveAnalyst, StartAt, Until, builtin};
use lineage_events::EventStore;

use crate::cli::AttachArgs;

/// How long a stopped attach waits for its program's answer before ending the program.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

pub async fn run(store: Arc<dyn EventStore>, args: &AttachArgs) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), &args.campaign).await?;
    let from: StartAt = args.from.parse().map_err(anyhow::Error::msg)?;
    // clap sees to one of --analyst and --exec, and to --name with --exec.
    let label = args.name.clone().or_else(|| args.analyst.clone()).unwrap_or_default();
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        bail!("analyst name {label:?}: use letters, digits, '-', '_' and '.'");
    }
    if label == lineage_actors::attach::BUILT_IN_ANALYST {
        bail!("analyst name {label:?} is the campaign's own Analyst: pick another with --name");
    }
    // Ctrl-C and SIGTERM stop the attach wherever it is, caught from before the program starts
    // (in a process group of its own, it no longer hears the terminal's Ctrl-C). One waiting
    // for its program's answer gives it a moment, then ends it and its process group, so that
    // the wait ends too.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let ended = Arc::new(AtomicBool::new(false));
    let group = Arc::new(std::sync::OnceLock::new());
    let signalled = super::signals::stopped();
    tokio::spawn({
        let (stopping, ended, group) = (stopping.clone(), ended.clone(), group.clone());
        async move {
            signalled.await;
            stopping.notify_one();
            tokio::time::sleep(ANSWER_GRACE).await;
            if let Some(group) = group.get().copied()
                && !ended.load(Ordering::SeqCst)
            {
                lineage_actors::attach::external::ProcessGroup::kill(group);
            }
        }
    });
    let mut analyst: Box<dyn LiveAnalyst> = match (&args.analyst, &args.exec) {
        (Some(name), _) => builtin::by_name(name, &label).with_context(|| {
            format!("no built-in analyst {name:?}; there are: {}", builtin::NAMES.join(", "))
        })?,
        (None, Some(command)) => {
            let program = External::spawn(command, &label, &campaign)?;
            let _ = group.set(program.process_group());
            Box::new(program)
        }
        (None, None) => unreachable!("clap requires --analyst or --exec"),
    };
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| {
        PathBuf::from(".lineage").join("attach").join(campaign.as_str()).join(format!("{label}.json"))
    });
    if !args.json {
        eprintln!("lineage attach: analyst {label} on {campaign} (checkpoint {})", checkpoint.display());
    }
    let attach = Attach {
        store,
        campaign: campaign.clone(),
        label: label.clone(),
        from,
        checkpoint: Some(checkpoint),
        until: match (args.once, args.keep_following) {
            (true, _) => Until::CaughtUp,
            (false, false) => Until::End,
            (false, true) => Until::Stopped,
        },
    };
    let report = attach.run(analyst.as_mut(), stopping.notified()).await;
    ended.store(true, Ordering::SeqCst);
    let report = report?;
    if args.json {
        crate::output::print(&serde_json::to_string(&report)?)?;
        return super::signals::exit_if_stopped();
    }
    crate::output::print(&format!(
        "analyst {label} on {campaign}: {} events observed, {} conclusions written ({} already in the log), {} answer lines refused, {} conflicting appends retried; next event {}",
        report.observed,
        report.written,
        report.already_written,
        report.refused,
        report.conflicts_retried,
        report.next
    ))?;
    super::signals::exit_if_stopped()
}
