//! The Researcher: selects a parent and references from the candidate pool (ASI-Arch's rule:
//! parent uniformly from ranks 1-10, references from 11-50, the draw recorded), and proposes a
//! program by mutation and crossover, with a motivation that cites the analyses and insights it
//! acted on. Operators are weighted by the edit statistics the analysts record, so what helped
//! before is tried more often. Each proposal is judged for novelty; duplicates are re-proposed
//! up to the configured limit. Everything one experiment decides is recorded as one batch.
//! Under `rank-weighted` the parent is drawn from the whole pool, the weight halving every
//! `selection.half_rank` ranks (twice as many on a reported plateau); operators are weighted by
//! the configured prior (`selection.operator_prior`) as well.
//! Under the `random` policy (the control, `lineage_replay::policy`) parent and references come
//! uniformly from every scored architecture and every operator is equally likely; the draws use the same
//! streams, so a control campaign and a campaign of the same seed differ only by the policy.

use std::collections::BTreeMap;

use actix::prelude::*;
use lineage_arch::lang::{Program, parse, print, program_hash};
use lineage_arch::rng::Rng;
use lineage_events::payload::*;
use lineage_events::{ArchId, EventId, Hash};
use lineage_replay::policy::Policy;
use lineage_replay::{ArchRecord, CampaignState, InsightRef};

use crate::horizon::Seen;
use crate::insights::{GAIN_SLOPE, InsightKind, OpKey, StagnationKey};
use crate::messages::{Committed, Decision, Propose};
use crate::mutate::{OPERATOR_WEIGHT_MAX, OPERATOR_WEIGHT_MIN, OPERATORS};
use crate::novelty;
use crate::shared::Shared;

mod model;

/// Chance of a second edit on top of the first: bigger jumps now and then.
const SECOND_EDIT_PER_MILLE: u64 = 350;
/// The same on a plateau a stagnation analyst reported: explore more.
const SECOND_EDIT_STAGNANT_PER_MILLE: u64 = 750;

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

/// Operator weights from the insights of every analyst — the campaign's own, ones started with
/// it, and ones attached later from other processes. For each analyst, its latest insight that
/// speaks of operators counts: `op:NAME:gain` (edit statistics: mean fitness gain, averaged over
/// the analysts that report one, as `exp(10 · gain)`, so an operator that raised fitness by 0.05
/// is tried about 1.6× as often as an untried one) and `op:NAME:weight` (a direct multiplier).
/// The configured prior (`selection.operator_prior`, what earlier campaigns measured) multiplies
/// in. Each weight is clamped to [0.25, 4].
fn operator_weights(insights: &[InsightRef], prior: &BTreeMap<String, f64>) -> OperatorWeights {
    let mut latest: Vec<&InsightRef> = Vec::new();
    for insight in insights.iter().rev() {
        let speaks = OpKey::speaks_of_operators(&insight.insight);
        if speaks && !latest.iter().any(|l| l.insight.analyst == insight.insight.analyst) {
            latest.push(insight);
        }
    }
    latest.reverse();
    let mut weights = Vec::with_capacity(OPERATORS.len());
    let mut from_insights = Vec::with_capacity(OPERATORS.len());
    for (name, _) in OPERATORS {
        let gains: Vec<f64> = latest
            .iter()
            .filter_map(|i| i.insight.data.get(&OpKey::Gain(name).to_string()).copied())
            .collect();
        let from_gain = if gains.is_empty() {
            1.0
        } else {
            (GAIN_SLOPE * gains.iter().sum::<f64>() / gains.len() as f64).exp()
        };
        let weight = OpKey::Weight(name).to_string();
        let suggested: Vec<f64> =
            latest.iter().filter_map(|i| i.insight.data.get(&weight).copied()).collect();
        let prior = prior.get(*name).copied().unwrap_or(1.0);
        let product = from_gain * suggested.iter().product::<f64>() * prior;
        weights.push(product.clamp(OPERATOR_WEIGHT_MIN, OPERATOR_WEIGHT_MAX));
        from_insights.push(!gains.is_empty() || !suggested.is_empty());
    }
    OperatorWeights {
        weights,
        from_insights,
        steering: latest
            .iter()
            .map(|i| Steer { event: i.event, analyst: i.insight.analyst.to_string() })
            .collect(),
    }
}

/// The operators' draw weights and where they came from.
struct OperatorWeights {
    /// One per operator, in `OPERATORS` order.
    weights: Vec<f64>,
    /// Per operator: whether an insight spoke of it (a gain or a suggested weight), so that a
    /// motivation credits the insights only with the weights they set.
    from_insights: Vec<bool>,
    /// The insights that spoke of operators, one per analyst.
    steering: Vec<Steer>,
}

impl OperatorWeights {
    /// Every operator equally likely, set by nothing.
    fn uniform() -> Self {
        Self {
            weights: vec![1.0; OPERATORS.len()],
            from_insights: vec![false; OPERATORS.len()],
            steering: Vec::new(),
        }
    }
}

/// An insight that steered a proposal.
struct Steer {
    event: EventId,
    analyst: String,
}

/// The latest stagnation insight seen, if the plateau it reported is still the current one (no
/// new best among the results seen): the researcher then makes a second edit far more often.
fn stagnation(seen: &Seen) -> Option<Steer> {
    let insight = seen.insights.iter().rev().find(|i| InsightKind::Stagnation.is(&i.insight))?;
    let plateau = StagnationKey::BestFitness.of(&insight.insight)?;
    let state = seen.state;
    let best = state
        .order
        .iter()
        .map(|a| &state.archs[a])
        .filter(|a| !a.is_baseline())
        .filter_map(|a| seen.fitness(a))
        .fold(f64::NEG_INFINITY, f64::max);
    (best <= plateau).then(|| Steer { event: insight.event, analyst: insight.insight.analyst.to_string() })
}

/// The index of the parent drawn among `parents` (best first). The uniform policies keep
/// their one `below` draw, so their recorded campaigns replay as they were drawn.
fn draw_parent(selection: &SelectionConfig, parents: &[&PoolEntry], plateau: bool, rng: &mut Rng) -> u64 {
    let policy = Policy::of(selection);
    match policy {
        Policy::RankWeighted => {
            let weights: Vec<f64> =
                parents.iter().map(|e| policy.parent_weight(e.rank, plateau, selection)).collect();
            rng.weighted(&weights) as u64
        }
        Policy::TopKUniform | Policy::Random => rng.below(parents.len() as u64),
    }
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
    /// What experiment `experiment` is proposed from ([`crate::horizon`]).
    fn seen(&self, experiment: u32) -> Seen<'_> {
        Seen::of(&self.state, experiment, self.shared.config.parallel())
    }

    fn select(&self, experiment: u32) -> ParentSelected {
        let s = &self.shared.config.selection;
        let policy = Policy::of(s);
        let seen = self.seen(experiment);
        let pool = seen.pool(policy.pool_capacity(s));
        let stream = format!("select/{experiment}");
        let mut rng = Rng::stream(self.shared.seed, &stream);
        let in_ranks = |(lo, hi): (u32, u32)| -> Vec<&PoolEntry> {
            pool.iter().filter(|e| e.rank >= lo && e.rank <= hi).collect()
        };
        let parents = in_ranks(policy.parent_ranks(s));
        let parents = if parents.is_empty() { pool.iter().collect() } else { parents };
        let plateau = policy.steered() && stagnation(&seen).is_some();
        let pick = draw_parent(s, &parents, plateau, &mut rng);
        let parent = parents[pick as usize].arch.clone();
        // A young pool has nothing at ranks 11-50: references then come from the rest of it.
        let mut candidates: Vec<&PoolEntry> = in_ranks(policy.reference_ranks(s));
        if policy == Policy::Random {
            candidates.retain(|e| e.arch != parent);
        }
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
            draw: RandomDraw { seed: self.shared.seed, stream: stream.into(), values },
            parent,
            references,
            proposer_draw: model::draw(&self.shared.config, self.shared.seed, experiment),
        }
    }

    fn program_of(&self, arch: &ArchId) -> Program {
        parse(self.state.archs[arch].program()).expect("a checked program parses")
    }

    fn propose(&self, experiment: u32) -> Vec<Decision> {
        let select_key = format!("select/{experiment}");
        let selection_event = lineage_events::EventId::derive(&self.shared.campaign, &select_key);
        // A resumed experiment keeps the selection it recorded: the pool may have changed since.
        let selection = match self.state.selections.get(&experiment) {
            Some((recorded, _)) => recorded.clone(),
            None => self.select(experiment),
        };
        let mut decisions = vec![Decision::new(select_key, "researcher", selection.clone())];
        let llm = self
            .shared
            .llm
            .as_deref()
            .filter(|llm| lineage_replay::llm::model_proposes(llm.config(), Some(&selection)));
        if llm.is_some() {
            // The prompts are built from the selection: it is recorded before the first request.
            self.shared.record_blocking(std::mem::take(&mut decisions));
        }
        let parent = self.program_of(&selection.parent);
        let references: Vec<Program> = selection.references.iter().map(|r| self.program_of(r)).collect();
        let mut earlier: Vec<(ArchId, Program)> = self
            .state
            .order
            .iter()
            .filter_map(|id| parse(&self.state.archs[id].proposal.program).ok().map(|p| (id.clone(), p)))
            .collect();
        // Operator weights and a plateau from what this experiment sees, whatever finished since.
        let seen = self.seen(experiment);
        // The random-search control reads no insight: every operator equally likely.
        let steered = Policy::of(&self.shared.config.selection).steered();
        let prior = &self.shared.config.selection.operator_prior;
        let weights =
            if steered { operator_weights(seen.insights, prior) } else { OperatorWeights::uniform() };
        let stagnant = if steered { stagnation(&seen) } else { None };
        let second_edit =
            if stagnant.is_some() { SECOND_EDIT_STAGNANT_PER_MILLE } else { SECOND_EDIT_PER_MILLE };
        let context = ProposalContext {
            experiment,
            selection: &selection,
            selection_event,
            parent_record: &self.state.archs[&selection.parent],
            weights: &weights,
            prior,
            stagnant: stagnant.as_ref(),
            second_edit,
        };
        let mut duplicate: Option<(ArchId, ArchId)> = None;
        for attempt in 0..=self.shared.config.novelty.reproposals_max {
            let arch = ArchId::new(if attempt == 0 {
                format!("e{experiment:04}")
            } else {
                format!("e{experiment:04}-{attempt}")
            })
            .expect("generated ids are valid");
            let builtin = || {
                let stream = format!("propose/{arch}");
                let mut rng = Rng::stream(self.shared.seed, &stream);
                let (program, edits, draws) =
                    draw_edits(&parent, &references, &weights.weights, second_edit, &mut rng);
                let (motivation, evidence) = context.motivation(&self.shared.config.selection, &edits);
                Draft {
                    proposer: Proposer::BuiltIn {
                        operator: edits.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>().join("+"),
                    },
                    doc: format!(
                        "Proposed in experiment {experiment} from {}: {}.",
                        selection.parent,
                        if edits.is_empty() {
                            "no edit".to_owned()
                        } else {
                            edits.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>().join("; ")
                        }
                    ),
                    program,
                    edits,
                    motivation,
                    evidence,
                    draw: Some(RandomDraw { seed: self.shared.seed, stream: stream.into(), values: draws }),
                    cognition: Vec::new(),
                }
            };
            let draft = match llm {
                Some(llm) => {
                    model::draft(llm, &self.shared, &seen, &context, &arch, duplicate.as_ref(), builtin)
                }
                None => builtin(),
            };
            let Draft { mut program, proposer, doc, edits, motivation, evidence, draw, cognition } = draft;
            program.name = arch.as_str().replace('-', "_");
            program.doc = vec![doc];
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
            let proposed = ArchitectureProposed {
                arch: arch.clone(),
                experiment,
                parent: Some(selection.parent.clone()),
                references: selection.references.clone(),
                motivation,
                program: text,
                program_hash: Hash(program_hash(&program).0),
                proposer,
                edits,
                evidence,
                draw,
                cognition,
            };
            let novel = judged.verdict == NoveltyVerdict::Novel;
            let nearest = judged.nearest.clone();
            decisions.push(Decision::new(format!("propose/{arch}"), "researcher", proposed));
            decisions.push(Decision::new(format!("novelty/{arch}"), "researcher", judged));
            if novel {
                break;
            }
            duplicate = nearest.map(|n| (arch.clone(), n));
            earlier.push((arch, program));
        }
        decisions
    }
}

/// A proposal before its novelty is judged: the program (renamed to the architecture and
/// documented with `doc` when it is recorded) and what the proposal event says of it.
struct Draft {
    program: Program,
    proposer: Proposer,
    doc: String,
    edits: Vec<Edit>,
    motivation: String,
    evidence: Vec<EventId>,
    draw: Option<RandomDraw>,
    cognition: Vec<String>,
}

/// Tries per edit to find an operator that applies to the program.
const OPERATOR_TRIES: usize = 30;

/// One or two edits of `parent` (a second with `second_edit` per mille), each by an operator
/// drawn with `weights`; returns the edited program, the edits and every operator index drawn.
fn draw_edits(
    parent: &Program,
    references: &[Program],
    weights: &[f64],
    second_edit: u64,
    rng: &mut Rng,
) -> (Program, Vec<Edit>, Vec<u64>) {
    let mut draws = Vec::new();
    let mut program = parent.clone();
    let mut edits = Vec::new();
    let rounds = if rng.below(1000) < second_edit { 2 } else { 1 };
    for _ in 0..rounds {
        for _ in 0..OPERATOR_TRIES {
            let i = rng.weighted(weights);
            draws.push(i as u64);
            let (name, operator) = OPERATORS[i];
            if let Some((edited, detail)) = operator(&program, references, rng) {
                program = edited;
                edits.push(Edit { kind: name.into(), detail });
                break;
            }
        }
    }
    (program, edits, draws)
}

/// What every proposal of one experiment is motivated by: the selection, the parent's record
/// and the insights that set the operator weights.
struct ProposalContext<'a> {
    experiment: u32,
    selection: &'a ParentSelected,
    selection_event: EventId,
    parent_record: &'a ArchRecord,
    weights: &'a OperatorWeights,
    /// `selection.operator_prior`, to say which weights it set.
    prior: &'a BTreeMap<String, f64>,
    stagnant: Option<&'a Steer>,
    second_edit: u64,
}

impl ProposalContext<'_> {
    /// The motivation of a proposal made with `edits`, and the events it cites.
    fn motivation(&self, rules: &SelectionConfig, edits: &[Edit]) -> (String, Vec<EventId>) {
        let (mut motivation, mut evidence) = self.preamble(rules);
        if !self.weights.steering.is_empty() {
            let cited: Vec<String> =
                self.weights.steering.iter().map(|s| format!("{} [{}]", s.analyst, s.event)).collect();
            motivation.push_str(&format!(
                " Operators drawn with weights from the insights of {}.",
                cited.join(", ")
            ));
        }
        for edit in edits {
            motivation.push_str(&self.edit_rationale(edit));
        }
        evidence.extend(self.weights.steering.iter().map(|s| s.event));
        if let Some(s) = self.stagnant {
            motivation.push_str(&format!(
                " {} [{}] reported a plateau: {} edit(s), drawn with a {}‰ chance of a second.",
                s.analyst,
                s.event,
                edits.len(),
                self.second_edit
            ));
            evidence.push(s.event);
        }
        if edits.is_empty() {
            motivation.push_str(" No operator applied to this parent; the parent's program is re-proposed.");
        }
        evidence.dedup();
        (motivation, evidence)
    }

    /// What every motivation starts with: the selection and the parent's analysis, and the
    /// events they are.
    fn preamble(&self, rules: &SelectionConfig) -> (String, Vec<EventId>) {
        let selection = self.selection;
        let parent_fitness = self.parent_record.fitness.as_ref().map_or(f64::NAN, |(f, _)| f.total);
        let mut evidence: Vec<EventId> = vec![self.selection_event];
        let drawn = match Policy::of(rules) {
            Policy::TopKUniform => format!(
                "ranks {}-{} of a pool of {}",
                rules.parent_ranks.0,
                rules.parent_ranks.1,
                selection.pool.len()
            ),
            Policy::RankWeighted => format!(
                "a pool of {} with weights halving every {} ranks{}",
                selection.pool.len(),
                Policy::halving_ranks(rules, self.stagnant.is_some()),
                if self.stagnant.is_some() { " (widened on the plateau)" } else { "" }
            ),
            Policy::Random => {
                format!("all {} scored architectures (the random-search control)", selection.pool.len())
            }
        };
        let mut motivation = format!(
            "Experiment {}: parent {} (fitness {parent_fitness:.3}), drawn from {drawn}; references {}.",
            self.experiment,
            selection.parent,
            if selection.references.is_empty() {
                "none".to_owned()
            } else {
                selection.references.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            }
        );
        if let Some((event, summary)) = self.parent_record.analyses.last() {
            let summary = summary.trim_end_matches('.');
            motivation.push_str(&format!(" The parent's analysis [{event}] found: {summary}."));
            evidence.push(*event);
        }
        (motivation, evidence)
    }

    /// Why one edit was made: its operator's rationale and the weight it was drawn with.
    fn edit_rationale(&self, edit: &Edit) -> String {
        let weights = &self.weights.weights;
        let i = OPERATORS.iter().position(|(n, _)| *n == edit.kind).expect("known operator");
        let mut text = format!(
            " Edit `{}` ({}): {}; drawn with weight {:.2} of {:.2}",
            edit.kind,
            edit.detail,
            rationale(&edit.kind),
            weights[i],
            weights.iter().sum::<f64>(),
        );
        text.push_str(&weight_credit(
            self.prior.get(edit.kind.as_str()).copied(),
            self.weights.from_insights[i],
        ));
        text
    }
}

/// What set an operator's weight, as the end of its rationale: the prior from earlier
/// campaigns, the insights cited above, both, or nothing.
fn weight_credit(prior: Option<f64>, from_insights: bool) -> String {
    match (prior, from_insights) {
        (None, false) => " (no statistics on it yet).".to_owned(),
        (None, true) => ", set by the insights above.".to_owned(),
        (Some(p), false) => format!(", the prior {p:.2} from earlier campaigns."),
        (Some(p), true) => {
            format!(", set by the prior {p:.2} from earlier campaigns and the insights above.")
        }
    }
}

#[cfg(test)]
mod tests;
