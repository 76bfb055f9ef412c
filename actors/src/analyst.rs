//! The Analyst: compares a trained architecture with its parent, grandparent, siblings and the
//! baselines task by task, attributes the change to the edits that made it, assigns the fitness
//! (with the built-in judge's rationale), and keeps the edit statistics — which operators raised
//! fitness and task scores, with counts — as an insight the researcher steers by. It also
//! concludes the verification stage (the discovery rule itself is [`verdicts`], defined in
//! `lineage-replay`, where `verify` re-derives each verdict with it). Runs on a `SyncArbiter`
//! thread with the campaign projection.

use std::collections::BTreeMap;

use actix::prelude::*;
use lineage_arch::baselines;
use lineage_arch::lang::parse;
use lineage_events::payload::*;
use lineage_events::{ArchId, CampaignId, EventId, RunId};
use lineage_replay::CampaignState;
use lineage_replay::discovery::{self, verification_scores};
/// The discovery rule, defined in `lineage-replay` so that `verify` re-derives every verdict
/// with the same function.
pub use lineage_replay::discovery::{Verdict, verdicts};

use crate::fitness::{JudgeInputs, fitness, judge};
use crate::insights::{edit_statistics, task_deltas};
pub use crate::llm::prompts::Trained;
use crate::llm::replies::Written;
use crate::messages::{Analyse, Committed, Conclude, Decision};
use crate::novelty::Lines;
use crate::shared::Shared;

mod model;

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
        shared.guard("analyst", || {
            let llm = shared.llm.as_deref();
            let model = llm.map(|llm| model::Model { llm, shared: &shared });
            let voice = model.as_ref().map(|m| m as &dyn Voice);
            shared.record_blocking(analyse(&self.state, &shared.config, &shared.campaign, &arch, voice))
        });
    }
}

impl Handler<Conclude> for Analyst {
    type Result = ();

    fn handle(&mut self, _: Conclude, _: &mut Self::Context) {
        let shared = self.shared.clone();
        shared.guard("analyst", || shared.record_blocking(conclude(&self.state)));
    }
}

/// The comparisons of one analysis and the events they rest on.
struct Compared {
    comparisons: Vec<Comparison>,
    /// The run results compared, the analysed one's first.
    cites: Vec<EventId>,
    /// The comparison with the parent, if it has a trained one.
    vs_parent: Option<Comparison>,
    /// Every seed baseline but the analysed architecture.
    baselines: Vec<ArchId>,
}

/// The finished event of an architecture's exploration run.
fn finished_event(state: &CampaignState, id: &ArchId) -> Option<EventId> {
    let run = state.archs[id].exploration_run.as_ref()?;
    state.runs[run].finished.as_ref().map(|(_, e)| *e)
}

/// Compares `id` (trained) with its parent, grandparent, its two best-ranked siblings and every
/// seed baseline that is trained, in that order — each only if proposed before `id`: it is
/// analysed once those have all reached their end, while what was proposed after it may or may
/// not have results yet ([`crate::horizon`]).
fn compare_all(state: &CampaignState, id: &ArchId, mine: &TrainingMetrics, finished: EventId) -> Compared {
    let earlier = crate::horizon::earlier(state, id);
    let mut compared =
        Compared { comparisons: Vec::new(), cites: vec![finished], vs_parent: None, baselines: Vec::new() };
    let mut compare = |other: &ArchId, relation: Relation| {
        if !earlier.contains(other) {
            return None;
        }
        let theirs = state.metrics(other)?;
        compared.cites.extend(finished_event(state, other));
        let c = Comparison {
            against: other.clone(),
            relation,
            loss_delta: mine.loss_val_final - theirs.loss_val_final,
            task_deltas: task_deltas(mine, theirs),
        };
        compared.comparisons.push(c.clone());
        Some(c)
    };
    let parent = state.archs[id].proposal.parent.as_ref();
    let vs_parent = parent.and_then(|p| compare(p, Relation::Parent));
    if let Some(grand) = parent.and_then(|p| state.archs[p].proposal.parent.as_ref()) {
        compare(grand, Relation::Grandparent);
    }
    if let Some(p) = parent {
        let siblings = state
            .ranked()
            .into_iter()
            .filter(|(a, _)| earlier.contains(a) && state.archs[*a].proposal.parent.as_ref() == Some(p))
            .take(2);
        for (s, _) in siblings {
            compare(s, Relation::Sibling);
        }
    }
    let baselines: Vec<ArchId> =
        state.order.iter().filter(|a| state.archs[*a].is_baseline() && *a != id).cloned().collect();
    for b in &baselines {
        compare(b, Relation::Baseline);
    }
    compared.vs_parent = vs_parent;
    compared.baselines = baselines;
    compared
}

/// What the judge looks at besides the metrics: how far the program is from the nearest seed
/// baseline, and its parameters against the reference's.
pub fn judge_inputs(program: &str, mine: &TrainingMetrics, reference: &TrainingMetrics) -> JudgeInputs {
    let lines = Lines::of(&parse(program).expect("a trained program parses"));
    let distance =
        baselines::ALL.iter().map(|b| lines.distance(&Lines::of(&b.program()))).fold(f64::INFINITY, f64::min);
    JudgeInputs { distance_from_baselines: distance, params: (mine.params, reference.params) }
}

/// A judge and an analysis writer besides the built-in rules: the model (`model::Model`).
/// Each answers with its own decision, or with why it gave none (its fallback is recorded),
/// and the built-in rules stand in.
pub trait Voice {
    /// The judge's score of a trained architecture, or why there is none; `None` when this
    /// voice does not judge.
    fn judge(&self, state: &CampaignState, trained: &Trained<'_>) -> Option<Result<JudgeScore, String>>;
    /// The summary and findings of an analysis and the exchange they came from, or why there
    /// are none; `None` when this voice does not write analyses.
    fn write(
        &self,
        state: &CampaignState,
        trained: &Trained<'_>,
        fitness: (f64, &FitnessComponents),
    ) -> Option<Result<(Written, EventId), String>>;
}

/// The analysis, fitness and (for a proposal, when the campaign runs `edit-stats`) the edit
/// statistics of a trained architecture: what the analyst records for it. With a `voice`, it
/// judges every architecture but the reference (anchored at 5 by construction) and writes the
/// analysis text; the comparisons and numbers are always computed here.
pub fn analyse(
    state: &CampaignState,
    config: &CampaignConfig,
    campaign: &CampaignId,
    id: &ArchId,
    voice: Option<&dyn Voice>,
) -> Vec<Decision> {
    let record = &state.archs[id];
    let mine = state.metrics(id).expect("analysed after training");
    let reference_id = ArchId::new(config.fitness.reference_arch.clone()).expect("baseline names are ids");
    let reference = state.metrics(&reference_id).expect("the reference is trained first");
    let finished = finished_event(state, id).expect("finished");
    let compared = compare_all(state, id, mine, finished);

    let inputs = judge_inputs(record.program(), mine, reference);
    let trained = Trained {
        arch: id,
        metrics: mine,
        comparisons: &compared.comparisons,
        reference: (&reference_id, reference),
        distance_from_baselines: inputs.distance_from_baselines,
    };
    let judged = match voice.filter(|_| *id != reference_id).and_then(|v| v.judge(state, &trained)) {
        Some(Ok(score)) => score,
        Some(Err(why)) => {
            let mut builtin = judge(mine, reference, inputs, &config.fitness);
            builtin.rationale = format!("{why}; the built-in judge instead: {}", builtin.rationale);
            builtin
        }
        None => judge(mine, reference, inputs, &config.fitness),
    };
    let (components, total) = fitness(mine, reference, &judged, &config.fitness);
    let written = voice.and_then(|v| v.write(state, &trained, (total, &components)));
    let fitness_event = FitnessAssigned {
        arch: id.clone(),
        stage: Stage::Exploration,
        components,
        total,
        reference: reference_id.clone(),
        judge: judged,
        constants: config.fitness.clone(),
    };
    let mut analysis = analysis(state, id, mine, total, inputs.distance_from_baselines, compared);
    match written {
        Some(Ok((written, exchange))) => {
            analysis.summary = written.summary;
            analysis.findings = written.findings;
            analysis.cites.push(exchange);
            analysis.exchange = Some(exchange);
        }
        Some(Err(why)) => analysis.findings.push(format!("{why}; the built-in analysis instead")),
        None => {}
    }
    let mut decisions = vec![
        Decision::new(format!("analysis/{id}"), NAME, analysis).caused_by(Some(finished)),
        Decision::new(format!("fitness/{id}"), NAME, fitness_event).caused_by(Some(finished)),
    ];
    if !record.is_baseline() && config.analysts.iter().any(|a| a == "edit-stats") {
        let own_fitness = EventId::derive(campaign, &format!("fitness/{id}"));
        if let Some(insight) = edit_statistics(state, Some((id, total, own_fitness))) {
            decisions.push(Decision::new(format!("insight/edit-stats/{id}"), "edit-stats", insight));
        }
    }
    decisions
}

/// The analysis of `id`: its findings (the change against the parent, attributed to the edits;
/// against each baseline), a summary and the numbers behind it.
fn analysis(
    state: &CampaignState,
    id: &ArchId,
    mine: &TrainingMetrics,
    total: f64,
    distance: f64,
    compared: Compared,
) -> AnalysisRecorded {
    let record = &state.archs[id];
    let parent = record.proposal.parent.as_ref();
    let mut findings = Vec::new();
    let edits: Vec<String> = record.proposal.edits.iter().map(|e| e.detail.clone()).collect();
    let parent_fitness = parent.and_then(|p| state.archs[p].fitness.as_ref()).map(|(f, _)| f.total);
    if let (Some(p), Some(c)) = (parent, &compared.vs_parent) {
        findings.push(format!(
            "vs parent {p}: {}, held-out loss {:+.3}; attributed to: {}",
            describe(&c.task_deltas, mine),
            c.loss_delta,
            if edits.is_empty() { "no edit".to_owned() } else { edits.join("; ") }
        ));
    }
    let vs_baselines = compared.comparisons.iter().filter(|c| c.relation == Relation::Baseline);
    for c in vs_baselines.clone() {
        findings.push(format!("vs baseline {}: {}", c.against, describe(&c.task_deltas, mine)));
    }
    let beaten = vs_baselines.filter(|c| c.task_deltas.values().sum::<f64>() > 0.0).count();
    let summary = format!(
        "{id}: fitness {total:.3}{}; benchmark {:.3}, held-out loss {:.3}; above {beaten} of {} baselines on summed task deltas",
        parent_fitness.map_or(String::new(), |p| format!(" ({:+.3} vs parent)", total - p)),
        mine.benchmark_mean,
        mine.loss_val_final,
        compared.baselines.len(),
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
    AnalysisRecorded {
        arch: id.clone(),
        analyst: NAME.into(),
        summary,
        findings,
        comparisons: compared.comparisons,
        numbers,
        cites: compared.cites,
        exchange: None,
    }
}

/// The conclusion of the verification stage: a verdict for every promoted candidate against
/// the promoted baseline (nothing without one), all at once — they are the family the discovery
/// rule corrects over. After a budget extension, the candidates of every round are concluded
/// again together, so the correction covers all of them.
pub fn conclude(state: &CampaignState) -> Vec<Decision> {
    let Some(baseline) = discovery::baseline(state) else {
        return Vec::new();
    };
    let base = verification_scores(state, baseline);
    let plain = |scores: &BTreeMap<u64, (f64, RunId)>| -> BTreeMap<u64, f64> {
        scores.iter().map(|(seed, (b, _))| (*seed, *b)).collect()
    };
    let candidates = discovery::candidates(state);
    let mine: Vec<_> = candidates.iter().map(|arch| verification_scores(state, arch)).collect();
    let family: Vec<_> = mine.iter().map(plain).collect();
    let verdicts = verdicts(&family, &plain(&base));
    // The same rule on real text, where the stage has a real-text task: a discovery needs both.
    let real_text = discovery::real_text_verdicts(state, &candidates, baseline);
    let mut decisions = Vec::new();
    for (i, ((arch, mine), verdict)) in candidates.iter().zip(&mine).zip(verdicts).enumerate() {
        let text = real_text.as_ref().map(|(task, v)| (task.as_str(), &v[i]));
        let runs =
            mine.values().map(|(_, r)| r.clone()).chain(base.values().map(|(_, r)| r.clone())).collect();
        let concluded = VerificationConcluded {
            arch: (*arch).clone(),
            best_baseline: baseline.clone(),
            gain_mean: verdict.gain_mean,
            gain_std: verdict.gain_std,
            discovery: discovery::discovery(&verdict, text.map(|(_, v)| v)),
            runs,
            test: Some(verdict.test),
            real_text: text.map(|(task, v)| v.clone().real_text(task)),
        };
        // A later round concludes every candidate again, over the larger family.
        let key = match state.round {
            0 => format!("verify/{arch}"),
            round => format!("verify/{arch}/round-{round}"),
        };
        decisions.push(Decision::new(key, NAME, concluded));
    }
    decisions
}

#[cfg(test)]
mod tests;
