//! The insight protocol: the kinds of insight lineage's own analysts record, the keys of their
//! `data`, and the edit statistics. The analyst and the attachable analysts write insights;
//! the researcher reads them. All of them import this module and none imports another for it.
//!
//! **Boundary**: the kinds and keys are written into the log as text; their spelling is
//! persisted and must not change.

use std::collections::BTreeMap;
use std::fmt;

use lineage_events::payload::{InsightRecorded, TrainingMetrics};
use lineage_events::{ArchId, EventId};
use lineage_replay::CampaignState;

use crate::mutate::{OPERATOR_WEIGHT_MAX, OPERATOR_WEIGHT_MIN, OPERATORS};

/// A kind of insight (the `kind` of an `InsightRecorded`) that lineage's own analysts record
/// and its actors act on. Attached analysts may record other kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsightKind {
    /// Which operators raised fitness and task scores ([`edit_statistics`]); its
    /// [`OpKey`] numbers weight the researcher's operators.
    EditStatistics,
    /// No new best for a while ([`StagnationKey`]); the researcher explores more.
    Stagnation,
    /// The Pareto front over fitness, parameters and compute ([`FrontKey`]).
    Pareto,
}

impl InsightKind {
    /// The kind as the log spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            InsightKind::EditStatistics => "edit-statistics",
            InsightKind::Stagnation => "stagnation",
            InsightKind::Pareto => "pareto",
        }
    }

    /// Whether `insight` is of this kind.
    pub fn is(self, insight: &InsightRecorded) -> bool {
        insight.kind == self.as_str()
    }
}

impl fmt::Display for InsightKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key of an insight's `data` that speaks of one mutation operator, `op:NAME:…`. Any
/// analyst may write them; the researcher reads [`OpKey::Gain`] and [`OpKey::Weight`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKey<'a> {
    /// `op:NAME:count`: how often the operator was used.
    Count(&'a str),
    /// `op:NAME:gain`: the mean fitness gain over the parent where it was used.
    Gain(&'a str),
    /// `op:NAME:TASK`: the mean change of a task's score where it was used.
    Task(&'a str, &'a str),
    /// `op:NAME:weight`: a direct multiplier of the operator's weight.
    Weight(&'a str),
}

impl OpKey<'_> {
    /// What every operator key starts with.
    pub const PREFIX: &'static str = "op:";

    /// Whether `key` is an operator key.
    pub fn is_op(key: &str) -> bool {
        key.starts_with(Self::PREFIX)
    }

    /// Whether any key of `insight` speaks of operators.
    pub fn speaks_of_operators(insight: &InsightRecorded) -> bool {
        insight.data.keys().any(|k| Self::is_op(k))
    }
}

impl fmt::Display for OpKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = Self::PREFIX;
        match self {
            OpKey::Count(op) => write!(f, "{prefix}{op}:count"),
            OpKey::Gain(op) => write!(f, "{prefix}{op}:gain"),
            OpKey::Task(op, task) => write!(f, "{prefix}{op}:{task}"),
            OpKey::Weight(op) => write!(f, "{prefix}{op}:weight"),
        }
    }
}

/// The `data` keys of a [`InsightKind::Stagnation`] insight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StagnationKey {
    /// 1: explore more.
    Explore,
    /// Scored experiments since the best was found.
    ExperimentsWithoutGain,
    /// The best fitness: the plateau lasts while nothing beats it.
    BestFitness,
    /// The experiment that found the best.
    BestExperiment,
}

impl StagnationKey {
    /// The key as the log spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            StagnationKey::Explore => "explore",
            StagnationKey::ExperimentsWithoutGain => "experiments_without_gain",
            StagnationKey::BestFitness => "best_fitness",
            StagnationKey::BestExperiment => "best_experiment",
        }
    }

    /// The number under this key in `insight`, if it has one.
    pub fn of(self, insight: &InsightRecorded) -> Option<f64> {
        insight.data.get(self.as_str()).copied()
    }
}

/// The `data` keys of a [`InsightKind::Pareto`] insight, `front:ARCH:…`, one set per member of
/// the front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontKey<'a> {
    /// The member's fitness.
    Fitness(&'a ArchId),
    /// Its parameters.
    Params(&'a ArchId),
    /// Its training compute in seconds.
    ComputeS(&'a ArchId),
}

impl FrontKey<'_> {
    /// The members of a front, one key each (their fitness keys), in key order.
    pub fn members(data: &BTreeMap<String, f64>) -> Vec<String> {
        data.keys().filter(|k| k.ends_with(":fitness")).cloned().collect()
    }
}

impl fmt::Display for FrontKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrontKey::Fitness(arch) => write!(f, "front:{arch}:fitness"),
            FrontKey::Params(arch) => write!(f, "front:{arch}:params"),
            FrontKey::ComputeS(arch) => write!(f, "front:{arch}:compute_s"),
        }
    }
}

/// Per-task change from `other` to `mine`: accuracy where the task has one, else loss.
pub fn task_deltas(mine: &TrainingMetrics, other: &TrainingMetrics) -> BTreeMap<String, f64> {
    mine.tasks
        .iter()
        .filter_map(|(task, m)| {
            let o = other.tasks.get(task)?;
            match (m.accuracy, o.accuracy, m.loss, o.loss) {
                (Some(a), Some(b), _, _) => Some((task.clone(), a - b)),
                (_, _, Some(a), Some(b)) => Some((task.clone(), a - b)),
                _ => None,
            }
        })
        .collect()
}

/// Which operators raised fitness over the parent, over every scored proposal so far
/// (including `latest`, whose fitness may be being recorded in the same batch: its id, fitness
/// and event). The live Analyst and the attachable `edit-stats` analyst both use it.
pub fn edit_statistics(
    state: &CampaignState,
    latest: Option<(&ArchId, f64, EventId)>,
) -> Option<InsightRecorded> {
    let mut per_op: BTreeMap<String, (u32, f64, BTreeMap<String, f64>)> = BTreeMap::new();
    let mut cites = Vec::new();
    for id in &state.order {
        let record = &state.archs[id];
        let Some(parent) = &record.proposal.parent else { continue };
        let (fitness, event) = match (latest, &record.fitness) {
            (Some((arch, fitness, event)), _) if arch == id => (fitness, event),
            (_, Some((f, e))) => (f.total, *e),
            _ => continue,
        };
        let Some((parent_fitness, _)) = &state.archs[parent].fitness else { continue };
        let gain = fitness - parent_fitness.total;
        let deltas = match (state.metrics(id), state.metrics(parent)) {
            (Some(m), Some(p)) => task_deltas(m, p),
            _ => BTreeMap::new(),
        };
        cites.push(event);
        for edit in &record.proposal.edits {
            let entry = per_op.entry(edit.kind.to_string()).or_default();
            entry.0 += 1;
            entry.1 += gain;
            for (task, d) in &deltas {
                *entry.2.entry(task.clone()).or_default() += d;
            }
        }
    }
    if per_op.is_empty() {
        return None;
    }
    let mut data = BTreeMap::new();
    let mut lines = Vec::new();
    let mut uses = 0;
    for (op, (n, sum, tasks)) in &per_op {
        let mean = sum / *n as f64;
        uses += n;
        data.insert(OpKey::Count(op).to_string(), *n as f64);
        data.insert(OpKey::Gain(op).to_string(), mean);
        let per_task: Vec<String> = tasks
            .iter()
            .map(|(t, d)| {
                data.insert(OpKey::Task(op, t).to_string(), d / *n as f64);
                format!("{t} {:+.3}", d / *n as f64)
            })
            .collect();
        lines.push(format!("{op}: {mean:+.3} fitness over {n} use(s) ({})", per_task.join(", ")));
    }
    Some(InsightRecorded {
        analyst: "edit-stats".into(),
        kind: InsightKind::EditStatistics.as_str().into(),
        text: lines.join("; "),
        confidence: uses as f64 / (uses as f64 + 5.0),
        data,
        cites,
    })
}

/// How strongly a mean fitness gain weights an operator: `exp(GAIN_SLOPE · gain)`, so an operator
/// that raised fitness by 0.05 is drawn about 1.6× as often as an untried one.
pub const GAIN_SLOPE: f64 = 10.0;

/// Pseudo-uses a pooled gain is shrunk toward 0 with (`gain · n / (n + 5)`): a handful of uses
/// says little, since a child's fitness varies by about 0.1 around its parent's.
pub const PRIOR_SHRINK_USES: f64 = 5.0;

/// One operator's edit statistics pooled over campaigns.
#[derive(Clone, Debug, PartialEq)]
pub struct PooledOperator {
    /// The operator's name.
    pub operator: String,
    /// Scored proposals it was used in, over every campaign.
    pub uses: u32,
    /// Mean fitness gain over the parent in those proposals.
    pub mean_gain: f64,
    /// The drawing weight it earns as a prior: `exp(GAIN_SLOPE · shrunk gain)`, clamped.
    pub weight: f64,
}

/// A `selection.operator_prior` learned from recorded campaigns: each operator's fitness gain
/// over its parent, pooled over every scored use in `states` (as each campaign's
/// [`edit_statistics`] counts them), shrunk toward no gain by its number of uses, as a weight on
/// the scale the researcher weights a campaign's own statistics; by name. Operators never used
/// are left out (weight 1).
pub fn pooled_operator_statistics(states: &[CampaignState]) -> Vec<PooledOperator> {
    let mut pooled: BTreeMap<&str, (u32, f64)> = BTreeMap::new();
    for insight in states.iter().filter_map(|state| edit_statistics(state, None)) {
        for (name, _) in OPERATORS {
            let (Some(count), Some(gain)) = (
                insight.data.get(&OpKey::Count(name).to_string()),
                insight.data.get(&OpKey::Gain(name).to_string()),
            ) else {
                continue;
            };
            let entry = pooled.entry(name).or_default();
            entry.0 += *count as u32;
            entry.1 += count * gain;
        }
    }
    pooled
        .into_iter()
        .map(|(operator, (uses, sum))| {
            let mean_gain = sum / f64::from(uses);
            let shrunk = mean_gain * f64::from(uses) / (f64::from(uses) + PRIOR_SHRINK_USES);
            PooledOperator {
                operator: operator.to_owned(),
                uses,
                mean_gain,
                weight: (GAIN_SLOPE * shrunk).exp().clamp(OPERATOR_WEIGHT_MIN, OPERATOR_WEIGHT_MAX),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
