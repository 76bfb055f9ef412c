//! `lineage replay --fitness … --policy …`: the arguments of a counterfactual replay (the
//! re-ranking itself is `lineage_audit::counterfactual`).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use lineage_actors::config::{self, Overrides};
use lineage_actors::fitness::{self, FitnessKind};
use lineage_audit::Policy;
use lineage_audit::counterfactual::Components;
use lineage_events::payload::{FitnessConstants, Stage, TrainingMetrics};
use lineage_replay::CampaignState;
use lineage_replay::fitness::Weights;

/// `key=value,…`, each key at most once.
fn pairs(text: &str, what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut pairs = BTreeMap::new();
    for pair in text.split(',') {
        let (k, v) =
            pair.split_once('=').with_context(|| format!("{what}: expected key=value, got {pair:?}"))?;
        if pairs.insert(k.trim().to_owned(), v.trim().to_owned()).is_some() {
            bail!("{what}: {} is given twice", k.trim());
        }
    }
    Ok(pairs)
}

/// Parses `loss=W,bench=W,judge=W` (missing keys keep the recorded weight).
pub fn parse_weights(text: &str, recorded: Weights) -> anyhow::Result<Weights> {
    let mut w = recorded;
    let names: Vec<&str> = FitnessKind::ALL.iter().map(|(n, _)| *n).collect();
    let expected =
        format!("--fitness: expected weights (loss=W,bench=W,judge=W) or a fitness ({})", names.join(", "));
    if !text.contains('=') {
        bail!("{expected}, got {text:?}");
    }
    let pairs = pairs(text, "--fitness")?;
    for (key, value) in pairs {
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
    if w.loss + w.benchmark + w.judge == 0.0 {
        bail!(
            "--fitness: the weights are all 0, so every architecture would score the same; give one a positive weight"
        );
    }
    Ok(w)
}

/// Parses `pool=N,parents=A-B`.
pub fn parse_policy(text: &str) -> anyhow::Result<Policy> {
    let mut p = Policy::default();
    for (key, value) in pairs(text, "--policy")? {
        match key.as_str() {
            "pool" => {
                let pool = value.parse().with_context(|| format!("--policy: pool={value:?}"))?;
                lineage_arch::limits::POOL_CAPACITY.check("--policy: pool", pool)?;
                p.pool = Some(pool);
            }
            "parents" => {
                let (a, b) = value
                    .split_once('-')
                    .with_context(|| format!("--policy: parents={value:?}, expected A-B"))?;
                let range =
                    (a.parse().context("--policy: parents")?, b.parse().context("--policy: parents")?);
                if range.0 == 0 || range.0 > range.1 {
                    bail!("--policy: parents={value} must be a range like 1-5");
                }
                lineage_arch::limits::POOL_RANK.check("--policy: parents", range.1)?;
                p.parent_ranks = Some(range);
            }
            other => bail!("--policy: unknown rule {other:?}; use pool=N, parents=A-B"),
        }
    }
    Ok(p)
}

/// A named fitness (`asi-arch`, `calibrated`) for `--fitness NAME`: the campaign's recorded
/// constants (reference, steepness, weights) under that name — with the recorded scales when it
/// is the fitness the campaign used, else ASI-Arch's 0.1 for `asi-arch` and this build's preset's
/// (`quick` for a campaign without one) for `calibrated` — and every scored architecture's
/// components recomputed from its recorded exploration metrics. The built-in judge scores
/// again; a model's judge score is kept as recorded (a counterfactual asks no model). `None`
/// when `text` names no fitness.
pub fn named_fitness(
    state: &CampaignState,
    text: &str,
) -> anyhow::Result<Option<(Weights, Components, String)>> {
    let Some(kind) = FitnessKind::named(text.trim()) else { return Ok(None) };
    let recorded = &state.config().fitness;
    let mut constants = FitnessConstants { name: text.trim().into(), ..recorded.clone() };
    if FitnessKind::of(recorded) != kind {
        (constants.loss_scale, constants.benchmark_scale) = match kind {
            FitnessKind::AsiArch => (0.1, 0.1),
            FitnessKind::Calibrated => {
                let preset = state.config().preset.as_deref().unwrap_or("quick");
                let preset = if config::PRESETS.iter().any(|p| p.0 == preset) { preset } else { "quick" };
                let (resolved, _) = config::resolve(preset, None, &Overrides::default())?;
                (resolved.fitness.loss_scale, resolved.fitness.benchmark_scale)
            }
        };
    }
    let metrics_of = |arch: &lineage_replay::ArchRecord| -> Option<&TrainingMetrics> {
        let run = arch.exploration_run.as_ref()?;
        state.runs.get(run)?.finished.as_ref().map(|(f, _)| &f.metrics)
    };
    let reference = state
        .archs
        .values()
        .find(|a| a.proposal.arch.as_str() == constants.reference_arch.as_str())
        .and_then(|a| metrics_of(a))
        .with_context(|| {
            format!("the reference {} has no exploration result to score against", constants.reference_arch)
        })?;
    let (mut components, mut judged_again) = (Components::new(), 0);
    for arch in state.archs.values() {
        let (Some((recorded, _)), Some(mine)) = (arch.fitness.as_ref(), metrics_of(arch)) else { continue };
        if recorded.stage != Stage::Exploration {
            continue;
        }
        let judge = if recorded.judge.exchange.is_none() {
            judged_again += 1;
            let inputs = lineage_actors::analyst::judge_inputs(arch.program(), mine, reference);
            fitness::judge(mine, reference, inputs, &constants)
        } else {
            recorded.judge.clone()
        };
        let (c, _) = fitness::fitness(mine, reference, &judge, &constants);
        components.insert(arch.proposal.arch.clone(), c);
    }
    let described = format!(
        "{} (loss scale {}, benchmark scale {}, steepness {}; {} architectures' terms recomputed from their recorded metrics, {} judged again by the built-in judge)",
        constants.name,
        constants.loss_scale,
        constants.benchmark_scale,
        constants.steepness,
        components.len(),
        judged_again
    );
    Ok(Some((Weights::of(&constants), components, described)))
}
