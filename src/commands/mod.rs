//! One function per subcommand.

mod anchor;
mod arch;
mod attach;
mod bench_attach;
mod bench_campaign;
mod bench_dashboard;
mod bench_discovery;
mod bench_fitness;
mod bench_pytorch;
mod bench_recall;
mod bench_recur;
mod bench_replay;
mod bench_store;
mod bench_train;
mod bench_workers;
mod campaign_admin;
mod campaigns;
mod charts;
mod compare;
mod counterfactual;
mod events;
mod export;
mod export_arch;
mod jobs;
mod keygen;
mod operator_prior;
mod plot;
mod provenance;
mod replay;
mod run;
mod serve;
mod signals;
mod verify;
mod worker;

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use lineage_events::{CampaignId, EventStore, open_store, open_store_read_only};

use crate::cli::{BenchCommand, CampaignsAction, Cli, Command};
use crate::output;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.command.computes() {
        lineage_arch::backend::check().map_err(anyhow::Error::msg)?;
    }
    match &cli.command {
        Command::Campaigns { action: Some(CampaignsAction::Delete { campaign, yes }), .. } => {
            let store = open_existing_for_writing(cli.store_url()).await?;
            campaign_admin::delete(store.as_ref(), campaign, *yes).await
        }
        Command::Campaigns { action: Some(CampaignsAction::Rename { campaign, name }), .. } => {
            let store = open_existing_for_writing(cli.store_url()).await?;
            campaign_admin::rename(store.as_ref(), campaign, name).await
        }
        Command::Campaigns { action: None, json, state, preset, sort } => {
            let store = open_existing(cli.store_url()).await?;
            let listed = campaigns::list(store.as_ref(), *state, preset.as_deref(), *sort).await?;
            let mut out = std::io::stdout().lock();
            output::write_campaigns(&mut out, &listed, *json)?;
            out.flush()?;
            campaigns::damage(&listed)
        }
        Command::Compare { a, b, top, json } => {
            compare::run(open_existing(cli.store_url()).await?.as_ref(), [a, b], *top, *json).await
        }
        Command::Events(args) => events::run(open_existing(cli.store_url()).await?, args).await,
        Command::Run(args) => run::start(cli.store_url(), args).await,
        Command::Resume { campaign, json, signing_key, llm, experiments } => {
            let (key, llm) = (signing_key.as_deref(), llm.as_deref());
            run::resume(cli.store_url(), campaign, *json, key, llm, *experiments).await
        }
        Command::Replay { campaign, until, fitness, policy, json } => {
            let counterfactual =
                replay::Counterfactual { fitness: fitness.as_deref(), policy: policy.as_deref() };
            replay::run(
                open_existing(cli.store_url()).await?,
                campaign,
                until.as_deref(),
                counterfactual,
                *json,
            )
            .await
        }
        Command::Provenance { campaign, arch, format } => {
            provenance::run(open_existing(cli.store_url()).await?, campaign, arch, *format).await
        }
        Command::Serve { bind } => serve::run(open_existing(cli.store_url()).await?, *bind).await,
        Command::Export { campaign, format } => {
            export::run(open_existing(cli.store_url()).await?, campaign, *format).await
        }
        Command::OperatorPrior { campaigns } => {
            operator_prior::run(open_existing(cli.store_url()).await?, campaigns).await
        }
        Command::ExportArch(args) => export_arch::run(cli.store_url(), args).await,
        Command::Attach(args) => attach::run(open_existing_for_writing(cli.store_url()).await?, args).await,
        Command::Worker(args) => worker::run(open_existing_for_writing(cli.store_url()).await?, args).await,
        Command::Plot { campaign, out, format } => {
            plot::run(open_existing(cli.store_url()).await?, campaign, out.as_deref(), format).await
        }
        Command::Verify { campaign, reproduce, head, public_key, json } => {
            // Arguments first: a malformed one is refused before the store is opened.
            let expected = verify::expected(head.as_deref(), public_key.as_deref())?;
            verify::run(open_existing(cli.store_url()).await?, campaign, reproduce, &expected, *json).await
        }
        Command::Anchor { campaign, json } => {
            anchor::run(open_existing(cli.store_url()).await?, campaign, *json).await
        }
        Command::Keygen { file } => keygen::run(file),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut command, "lineage", &mut out);
            output::print(String::from_utf8_lossy(&out).trim_end())
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            output::print(String::from_utf8_lossy(&out).trim_end())
        }
        Command::Bench(BenchCommand::Store(args)) => bench_store::run(cli.store.as_deref(), args).await,
        Command::Bench(BenchCommand::Train(args)) => bench_train::run(args),
        Command::Bench(BenchCommand::Replay { events, keep, json }) => {
            bench_replay::run(*events, keep.as_deref(), *json).await
        }
        Command::Bench(BenchCommand::Dashboard { pages, rounds, json }) => {
            bench_dashboard::run(*pages, *rounds, *json).await
        }
        Command::Bench(BenchCommand::Attach { samples, exec, json }) => {
            bench_attach::run(*samples, exec.as_deref(), *json).await
        }
        Command::Bench(BenchCommand::Campaign { campaign, json }) => {
            let store = open_existing(cli.store_url()).await?;
            let campaign = campaign_named(store.as_ref(), campaign).await?;
            bench_campaign::run(store, &campaign, *json).await
        }
        Command::Bench(BenchCommand::Workers { preset, experiments, workers, repeat, jobs, json }) => {
            let options = bench_workers::Options {
                preset,
                experiments: *experiments,
                workers,
                repeat: *repeat,
                jobs: *jobs,
                json: *json,
            };
            bench_workers::run(cli.store.as_deref(), &options).await
        }
        Command::Bench(BenchCommand::Fitness { preset, seeds, json }) => {
            bench_fitness::run(preset, *seeds, *json)
        }
        Command::Bench(BenchCommand::Discovery {
            preset,
            policies,
            seeds,
            first_seed,
            experiments,
            out,
            json,
        }) => {
            let options = bench_discovery::Options {
                preset,
                policies,
                seeds: *seeds,
                first_seed: *first_seed,
                experiments: *experiments,
                out,
                json: *json,
            };
            bench_discovery::run(cli.store.as_deref(), &options).await
        }
        Command::Bench(BenchCommand::Recall(args)) => {
            let options = bench_recall::Options {
                programs: &args.programs,
                pairs: &args.pairs,
                heads: &args.heads,
                seeds: args.seeds,
                steps: args.steps,
                len: args.len,
                vocab: args.vocab,
                d_model: args.d_model,
                lr: args.lr,
                workers: args.workers,
                out: &args.out,
                from: args.from.as_deref(),
                json: args.json,
            };
            bench_recall::run(&options)
        }
        Command::Arch(command) => arch::run(cli.store_url(), command).await,
    }
}

/// The campaign `name` names in the store: the campaign of that id, or the one whose id it
/// begins (`lineage replay quick-7f` for `quick-7f3a…`), as architecture ids resolve, or else
/// the one given that name (`lineage campaigns rename`; only then are the logs read).
pub async fn campaign_named(store: &dyn EventStore, name: &str) -> anyhow::Result<CampaignId> {
    let id = CampaignId::new(name)?;
    if store.head(&id).await?.is_some() {
        return Ok(id);
    }
    let matching = campaigns_beginning(store, name).await?;
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => match campaign_admin::names(store).await?.into_iter().find(|(n, _)| n == name) {
            Some((_, id)) => Ok(id),
            None => bail!("unknown campaign {name} (see `lineage campaigns`)"),
        },
        many => bail!(
            "{name:?} begins {} campaigns ({}): give more of the name",
            many.len(),
            many.iter().map(CampaignId::as_str).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Every campaign of the store whose id begins with `prefix`, in the store's order.
pub async fn campaigns_beginning(store: &dyn EventStore, prefix: &str) -> anyhow::Result<Vec<CampaignId>> {
    let campaigns = store.campaigns().await?.into_iter().map(|c| c.campaign);
    Ok(campaigns.filter(|c| c.as_str().starts_with(prefix)).collect())
}

/// Opens a store that must already exist, read-only: reading commands never create an empty
/// database and never write (so a store the user may only read can be audited), and any
/// append through the handle is refused.
pub async fn open_existing(url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    must_exist(url)?;
    // The store's own errors already name the location; add nothing that would repeat it.
    open_store_read_only(url).await.context("cannot open the event store")
}

/// Opens a store that must already exist, for a command that records events in it (`resume`,
/// `attach`).
pub async fn open_existing_for_writing(url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    must_exist(url)?;
    open(url).await
}

fn must_exist(url: &str) -> anyhow::Result<()> {
    if let Some(path) = url.strip_prefix("sqlite://")
        && !std::path::Path::new(path).exists()
    {
        anyhow::bail!("no event store at {url}: start a campaign there, or pass --store / set LINEAGE_STORE");
    }
    Ok(())
}

/// Opens (creating if needed) the store, with the URL in the error if that fails.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    // The store's own errors already name the location; add nothing that would repeat it.
    open_store(url).await.context("cannot open the event store")
}
