//! `lineage replay --fitness … --policy …`: the arguments of a counterfactual replay (the
//! re-ranking itself is `lineage_audit::counterfactual`).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use lineage_audit::Policy;
use lineage_replay::fitness::Weights;

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
            "bench" => w.benchmark = x,
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
