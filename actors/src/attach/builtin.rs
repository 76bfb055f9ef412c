//! The analysts lineage ships, attachable live (`lineage attach C --analyst NAME`) or started
//! with a campaign (config key `analysts`). Each is a function of the campaign state and of
//! what it said before (its own insights in the log, plus what it said since attaching, which
//! the log shows it only a little later), so a restarted analyst re-derives exactly what it
//! had concluded.

use std::collections::BTreeMap;

use lineage_events::payload::{InsightRecorded, Payload, Stage};
use lineage_events::{ArchId, EventId, RecordedEvent};
use lineage_replay::CampaignState;

use super::{AttachError, Conclusion, LiveAnalyst};
use crate::insights::{FrontKey, InsightKind, StagnationKey, edit_statistics};

/// Names of the built-in analysts, for `--analyst` and the config.
pub const NAMES: &[&str] = &["edit-stats", "pareto", "stagnation"];

/// Experiments without a new best before the stagnation analyst speaks.
pub const STAGNATION_PATIENCE: u32 = 4;

/// The built-in analyst called `name`, recording as `label`.
pub fn by_name(name: &str, label: &str) -> Option<Box<dyn LiveAnalyst>> {
    let label = label.to_owned();
    Some(match name {
        "edit-stats" => Box::new(EditStats { label }),
        "pareto" => Box::new(Pareto { label, last: None }),
        "stagnation" => Box::new(Stagnation { label, patience: STAGNATION_PATIENCE, reported: Vec::new() }),
        _ => return None,
    })
}

/// The exploration score of a proposed (non-baseline) architecture, if `event` is one.
fn candidate_scored<'a>(state: &CampaignState, event: &'a RecordedEvent) -> Option<&'a ArchId> {
    match event.payload.known()? {
        Payload::FitnessAssigned(f)
            if f.stage == Stage::Exploration && !state.archs[&f.arch].is_baseline() =>
        {
            Some(&f.arch)
        }
        _ => None,
    }
}

/// Which kinds of edits raised which task scores, with counts and a confidence that grows with
/// them: after every scored proposal.
struct EditStats {
    label: String,
}

impl LiveAnalyst for EditStats {
    fn observe(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
        _: &str,
    ) -> Result<Vec<Conclusion>, AttachError> {
        if candidate_scored(state, event).is_none() {
            return Ok(Vec::new());
        }
        Ok(edit_statistics(state, None)
            .map(|insight| {
                Conclusion::Insight(InsightRecorded { analyst: self.label.as_str().into(), ..insight })
            })
            .into_iter()
            .collect())
    }
}

/// Fitness against parameters and training compute: the architectures no other beats on all
/// three, whenever that set changes.
struct Pareto {
    label: String,
    /// The members of the last front it reported.
    last: Option<Vec<String>>,
}

impl LiveAnalyst for Pareto {
    fn observe(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
        _: &str,
    ) -> Result<Vec<Conclusion>, AttachError> {
        if !matches!(event.payload.known(), Some(Payload::FitnessAssigned(f)) if f.stage == Stage::Exploration)
        {
            return Ok(Vec::new());
        }
        // (arch, fitness, params, compute seconds, fitness event)
        let scored: Vec<(&ArchId, f64, f64, f64, EventId)> = state
            .order
            .iter()
            .filter_map(|id| {
                let (fitness, event) = state.archs[id].fitness.as_ref()?;
                let m = state.metrics(id)?;
                Some((id, fitness.total, m.params as f64, m.wall_ms as f64 / 1000.0, *event))
            })
            .collect();
        let dominated = |a: &(&ArchId, f64, f64, f64, EventId)| {
            scored
                .iter()
                .any(|b| b.1 >= a.1 && b.2 <= a.2 && b.3 <= a.3 && (b.1 > a.1 || b.2 < a.2 || b.3 < a.3))
        };
        let front: Vec<_> = scored.iter().filter(|a| !dominated(a)).collect();
        let mut data = BTreeMap::new();
        for (id, fitness, params, compute, _) in &front {
            data.insert(FrontKey::Fitness(id).to_string(), *fitness);
            data.insert(FrontKey::Params(id).to_string(), *params);
            data.insert(FrontKey::ComputeS(id).to_string(), *compute);
        }
        let members = FrontKey::members;
        if self.last.is_none() {
            let logged = state
                .insights
                .iter()
                .rev()
                .find(|i| i.insight.analyst == self.label && InsightKind::Pareto.is(&i.insight));
            self.last = logged.map(|l| members(&l.insight.data));
        }
        if self.last.as_ref() == Some(&members(&data)) {
            return Ok(Vec::new());
        }
        self.last = Some(members(&data));
        let names: Vec<String> = front
            .iter()
            .map(|(id, f, p, c, _)| format!("{id} (fitness {f:.3}, {p:.0} params, {c:.0} s)"))
            .collect();
        Ok(vec![Conclusion::Insight(InsightRecorded {
            analyst: self.label.as_str().into(),
            kind: InsightKind::Pareto.as_str().into(),
            text: format!("Pareto front over fitness, parameters and compute: {}", names.join("; ")),
            confidence: 1.0,
            data,
            cites: front.iter().map(|a| a.4).collect(),
        })])
    }
}

/// No new best for `patience` experiments: recommends more exploration, once per plateau.
struct Stagnation {
    label: String,
    patience: u32,
    /// Plateaus (the experiment of their best) reported since attaching.
    reported: Vec<u32>,
}

impl LiveAnalyst for Stagnation {
    fn observe(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
        _: &str,
    ) -> Result<Vec<Conclusion>, AttachError> {
        if candidate_scored(state, event).is_none() {
            return Ok(Vec::new());
        }
        // The best candidate so far, and how many scored experiments since it was found.
        let mut best: Option<(f64, u32, EventId)> = None;
        let mut since = 0;
        for id in &state.order {
            let record = &state.archs[id];
            let Some((fitness, fitness_event)) = &record.fitness else { continue };
            if record.is_baseline() {
                continue;
            }
            if best.is_none_or(|(b, _, _)| fitness.total > b) {
                best = Some((fitness.total, record.proposal.experiment, *fitness_event));
                since = 0;
            } else {
                since += 1;
            }
        }
        let Some((best_fitness, best_experiment, best_event)) = best else { return Ok(Vec::new()) };
        let already = self.reported.contains(&best_experiment)
            || state.insights.iter().any(|i| {
                i.insight.analyst == self.label
                    && InsightKind::Stagnation.is(&i.insight)
                    && StagnationKey::BestExperiment.of(&i.insight) == Some(best_experiment as f64)
            });
        if since < self.patience || already {
            return Ok(Vec::new());
        }
        self.reported.push(best_experiment);
        Ok(vec![Conclusion::Insight(InsightRecorded {
            analyst: self.label.as_str().into(),
            kind: InsightKind::Stagnation.as_str().into(),
            text: format!(
                "No new best for {since} scored experiments (best {best_fitness:.3}, found in experiment \
                 {best_experiment}): explore more — larger edits, less-tried operators."
            ),
            confidence: (since as f64 / (since as f64 + self.patience as f64)).min(0.95),
            data: BTreeMap::from([
                (StagnationKey::Explore.as_str().into(), 1.0),
                (StagnationKey::ExperimentsWithoutGain.as_str().into(), since as f64),
                (StagnationKey::BestFitness.as_str().into(), best_fitness),
                (StagnationKey::BestExperiment.as_str().into(), best_experiment as f64),
            ]),
            cites: vec![best_event, event.id],
        })])
    }
}
