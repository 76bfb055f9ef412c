//! The leaderboard and campaign summary, as `run`, `resume` and `replay` print them.

use std::collections::BTreeMap;

use lineage_events::CampaignId;
use lineage_events::payload::Proposer;
use lineage_replay::{CampaignState, Phase};
use serde::Serialize;

/// One line of the leaderboard.
#[derive(Serialize)]
pub struct Row {
    rank: usize,
    arch: String,
    fitness: f64,
    benchmark: Option<f64>,
    loss: Option<f64>,
    params: Option<u64>,
    parent: Option<String>,
    proposer: String,
    discovery: Option<bool>,
}

/// A campaign at one point: the leaderboard, counts and the state hash.
#[derive(Serialize)]
pub struct Summary {
    pub campaign: String,
    pub finished: bool,
    pub reason: Option<String>,
    pub experiments: u32,
    pub events: u64,
    pub state_hash: String,
    pub leaderboard: Vec<Row>,
    pub discoveries: Vec<String>,
    pub rejected: usize,
    pub abandoned: usize,
    pub failed: usize,
    /// Insights recorded, by analyst (the campaign's own and attached ones).
    pub insights: BTreeMap<String, usize>,
}

impl Summary {
    pub fn of(campaign: &CampaignId, state: &CampaignState) -> Self {
        // The state hash streams tens of megabytes through SHA-256 on a long campaign: on its own
        // core, while the leaderboard is built and the phases counted.
        let (state_hash, (leaderboard, [rejected, abandoned, failed])) =
            rayon::join(|| state.state_hash().to_hex(), || (leaderboard(state), phase_counts(state)));
        Summary {
            campaign: campaign.to_string(),
            finished: state.finished.is_some(),
            reason: state.finished.as_ref().map(|f| f.reason.clone()),
            experiments: state.experiments_started(),
            events: state.events,
            state_hash,
            leaderboard,
            discoveries: state.discoveries().iter().map(|a| a.to_string()).collect(),
            rejected,
            abandoned,
            failed,
            insights: state.insights.iter().fold(BTreeMap::new(), |mut by, i| {
                *by.entry(i.insight.analyst.to_string()).or_default() += 1;
                by
            }),
        }
    }
}

/// How many architectures were rejected, abandoned and failed.
fn phase_counts(state: &CampaignState) -> [usize; 3] {
    let mut counts = [0; 3];
    for arch in &state.order {
        match state.phase(arch) {
            Phase::Rejected => counts[0] += 1,
            Phase::Abandoned => counts[1] += 1,
            Phase::Failed => counts[2] += 1,
            _ => {}
        }
    }
    counts
}

fn leaderboard(state: &CampaignState) -> Vec<Row> {
    state
        .ranked()
        .into_iter()
        .enumerate()
        .map(|(i, (arch, fitness))| {
            let record = &state.archs[arch];
            let metrics = state.metrics(arch);
            Row {
                rank: i + 1,
                arch: arch.to_string(),
                fitness,
                benchmark: metrics.map(|m| m.benchmark_mean),
                loss: metrics.map(|m| m.loss_val_final),
                params: metrics.map(|m| m.params),
                parent: record.proposal.parent.as_ref().map(|p| p.to_string()),
                proposer: match &record.proposal.proposer {
                    Proposer::Baseline { .. } => "baseline".into(),
                    Proposer::BuiltIn { operator } => operator.clone(),
                    Proposer::Llm { model, .. } => format!("llm {model}"),
                    Proposer::Human { name } => format!("human {name}"),
                },
                discovery: record.verification.as_ref().map(|v| v.discovery),
            }
        })
        .collect()
}

/// The leaderboard table and the counts line.
pub fn print(summary: &Summary) -> anyhow::Result<()> {
    crate::output::print(&render(summary))
}

fn render(summary: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    // Columns as wide as their longest entry (baseline names run to 17 characters).
    let rows = &summary.leaderboard;
    let aw = rows.iter().map(|r| r.arch.len()).max().unwrap_or(0).max(12);
    let pw = rows.iter().map(|r| r.parent.as_deref().map_or(1, str::len)).max().unwrap_or(0).max(14);
    let _ = writeln!(
        out,
        "{:>4}  {:<aw$} {:>8} {:>9} {:>8} {:>8}  {:<pw$} how",
        "rank", "arch", "fitness", "benchmark", "loss", "params", "parent"
    );
    for row in &summary.leaderboard {
        let verdict = match row.discovery {
            Some(true) => " [discovery]",
            Some(false) => " [verified: no gain beyond seed variation]",
            None => "",
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<aw$} {:>8.4} {:>9} {:>8} {:>8}  {:<pw$} {}{verdict}",
            row.rank,
            row.arch,
            row.fitness,
            row.benchmark.map_or("-".into(), |b| format!("{b:.3}")),
            row.loss.map_or("-".into(), |l| format!("{l:.3}")),
            row.params.map_or("-".into(), |p| p.to_string()),
            row.parent.as_deref().unwrap_or("-"),
            row.proposer,
        );
    }
    let _ = write!(
        out,
        "{} experiments; {} rejected as duplicates, {} abandoned after repair, {} failed training",
        summary.experiments, summary.rejected, summary.abandoned, summary.failed
    );
    if !summary.insights.is_empty() {
        let by: Vec<String> = summary.insights.iter().map(|(analyst, n)| format!("{analyst} {n}")).collect();
        let _ = write!(out, "\ninsights by analyst: {}", by.join(", "));
    }
    out
}
