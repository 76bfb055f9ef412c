//! Counterfactual replay: the recorded campaign re-ranked under other fitness weights or
//! selection rules, without training anything.
//!
//! What it can know: every scored architecture's fitness components are in the log, so any
//! re-weighting ranks them exactly; which architectures would then have been promoted; for
//! those that were verified, their recorded verdict. What it cannot know: results of
//! architectures never trained, the verdict for one never verified, and everything after the
//! first selection the new rule would have made differently — the campaign would have proposed
//! other architectures from there on; the report names that point.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use lineage_events::ArchId;
use lineage_replay::CampaignState;

/// Weights of the three fitness terms.
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    loss: f64,
    bench: f64,
    judge: f64,
}

/// Selection rules to test.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    pool: Option<u32>,
    parent_ranks: Option<(u32, u32)>,
}

fn pairs(text: &str, what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    text.split(',')
        .map(|pair| {
            let (k, v) =
                pair.split_once('=').with_context(|| format!("{what}: expected key=value, got {pair:?}"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Parses `loss=W,bench=W,judge=W` (missing keys keep the recorded weight).
pub fn parse_weights(text: &str, recorded: Weights) -> anyhow::Result<Weights> {
    let mut w = recorded;
    for (key, value) in pairs(text, "--fitness")? {
        let x: f64 = value.parse().with_context(|| format!("--fitness: {key}={value:?} is not a number"))?;
        if !(x.is_finite() && x >= 0.0) {
            bail!("--fitness: weights must be non-negative numbers");
        }
        match key.as_str() {
            "loss" => w.loss = x,
            "bench" => w.bench = x,
            "judge" => w.judge = x,
            other => bail!("--fitness: unknown term {other:?}; use loss, bench, judge"),
        }
    }
    Ok(w)
}

/// Parses `pool=N,parents=A-B`.
pub fn parse_policy(text: &str) -> anyhow::Result<Policy> {
    let mut p = Policy::default();
    for (key, value) in pairs(text, "--policy")? {
        match key.as_str() {
            "pool" => p.pool = Some(value.parse().with_context(|| format!("--policy: pool={value:?}"))?),
            "parents" => {
                let (a, b) = value
                    .split_once('-')
                    .with_context(|| format!("--policy: parents={value:?}, expected A-B"))?;
                let range =
                    (a.parse().context("--policy: parents")?, b.parse().context("--policy: parents")?);
                if range.0 == 0 || range.0 > range.1 {
                    bail!("--policy: parents={value} must be a range like 1-5");
                }
                p.parent_ranks = Some(range);
            }
            other => bail!("--policy: unknown rule {other:?}; use pool=N, parents=A-B"),
        }
    }
    Ok(p)
}

/// The recorded weights.
pub fn recorded_weights(state: &CampaignState) -> Weights {
    let f = &state.config().fitness;
    Weights { loss: f.loss_weight, bench: f.benchmark_weight, judge: f.judge_weight }
}

/// Fitness of each scored architecture under `w`, as of events `< until`.
fn ranked(state: &CampaignState, w: Weights, until_seq: Option<u64>) -> Vec<(ArchId, f64)> {
    let mut out: Vec<(ArchId, f64)> = state
        .archs
        .iter()
        .filter_map(|(id, a)| {
            let (f, event) = a.fitness.as_ref()?;
            let seq = state.event_seq(event)?;
            if until_seq.is_some_and(|u| seq >= u) {
                return None;
            }
            let c = &f.components;
            Some((id.clone(), w.loss * c.loss_term + w.bench * c.benchmark_term + w.judge * c.judge_term))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The report.
pub fn report(state: &CampaignState, weights: Weights, policy: Policy) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let recorded = recorded_weights(state);
    let before = ranked(state, recorded, None);
    let after = ranked(state, weights, None);
    let rank_of = |list: &[(ArchId, f64)], id: &ArchId| list.iter().position(|(a, _)| a == id).map(|i| i + 1);
    let _ = writeln!(
        out,
        "counterfactual fitness: loss {:.3}, bench {:.3}, judge {:.3} (recorded {:.3}, {:.3}, {:.3})",
        weights.loss, weights.bench, weights.judge, recorded.loss, recorded.bench, recorded.judge
    );
    let _ = writeln!(out, "{:>4} {:>8}  {:<14} {:>9} {:>9}", "rank", "was", "arch", "fitness", "recorded");
    for (i, (id, f)) in after.iter().enumerate() {
        let was = rank_of(&before, id).map_or("-".into(), |r| r.to_string());
        let old = before.iter().find(|(a, _)| a == id).map_or(f64::NAN, |(_, f)| *f);
        let _ = writeln!(out, "{:>4} {:>8}  {:<14} {:>9.4} {:>9.4}", i + 1, was, id, f, old);
    }
    // Promotion and discoveries.
    let promote = state.config().promote_top as usize;
    let top = |list: &[(ArchId, f64)]| -> Vec<ArchId> {
        list.iter()
            .filter(|(a, _)| !state.archs[a].is_baseline())
            .take(promote)
            .map(|(a, _)| a.clone())
            .collect()
    };
    let (was_promoted, would_promote) = (top(&before), top(&after));
    let _ = writeln!(
        out,
        "promoted to verification: recorded [{}], counterfactual [{}]",
        join(&was_promoted),
        join(&would_promote)
    );
    for id in &would_promote {
        let verdict = match &state.archs[id].verification {
            Some(v) if v.discovery => "a discovery (recorded verdict)".to_owned(),
            Some(_) => "not a discovery (recorded verdict)".to_owned(),
            None => "unknown: it was never verified, and a counterfactual trains nothing".to_owned(),
        };
        let _ = writeln!(out, "  {id}: {verdict}");
    }
    // Selection rules: the first experiment whose recorded parent the rule would not allow.
    let capacity = policy.pool.unwrap_or(state.config().selection.pool_capacity) as usize;
    let parents = policy.parent_ranks.unwrap_or(state.config().selection.parent_ranks);
    let mut divergence = None;
    for (experiment, (selection, event)) in &state.selections {
        let Some(seq) = state.event_seq(event) else { continue };
        let pool: Vec<(ArchId, f64)> = ranked(state, weights, Some(seq))
            .into_iter()
            .filter(|(a, _)| !state.archs[a].quadratic_allowed())
            .take(capacity)
            .collect();
        let rank = rank_of(&pool, &selection.parent);
        if !rank.is_some_and(|r| r as u32 >= parents.0 && r as u32 <= parents.1) {
            divergence = Some((*experiment, selection.parent.clone(), rank));
            break;
        }
    }
    match divergence {
        None => {
            let _ = write!(
                out,
                "selection: every recorded parent is allowed under these rules; the campaign could have gone as recorded"
            );
        }
        Some((n, parent, rank)) => {
            let _ = write!(
                out,
                "selection: diverges at experiment {n}: its parent {parent} would rank {} in a pool of {capacity}, outside ranks {}-{}; \
                 from there on the campaign would have proposed other architectures, which a counterfactual cannot know",
                rank.map_or("outside the pool".into(), |r| r.to_string()),
                parents.0,
                parents.1
            );
        }
    }
    out
}

fn join(ids: &[ArchId]) -> String {
    ids.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
}
