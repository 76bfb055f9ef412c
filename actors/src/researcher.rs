//! The Researcher: selects a parent and references from the candidate pool (ASI-Arch's rule:
//! parent uniformly from ranks 1-10, references from 11-50, the draw recorded), and proposes a
//! program by mutation and crossover, with a motivation that cites the analyses and insights it
//! acted on. Operators are weighted by the edit statistics the analysts record, so what helped
//! before is tried more often. Each proposal is judged for novelty; duplicates are re-proposed
//! up to the configured limit. Everything one experiment decides is recorded as one batch.

use actix::prelude::*;
use lineage_arch::lang::{Program, parse, print, program_hash};
use lineage_arch::rng::Rng;
use lineage_events::payload::*;
use lineage_events::{ArchId, EventId, Hash};
use lineage_replay::CampaignState;

use crate::messages::{Committed, Decision, Propose};
use crate::mutate::OPERATORS;
use crate::novelty;
use crate::shared::Shared;

/// Chance of a second edit on top of the first: bigger jumps now and then.
const SECOND_EDIT_PER_MILLE: u64 = 350;
/// Kind of the insights whose numbers weight the operators.
pub const EDIT_STATISTICS: &str = "edit-statistics";

/// The researcher actor; its state is the campaign projection.
pub struct Researcher {
    shared: Shared,
    state: CampaignState,
}

impl Researcher {
    /// A researcher for one campaign.
    pub fn new(shared: Shared) -> Self {
        Self { shared, state: CampaignState::default() }
    }
}

impl Actor for Researcher {
    type Context = SyncContext<Self>;
}

impl Handler<Committed> for Researcher {
    type Result = ();

    fn handle(&mut self, Committed(event, _): Committed, _: &mut Self::Context) {
        self.state.apply(&event);
    }
}

/// Operator weights from the latest edit-statistics insight: `exp(10 · mean fitness gain)`,
/// clamped to [0.25, 4], so an operator that raised fitness by 0.05 on average is tried about
/// 1.6× as often as an untried one. Returns the weights and the insight they came from.
fn operator_weights(state: &CampaignState) -> (Vec<f64>, Option<(EventId, String)>) {
    let insight = state.insights.iter().rev().find(|i| i.insight.kind == EDIT_STATISTICS);
    let weights = OPERATORS
        .iter()
        .map(|(name, _)| {
            let gain = insight.and_then(|i| i.insight.data.get(&format!("op:{name}:gain")));
            gain.map_or(1.0, |g| (10.0 * g).exp().clamp(0.25, 4.0))
        })
        .collect();
    (weights, insight.map(|i| (i.event, i.insight.text.clone())))
}

/// Why each operator is worth trying: the idea behind it, for the motivation.
fn rationale(operator: &str) -> &'static str {
    match operator {
        "swap-activation" => "the feature map shapes what the state can store",
        "toggle-conv" | "conv-width" => {
            "a short convolution gives each token its local context before it is written"
        }
        "toggle-key-norm" => "normalised keys keep state updates bounded; unnormalised ones carry magnitude",
        "add-decay" | "remove-decay" => "a forget gate lets the state drop stale associations",
        "add-delta-rule" | "remove-delta-rule" => {
            "the delta rule overwrites the value stored under a key instead of adding to it"
        }
        "widen-beta" => "a gate in (0, 2) allows negative eigenvalues, which state tracking needs",
        "toggle-output-gate" => "an output gate lets each token choose what it reads",
        "add-skip" => "a direct path for the value keeps information the state compresses away",
        "fuse-conv-path" | "crossover-fuse" => "two mixers under a learned router can specialise",
        "token-shift" => "mixing in an earlier token gives each projection a cheap local context",
        "crossover-binding" | "crossover-recur-arg" => {
            "the reference does this part differently and ranks well"
        }
        _ => "a change of the block around the mixer",
    }
}

impl Handler<Propose> for Researcher {
    type Result = ();

    fn handle(&mut self, Propose { experiment }: Propose, _: &mut Self::Context) {
        let shared = self.shared.clone();
        shared.guard("researcher", || shared.record_blocking(self.propose(experiment)));
    }
}

impl Researcher {
    fn select(&self, experiment: u32) -> ParentSelected {
        let s = &self.shared.config.selection;
        let pool = self.state.pool(s.pool_capacity);
        let stream = format!("select/{experiment}");
        let mut rng = Rng::stream(self.shared.seed, &stream);
        let in_ranks = |(lo, hi): (u32, u32)| -> Vec<&PoolEntry> {
            pool.iter().filter(|e| e.rank >= lo && e.rank <= hi).collect()
        };
        let parents = in_ranks(s.parent_ranks);
        let parents = if parents.is_empty() { pool.iter().collect() } else { parents };
        let pick = rng.below(parents.len() as u64);
        let parent = parents[pick as usize].arch.clone();
        // A young pool has nothing at ranks 11-50: references then come from the rest of it.
        let mut candidates: Vec<&PoolEntry> = in_ranks(s.reference_ranks);
        if candidates.is_empty() {
            candidates = pool.iter().filter(|e| e.arch != parent).collect();
        }
        let mut values = vec![pick];
        let mut references = Vec::new();
        while references.len() < s.references_count as usize && !candidates.is_empty() {
            let j = rng.below(candidates.len() as u64);
            values.push(j);
            references.push(candidates.remove(j as usize).arch.clone());
        }
        ParentSelected {
            experiment,
            policy: s.policy.clone(),
            pool,
            draw: RandomDraw { seed: self.shared.seed, stream, values },
            parent,
            references,
        }
    }

    fn program_of(&self, arch: &ArchId) -> Program {
        parse(&self.state.archs[arch].program).expect("a checked program parses")
    }

    fn propose(&self, experiment: u32) -> Vec<Decision> {
        let selection = self.select(experiment);
        let select_key = format!("select/{experiment}");
        let selection_event = lineage_events::EventId::derive(&self.shared.campaign, &select_key);
        let parent = self.program_of(&selection.parent);
        let references: Vec<Program> = selection.references.iter().map(|r| self.program_of(r)).collect();
        let mut earlier: Vec<(ArchId, Program)> = self
            .state
            .order
            .iter()
            .filter_map(|id| parse(&self.state.archs[id].proposal.program).ok().map(|p| (id.clone(), p)))
            .collect();
        let (weights, insight) = operator_weights(&self.state);
        let parent_record = &self.state.archs[&selection.parent];
        let parent_fitness = parent_record.fitness.as_ref().map_or(f64::NAN, |(f, _)| f.total);
        let parent_analysis = parent_record.analyses.last().cloned();
        let mut decisions = vec![Decision::new(select_key, "researcher", selection.clone())];
        for attempt in 0..=self.shared.config.novelty.reproposals_max {
            let arch = ArchId::new(if attempt == 0 {
                format!("e{experiment:04}")
            } else {
                format!("e{experiment:04}-{attempt}")
            })
            .expect("generated ids are valid");
            let stream = format!("propose/{arch}");
            let mut rng = Rng::stream(self.shared.seed, &stream);
            let mut draws = Vec::new();
            let mut program = parent.clone();
            let mut edits = Vec::new();
            let rounds = if rng.below(1000) < SECOND_EDIT_PER_MILLE { 2 } else { 1 };
            for _ in 0..rounds {
                for _ in 0..30 {
                    let i = rng.weighted(&weights);
                    draws.push(i as u64);
                    let (name, operator) = OPERATORS[i];
                    if let Some((edited, detail)) = operator(&program, &references, &mut rng) {
                        program = edited;
                        edits.push(Edit { kind: name.into(), detail });
                        break;
                    }
                }
            }
            program.name = arch.as_str().replace('-', "_");
            program.doc = vec![format!(
                "Proposed in experiment {experiment} from {}: {}.",
                selection.parent,
                if edits.is_empty() {
                    "no edit".to_owned()
                } else {
                    edits.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>().join("; ")
                }
            )];
            let text = print(&program);
            let program = parse(&text).expect("printed programs parse");
            let judged = novelty::judge(
                &arch,
                &program,
                &earlier,
                &self.shared.config.novelty,
                &self.shared.fingerprints,
                &self.shared.device,
            );
            let mut evidence: Vec<EventId> = vec![selection_event];
            let mut motivation = format!(
                "Experiment {experiment}: parent {} (fitness {parent_fitness:.3}), drawn from ranks {}-{} of a pool of {}; \
                 references {}.",
                selection.parent,
                self.shared.config.selection.parent_ranks.0,
                self.shared.config.selection.parent_ranks.1,
                selection.pool.len(),
                if selection.references.is_empty() {
                    "none".to_owned()
                } else {
                    selection.references.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                }
            );
            if let Some((event, summary)) = &parent_analysis {
                motivation.push_str(&format!(" The parent's analysis [{event}] found: {summary}."));
                evidence.push(*event);
            }
            for edit in &edits {
                let i = OPERATORS.iter().position(|(n, _)| *n == edit.kind).expect("known operator");
                motivation.push_str(&format!(
                    " Edit `{}` ({}): {}; drawn with weight {:.2} of {:.2}",
                    edit.kind,
                    edit.detail,
                    rationale(&edit.kind),
                    weights[i],
                    weights.iter().sum::<f64>(),
                ));
                match &insight {
                    Some((event, _)) if (weights[i] - 1.0).abs() > 1e-9 => {
                        motivation.push_str(&format!(", set by the edit statistics [{event}]."));
                    }
                    _ => motivation.push_str(" (no statistics on it yet)."),
                }
            }
            if let Some((event, _)) = &insight {
                evidence.push(*event);
            }
            if edits.is_empty() {
                motivation
                    .push_str(" No operator applied to this parent; the parent's program is re-proposed.");
            }
            evidence.dedup();
            let proposed = ArchitectureProposed {
                arch: arch.clone(),
                experiment,
                parent: Some(selection.parent.clone()),
                references: selection.references.clone(),
                motivation,
                program: text,
                program_hash: Hash(program_hash(&program).0),
                proposer: Proposer::BuiltIn {
                    operator: edits.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>().join("+"),
                },
                edits,
                evidence,
                draw: Some(RandomDraw { seed: self.shared.seed, stream, values: draws }),
            };
            let novel = judged.verdict == NoveltyVerdict::Novel;
            decisions.push(Decision::new(format!("propose/{arch}"), "researcher", proposed));
            decisions.push(Decision::new(format!("novelty/{arch}"), "researcher", judged));
            if novel {
                break;
            }
            earlier.push((arch, program));
        }
        decisions
    }
}
