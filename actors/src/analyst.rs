//! The Analyst: compares a trained architecture with its parent, grandparent, siblings and the
//! baselines task by task, attributes the change to the edits that made it, assigns the fitness
//! (with the built-in judge's rationale), and keeps the edit statistics — which operators raised
//! fitness and task scores, with counts — as an insight the researcher steers by. It also
//! concludes the verification stage. Runs on a `SyncArbiter` thread with the campaign projection.

use std::collections::BTreeMap;

use actix::prelude::*;
use lineage_arch::baselines;
use lineage_arch::lang::parse;
use lineage_events::payload::*;
use lineage_events::{ArchId, EventId, RunId};
use lineage_replay::CampaignState;

use crate::fitness::{JudgeInputs, fitness, judge};
use crate::messages::{Analyse, Committed, Conclude, Decision};
use crate::novelty::Lines;
use crate::researcher::EDIT_STATISTICS;
use crate::shared::Shared;

const NAME: &str = "analyst";

/// The analyst actor.
pub struct Analyst {
    shared: Shared,
    state: CampaignState,
}

impl Analyst {
    /// An analyst for one campaign.
    pub fn new(shared: Shared) -> Self {
        Self { shared, state: CampaignState::default() }
    }
}

impl Actor for Analyst {
    type Context = SyncContext<Self>;
}

impl Handler<Committed> for Analyst {
    type Result = ();

    fn handle(&mut self, Committed(event, _): Committed, _: &mut Self::Context) {
        self.state.apply(&event);
    }
}

/// Per-task change from `other` to `mine`: accuracy where the task has one, else loss.
fn task_deltas(mine: &TrainingMetrics, other: &TrainingMetrics) -> BTreeMap<String, f64> {
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

fn describe(deltas: &BTreeMap<String, f64>, metrics: &TrainingMetrics) -> String {
    deltas
        .iter()
        .map(|(task, d)| {
            let what = if metrics.tasks[task].accuracy.is_some() { "accuracy" } else { "loss" };
            format!("{task} {what} {d:+.3}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Handler<Analyse> for Analyst {
    type Result = ();

    fn handle(&mut self, Analyse { arch }: Analyse, _: &mut Self::Context) {
        let shared = self.shared.clone();
        shared.guard("analyst", || shared.record_blocking(self.analyse(&arch)));
    }
}

impl Handler<Conclude> for Analyst {
    type Result = ();

    fn handle(&mut self, _: Conclude, _: &mut Self::Context) {
        let shared = self.shared.clone();
        shared.guard("analyst", || shared.record_blocking(self.conclude()));
    }
}

impl Analyst {
    fn analyse(&self, id: &ArchId) -> Vec<Decision> {
        let state = &self.state;
        let config = &self.shared.config;
        let record = &state.archs[id];
        let mine = state.metrics(id).expect("analysed after training");
        let reference_id =
            ArchId::new(config.fitness.reference_arch.clone()).expect("baseline names are ids");
        let reference = state.metrics(&reference_id).expect("the reference is trained first");
        let finished_event = state.runs[record.exploration_run.as_ref().expect("trained")]
            .finished
            .as_ref()
            .map(|(_, e)| *e)
            .expect("finished");

        // Comparisons: parent, grandparent, siblings, baselines.
        let mut comparisons = Vec::new();
        let mut cites = vec![finished_event];
        let mut compare = |other: &ArchId, relation: Relation, cites: &mut Vec<EventId>| {
            let theirs = state.metrics(other)?;
            if let Some(run) = &state.archs[other].exploration_run
                && let Some((_, e)) = &state.runs[run].finished
            {
                cites.push(*e);
            }
            let c = Comparison {
                against: other.clone(),
                relation,
                loss_delta: mine.loss_val_final - theirs.loss_val_final,
                task_deltas: task_deltas(mine, theirs),
            };
            comparisons.push(c.clone());
            Some(c)
        };
        let parent = record.proposal.parent.clone();
        let vs_parent = parent.as_ref().and_then(|p| compare(p, Relation::Parent, &mut cites));
        if let Some(grand) = parent.as_ref().and_then(|p| state.archs[p].proposal.parent.clone()) {
            compare(&grand, Relation::Grandparent, &mut cites);
        }
        if let Some(p) = &parent {
            let mut siblings: Vec<(&ArchId, f64)> = state
                .ranked()
                .into_iter()
                .filter(|(a, _)| *a != id && state.archs[*a].proposal.parent.as_ref() == Some(p))
                .collect();
            siblings.truncate(2);
            for (s, _) in siblings {
                compare(s, Relation::Sibling, &mut cites);
            }
        }
        let baseline_ids: Vec<ArchId> =
            state.order.iter().filter(|a| state.archs[*a].is_baseline() && *a != id).cloned().collect();
        for b in &baseline_ids {
            compare(b, Relation::Baseline, &mut cites);
        }

        // Fitness.
        let lines = Lines::of(&parse(record.program()).expect("a trained program parses"));
        let distance = baselines::ALL
            .iter()
            .map(|b| lines.distance(&Lines::of(&b.program())))
            .fold(f64::INFINITY, f64::min);
        let inputs =
            JudgeInputs { distance_from_baselines: distance, params: (mine.params, reference.params) };
        let judged = judge(mine, reference, inputs);
        let (components, total) = fitness(mine, reference, &judged, &config.fitness);
        let fitness_event = FitnessAssigned {
            arch: id.clone(),
            stage: Stage::Exploration,
            components,
            total,
            reference: reference_id.clone(),
            judge: judged,
            constants: config.fitness.clone(),
        };

        // Findings.
        let mut findings = Vec::new();
        let edits: Vec<String> = record.proposal.edits.iter().map(|e| e.detail.clone()).collect();
        let parent_fitness =
            parent.as_ref().and_then(|p| state.archs[p].fitness.as_ref()).map(|(f, _)| f.total);
        if let (Some(p), Some(c)) = (&parent, &vs_parent) {
            findings.push(format!(
                "vs parent {p}: {}, held-out loss {:+.3}; attributed to: {}",
                describe(&c.task_deltas, mine),
                c.loss_delta,
                if edits.is_empty() { "no edit".to_owned() } else { edits.join("; ") }
            ));
        }
        for c in comparisons.iter().filter(|c| c.relation == Relation::Baseline) {
            findings.push(format!("vs baseline {}: {}", c.against, describe(&c.task_deltas, mine)));
        }
        let beaten = comparisons
            .iter()
            .filter(|c| c.relation == Relation::Baseline && c.task_deltas.values().sum::<f64>() > 0.0)
            .count();
        let summary = format!(
            "{id}: fitness {total:.3}{}; benchmark {:.3}, held-out loss {:.3}; above {beaten} of {} baselines on summed task deltas",
            parent_fitness.map_or(String::new(), |p| format!(" ({:+.3} vs parent)", total - p)),
            mine.benchmark_mean,
            mine.loss_val_final,
            baseline_ids.len(),
        );
        let mut numbers = BTreeMap::from([
            ("fitness".to_owned(), total),
            ("benchmark_mean".to_owned(), mine.benchmark_mean),
            ("loss_val".to_owned(), mine.loss_val_final),
            ("params".to_owned(), mine.params as f64),
            ("distance_from_baselines".to_owned(), distance),
        ]);
        if let Some(p) = parent_fitness {
            numbers.insert("fitness_delta_vs_parent".into(), total - p);
        }
        let analysis = AnalysisRecorded {
            arch: id.clone(),
            analyst: NAME.into(),
            summary,
            findings,
            comparisons,
            numbers,
            cites,
        };
        let mut decisions = vec![
            Decision::new(format!("analysis/{id}"), NAME, analysis).caused_by(Some(finished_event)),
            Decision::new(format!("fitness/{id}"), NAME, fitness_event).caused_by(Some(finished_event)),
        ];
        if !record.is_baseline() && config.analysts.iter().any(|a| a == "edit-stats") {
            let own_fitness = EventId::derive(&self.shared.campaign, &format!("fitness/{id}"));
            if let Some(insight) = edit_statistics(&self.state, Some((id, total, own_fitness))) {
                decisions.push(Decision::new(format!("insight/edit-stats/{id}"), "edit-stats", insight));
            }
        }
        decisions
    }

    fn conclude(&self) -> Vec<Decision> {
        let state = &self.state;
        let promoted: Vec<&ArchId> =
            state.order.iter().filter(|a| state.archs[*a].promoted.is_some()).collect();
        let Some(baseline) = promoted.iter().find(|a| state.archs[**a].is_baseline()) else {
            return Vec::new();
        };
        let scores = |arch: &ArchId| -> BTreeMap<u64, (f64, RunId)> {
            state
                .runs
                .iter()
                .filter(|(_, r)| &r.scheduled.arch == arch && r.scheduled.stage == Stage::Verification)
                .filter_map(|(id, r)| {
                    r.finished
                        .as_ref()
                        .map(|(f, _)| (r.scheduled.seed, (f.metrics.benchmark_mean, id.clone())))
                })
                .collect()
        };
        let base = scores(baseline);
        let base_values: Vec<f64> = base.values().map(|(b, _)| *b).collect();
        let base_std = std_dev(&base_values);
        let mut decisions = Vec::new();
        for arch in promoted.iter().filter(|a| !state.archs[**a].is_baseline()) {
            let mine = scores(arch);
            let gains: Vec<f64> =
                mine.iter().filter_map(|(seed, (b, _))| base.get(seed).map(|(bb, _)| b - bb)).collect();
            let mean = gains.iter().sum::<f64>() / gains.len().max(1) as f64;
            let std = std_dev(&gains);
            let runs =
                mine.values().map(|(_, r)| r.clone()).chain(base.values().map(|(_, r)| r.clone())).collect();
            let concluded = VerificationConcluded {
                arch: (*arch).clone(),
                best_baseline: (*baseline).clone(),
                gain_mean: mean,
                gain_std: std,
                // A gain larger than both the seed-to-seed spread of the gains and of the
                // baseline's own score, on at least two paired seeds.
                discovery: gains.len() >= 2 && mean > 0.0 && mean > std && mean > base_std,
                runs,
            };
            decisions.push(Decision::new(format!("verify/{arch}"), NAME, concluded));
        }
        decisions
    }
}

/// Sample standard deviation (0 for fewer than two values).
fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
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
        data.insert(format!("op:{op}:count"), *n as f64);
        data.insert(format!("op:{op}:gain"), mean);
        let per_task: Vec<String> = tasks
            .iter()
            .map(|(t, d)| {
                data.insert(format!("op:{op}:{t}"), d / *n as f64);
                format!("{t} {:+.3}", d / *n as f64)
            })
            .collect();
        lines.push(format!("{op}: {mean:+.3} fitness over {n} use(s) ({})", per_task.join(", ")));
    }
    Some(InsightRecorded {
        analyst: "edit-stats".into(),
        kind: EDIT_STATISTICS.into(),
        text: lines.join("; "),
        confidence: uses as f64 / (uses as f64 + 5.0),
        data,
        cites,
    })
}
