//! `lineage worker`: trains the runs of the campaigns in a shared store on this machine until
//! stopped (Ctrl-C or SIGTERM release its runs at once, and it exits 130 or 143, so a cluster
//! manager does not take a stopped worker for a finished one) or, with `--campaign`, until
//! those campaigns finish (exit 0). The work is `lineage_actors::worker`'s; this parses, names
//! and reports.

use std::sync::Arc;

use anyhow::bail;
use lineage_actors::config::Resources;
use lineage_actors::worker::{Worker, WorkerOptions};
use lineage_arch::limits;
use lineage_events::{CampaignId, EventStore};

use crate::cli::WorkerArgs;

pub async fn run(store: Arc<dyn EventStore>, args: &WorkerArgs) -> anyhow::Result<()> {
    let campaigns = args.campaigns.iter().map(CampaignId::new).collect::<Result<Vec<_>, _>>()?;
    let most = limits::TRAINERS.max;
    if args.trainers == 0 || args.trainers > most {
        bail!("--trainers {} is out of range: allowed 1..={most}", args.trainers);
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", lineage_actors::host().hostname, std::process::id()));
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
        bail!("worker name {name:?}: use up to 64 letters, digits, '-', '_' and '.'");
    }
    if args.lease < std::time::Duration::from_secs(1) || args.lease > std::time::Duration::from_secs(3600) {
        bail!("--lease {} is out of range: allowed 1s..=1h", humantime::format_duration(args.lease));
    }
    for campaign in &campaigns {
        if store.head(campaign).await?.is_none() {
            bail!("unknown campaign {campaign} (see `lineage campaigns`)");
        }
    }
    let options = WorkerOptions {
        name: name.clone(),
        campaigns,
        trainers: args.trainers,
        lease: args.lease,
        memory_per_run: Resources::of_machine().per_run(args.trainers),
    };
    if !args.json {
        eprintln!(
            "lineage worker {name}: {} trainer(s) on {} ({} threads), lease {}, store {}",
            args.trainers,
            lineage_arch::backend::label(),
            lineage_arch::backend::threads(),
            humantime::format_duration(args.lease),
            store.location()
        );
    }
    let report = Worker::new(store, options).run(super::signals::stopped()).await?;
    if args.json {
        crate::output::print(&serde_json::to_string(&report)?)?;
    } else {
        crate::output::print(&format!(
            "worker {name}: {} runs claimed, {} results recorded, {} runs lost to an expired lease, {} late results dropped, {} leases renewed, {} expired leases recorded, {} runs released, {} store failures waited out",
            report.claimed,
            report.results,
            report.lost,
            report.discarded,
            report.renewals,
            report.expired,
            report.released,
            report.store_retries
        ))?;
    }
    super::signals::exit_if_stopped()
}
