//! `lineage attach`: an analyst joins a campaign — running or not, in this process or another
//! — catches up from a chosen point, follows live, and records what it concludes.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use lineage_actors::attach::{Attach, LiveAnalyst, StartAt, Until, builtin, external::External};
use lineage_events::EventStore;

use crate::cli::AttachArgs;

pub async fn run(store: Arc<dyn EventStore>, args: &AttachArgs) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), &args.campaign).await?;
    let from: StartAt = args.from.parse().map_err(anyhow::Error::msg)?;
    let label = match (&args.name, &args.analyst) {
        (Some(name), _) => name.clone(),
        (None, Some(analyst)) => analyst.clone(),
        (None, None) => bail!("--exec needs --name LABEL: the name its conclusions are recorded under"),
    };
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        bail!("analyst name {label:?}: use letters, digits, '-', '_' and '.'");
    }
    if label == lineage_actors::attach::BUILT_IN_ANALYST {
        bail!("analyst name {label:?} is the campaign's own Analyst: pick another with --name");
    }
    let mut analyst: Box<dyn LiveAnalyst> = match (&args.analyst, &args.exec) {
        (Some(name), _) => builtin::by_name(name, &label).with_context(|| {
            format!("no built-in analyst {name:?}; there are: {}", builtin::NAMES.join(", "))
        })?,
        (None, Some(command)) => Box::new(External::spawn(command, &label, &campaign)?),
        (None, None) => bail!("say which analyst: --analyst NAME or --exec 'COMMAND'"),
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
    let report = attach.run(analyst.as_mut(), super::signals::stopped()).await?;
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
