//! `lineage compare A B`: two campaigns side by side — where each stands and what it spent, its
//! leaderboard, its discoveries and its discovery curve — from the same listing (`campaigns`)
//! and summary (`replay`) the other commands print, so the numbers agree with theirs.

use std::fmt::Write as _;

use anyhow::Context;
use lineage_audit::{Listing, Row, Summary};
use lineage_events::EventStore;
use lineage_events::payload::Stage;
use lineage_replay::CampaignState;
use serde::Serialize;

/// Points of the discovery curve shown in text (the JSON has every experiment).
const CURVE_POINTS: u32 = 8;

/// One campaign of the comparison.
#[derive(Serialize)]
struct Side<'a> {
    #[serde(flatten)]
    listing: Listing,
    /// Training time of the experiments accounted for, seconds.
    compute_s: f64,
    state_hash: String,
    discoveries: Vec<String>,
    leaderboard: Vec<Row<'a>>,
    /// Best exploration fitness of a proposed architecture after each experiment (`null`
    /// before the first is scored), from experiment 0 (the baselines) to the last.
    curve: Vec<Option<f64>>,
    /// The best baseline's exploration fitness: the line a proposal has to beat.
    best_baseline: Option<f64>,
}

pub async fn run(store: &dyn EventStore, names: [&str; 2], top: usize, json: bool) -> anyhow::Result<()> {
    let summaries = store.campaigns().await?;
    let mut states = Vec::new();
    for name in names {
        let campaign = super::campaign_named(store, name).await?;
        let summary =
            summaries.iter().find(|s| s.campaign == campaign).cloned().context("the campaign vanished")?;
        let folded = lineage_replay::fold_log_to_head(store, &campaign, |_| true).await?;
        states.push((campaign, summary, folded.state));
    }
    let sides: Vec<Side> = states
        .iter()
        .map(|(campaign, summary, state)| {
            let mut replayed = Summary::of(campaign, state);
            replayed.leaderboard.truncate(top);
            let (curve, best_baseline) = curve(state);
            Side {
                listing: Listing::of(summary, state),
                compute_s: state.compute_ms as f64 / 1000.0,
                state_hash: replayed.state_hash,
                discoveries: replayed.discoveries,
                leaderboard: replayed.leaderboard,
                curve,
                best_baseline,
            }
        })
        .collect();
    if json {
        return crate::output::print(&serde_json::to_string_pretty(
            &serde_json::json!({ "campaigns": sides }),
        )?);
    }
    crate::output::print_text(text(&sides, top).trim_end())
}

/// The best exploration fitness of a proposed architecture after each experiment, and the best
/// baseline's.
fn curve(state: &CampaignState) -> (Vec<Option<f64>>, Option<f64>) {
    let mut best_at = vec![None::<f64>; state.experiments_started() as usize + 1];
    let mut best_baseline = None::<f64>;
    for record in state.archs.values() {
        let Some((fitness, _)) = &record.fitness else { continue };
        if fitness.stage != Stage::Exploration {
            continue;
        }
        let best = if record.is_baseline() {
            &mut best_baseline
        } else {
            let experiment = record.proposal.experiment as usize;
            if experiment >= best_at.len() {
                best_at.resize(experiment + 1, None);
            }
            &mut best_at[experiment]
        };
        *best = Some(best.map_or(fitness.total, |b| b.max(fitness.total)));
    }
    // Best so far.
    let mut so_far = None::<f64>;
    for point in &mut best_at {
        so_far = match (so_far, *point) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        *point = so_far;
    }
    (best_at, best_baseline)
}

/// One line of the side-by-side table: a label, then each campaign's column.
fn line(out: &mut String, label: &str, a: &str, b: &str) {
    let _ = writeln!(out, "{label:<14} {a:<44} {b}");
}

fn text(sides: &[Side], top: usize) -> String {
    let (a, b) = (&sides[0], &sides[1]);
    let mut out = String::new();
    let mut row = |label: &str, f: &dyn Fn(&Side) -> String| line(&mut out, label, &f(a), &f(b));
    row("", &|s| s.listing.campaign.clone());
    row("state", &|s| match &s.listing.reason {
        Some(reason) => format!("{}: {reason}", s.listing.state.as_str()),
        None => s.listing.state.as_str().to_owned(),
    });
    row("preset, seed", &|s| {
        format!(
            "{}, {}",
            s.listing.preset.as_deref().unwrap_or("-"),
            s.listing.seed.as_deref().unwrap_or("-")
        )
    });
    row("experiments", &|s| s.listing.experiments_shown());
    row("training time", &|s| format!("{:.1} s", s.compute_s));
    row("best", &|s| match (&s.listing.best_arch, s.listing.best_fitness) {
        (Some(arch), Some(f)) => format!("{arch} {f:.4}"),
        _ => "-".to_owned(),
    });
    row("best baseline", &|s| s.best_baseline.map_or("-".to_owned(), |f| format!("{f:.4}")));
    row("discoveries", &|s| match s.discoveries.len() {
        0 => "none".to_owned(),
        n => format!("{n}: {}", s.discoveries.join(", ")),
    });
    row("events", &|s| s.listing.events.to_string());
    row("state hash", &|s| s.state_hash[..16].to_owned());

    let _ = writeln!(out, "\nleaderboard (top {top})");
    let cell = |r: Option<&Row>| {
        r.map_or(String::new(), |r| {
            let verdict = match r.discovery {
                Some(true) => " discovery",
                Some(false) => " not a discovery",
                None => "",
            };
            format!("{:<14} {:.4}{verdict}", r.arch, r.fitness)
        })
    };
    for rank in 0..a.leaderboard.len().max(b.leaderboard.len()) {
        let (left, right) = (cell(a.leaderboard.get(rank)), cell(b.leaderboard.get(rank)));
        line(&mut out, &format!("{:>3}", rank + 1), &left, &right);
    }

    let _ = writeln!(out, "\nbest proposed fitness after experiment N (0: the baselines only)");
    let last = a.curve.len().max(b.curve.len()) - 1;
    let mut shown: Vec<usize> =
        (0..=CURVE_POINTS).map(|i| (i as usize * last).div_ceil(CURVE_POINTS as usize)).collect();
    shown.dedup();
    let point = |s: &Side, n: usize| match s.curve.get(n).or(s.curve.last()) {
        Some(Some(f)) => format!("{f:.4}"),
        _ => "-".to_owned(),
    };
    for n in shown {
        line(&mut out, &format!("{n:>3}"), &point(a, n), &point(b, n));
    }
    out
}
