//! The small campaign of real payloads the audit tests share, written through the memory store:
//! two seed baselines, two experiments (a-0001 from gated-deltanet, a-0002 from a-0001, citing
//! a-0001's analysis), a-0002 verified as a discovery against deltanet on three seeds, and the
//! finish with its state hash. The fitness terms are planted so that weighting only the
//! benchmark reverses the ranking. Every derived number agrees with what it derives from (the
//! totals, the verdict, the accounts), as the live campaign writes them.
#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;

use lineage_events::payload::*;
use lineage_events::{
    ActorRef, ArchId, CampaignId, EventId, EventStore, Hash, MemoryStore, NewEvent, RunId, Seq, synthetic,
};
use lineage_replay::CampaignState;
use lineage_replay::discovery::{self, verdicts};
use lineage_replay::fitness::Weights;

pub fn id(text: &str) -> ArchId {
    ArchId::new(text).unwrap()
}

/// The campaign's payloads with their event ids, as they are built.
pub struct Builder {
    pub events: Vec<(EventId, Payload)>,
    pub weights: Weights,
}

impl Builder {
    pub fn new() -> Self {
        let mut config = synthetic::config();
        config.promote_top = 1;
        let weights = Weights::of(&config.fitness);
        let mut started = synthetic::one_of_each().remove(0);
        let Payload::CampaignStarted(s) = &mut started else { panic!("the first synthetic event starts") };
        *s.config = config;
        let mut builder = Self { events: Vec::new(), weights };
        builder.push(started);
        builder
    }

    pub fn push(&mut self, payload: Payload) -> EventId {
        let id = EventId::random();
        self.events.push((id, payload));
        id
    }

    /// The events of one architecture, from its selection (none for a baseline) to its fitness
    /// with the terms `[loss, benchmark, judge]`; returns the id of its analysis.
    pub fn arch(
        &mut self,
        experiment: u32,
        name: &str,
        parent: Option<&str>,
        terms: [f64; 3],
        evidence: Vec<EventId>,
    ) -> EventId {
        let (arch, run) = (id(name), RunId::new(format!("r-{name}")).unwrap());
        let mut analysis = None;
        for mut payload in synthetic::experiment(experiment.max(1) as u64) {
            match &mut payload {
                Payload::ParentSelected(p) => {
                    let Some(parent) = parent else { continue };
                    p.experiment = experiment;
                    (p.parent, p.references, p.pool) = (id(parent), Vec::new(), Vec::new());
                }
                Payload::ArchitectureProposed(p) => {
                    (p.arch, p.experiment, p.references, p.evidence) =
                        (arch.clone(), experiment, Vec::new(), evidence.clone());
                    p.parent = parent.map(id);
                    if parent.is_none() {
                        p.proposer = Proposer::Baseline { name: name.into() };
                    }
                }
                Payload::NoveltyJudged(p) => p.arch = arch.clone(),
                Payload::ImplementationChecked(p) => p.arch = arch.clone(),
                Payload::TrainingScheduled(p) => (p.arch, p.run) = (arch.clone(), run.clone()),
                Payload::TrainingStarted(p) => (p.arch, p.run) = (arch.clone(), run.clone()),
                Payload::TrainingProgress(p) => (p.arch, p.run) = (arch.clone(), run.clone()),
                Payload::TrainingFinished(p) => (p.arch, p.run) = (arch.clone(), run.clone()),
                Payload::AnalysisRecorded(p) => p.arch = arch.clone(),
                Payload::FitnessAssigned(p) => {
                    p.arch = arch.clone();
                    let [loss_term, benchmark_term, judge_term] = terms;
                    // The judge's score on its 1-10 scale, and the term as the analyst derives
                    // it from the score (within a rounding of the one planted).
                    p.judge.score = 1.0 + 9.0 * judge_term;
                    let judge_term = (p.judge.score - 1.0) / 9.0;
                    p.components = FitnessComponents { loss_term, benchmark_term, judge_term };
                    p.total = self.weights.total(&p.components);
                }
                // One experiment, and the training time of its run (as the planner accounts).
                Payload::BudgetSpent(p) if parent.is_some() => (p.experiments, p.compute_ms) = (1, 51_200),
                Payload::BudgetSpent(_) => continue,
                other => panic!("unexpected {}", other.type_name()),
            }
            let is_analysis = matches!(payload, Payload::AnalysisRecorded(_));
            let event = self.push(payload);
            if is_analysis {
                analysis = Some(event);
            }
        }
        analysis.expect("an experiment has an analysis")
    }

    /// Promotes `arch` and the baseline `baseline` with the config's three verification seeds,
    /// trains each once per seed to the benchmark scores given (`[arch's, baseline's]`) and
    /// concludes with the discovery rule.
    pub fn verification(&mut self, arch: &str, baseline: &str, scores: [[f64; 3]; 2]) {
        self.verification_with_text(arch, baseline, scores, None);
    }

    /// [`Self::verification`], with the held-out losses on the real-text task `lm:kjv`
    /// (`[arch's, baseline's]`) where given: the stage must then have that task (see
    /// [`with_real_text`]), and the verdict carries the real-text test.
    pub fn verification_with_text(
        &mut self,
        arch: &str,
        baseline: &str,
        scores: [[f64; 3]; 2],
        text: Option<[[f64; 3]; 2]>,
    ) {
        let seeds = vec![11, 12, 13];
        let finished = synthetic::experiment(1).into_iter().find_map(|p| match p {
            Payload::TrainingFinished(f) => Some(f),
            _ => None,
        });
        let (mut runs, mut by_seed) = (Vec::new(), [BTreeMap::new(), BTreeMap::new()]);
        let mut text_by_seed = [BTreeMap::new(), BTreeMap::new()];
        for (side, name) in [arch, baseline].into_iter().enumerate() {
            let promoted = PromotedToVerification {
                arch: id(name),
                rank: side as u32 + 1,
                fitness: 0.5,
                seeds: seeds.clone(),
            };
            self.push(Payload::PromotedToVerification(promoted));
            for (i, seed) in seeds.iter().enumerate() {
                let run = RunId::new(format!("{name}-v{i}")).unwrap();
                let scheduled = TrainingScheduled {
                    run: run.clone(),
                    arch: id(name),
                    stage: Stage::Verification,
                    seed: *seed,
                    program_hash: Hash::of(b"program"),
                };
                self.push(Payload::TrainingScheduled(scheduled));
                let mut result = finished.clone().expect("an experiment trains");
                (result.run, result.arch, result.stage, result.seed) =
                    (run.clone(), id(name), Stage::Verification, *seed);
                result.metrics.benchmark_mean = scores[side][i];
                if let Some(losses) = text {
                    let metrics = TaskMetrics { accuracy: None, loss: Some(losses[side][i]) };
                    result.metrics.tasks.insert("lm:kjv".to_owned(), metrics);
                    text_by_seed[side].insert(*seed, -losses[side][i]);
                }
                self.push(Payload::TrainingFinished(result));
                by_seed[side].insert(*seed, scores[side][i]);
                runs.push(run);
            }
        }
        // The only candidate promoted: a family of one.
        let v = verdicts(std::slice::from_ref(&by_seed[0]), &by_seed[1]).remove(0);
        // On real text the same rule runs on minus the loss, so a gain is a loss reduction.
        let t = text.map(|_| verdicts(std::slice::from_ref(&text_by_seed[0]), &text_by_seed[1]).remove(0));
        let concluded = VerificationConcluded {
            arch: id(arch),
            best_baseline: id(baseline),
            gain_mean: v.gain_mean,
            gain_std: v.gain_std,
            discovery: discovery::discovery(&v, t.as_ref()),
            runs,
            test: Some(v.test),
            real_text: t.map(|t| t.real_text("lm:kjv")),
        };
        self.push(Payload::VerificationConcluded(concluded));
    }

    /// The campaign, finished with `state_hash` (`None`: the hash of its state, as recorded by
    /// the live run).
    pub fn finish(mut self, state_hash: Option<Hash>) -> Vec<(EventId, Payload)> {
        let mut state = CampaignState::default();
        for (seq, (id, payload)) in self.events.iter().enumerate() {
            state.apply_payload(Seq(seq as u64), *id, lineage_events::DecodedPayload::Known(payload.clone()));
        }
        let finished = CampaignFinished {
            reason: "experiment budget reached".into(),
            experiments: 2,
            state_hash: state_hash.unwrap_or_else(|| state.state_hash()),
            state_events: Some(self.events.len() as u64),
        };
        self.push(Payload::CampaignFinished(finished));
        self.events
    }
}

/// The campaign's payloads: `a-0002` ranks first under the recorded weights, `a-0001` under
/// the benchmark alone; returns them and the id of a-0001's analysis (which a-0002 cites).
pub fn campaign(state_hash: Option<Hash>) -> (Vec<(EventId, Payload)>, EventId) {
    let mut b = Builder::new();
    b.arch(0, "deltanet", None, [0.5, 0.5, 0.44], Vec::new());
    b.arch(0, "gated-deltanet", None, [0.9, 0.1, 0.5], Vec::new());
    let cited = b.arch(1, "a-0001", Some("gated-deltanet"), [0.2, 0.95, 0.5], Vec::new());
    b.arch(2, "a-0002", Some("a-0001"), [0.6, 0.6, 0.5], vec![cited]);
    b.verification("a-0002", "deltanet", [[0.81, 0.83, 0.82], [0.60, 0.61, 0.59]]);
    (b.finish(state_hash), cited)
}

/// The campaign of [`campaign`], its verification stage also training the real-text task
/// `lm:kjv`, with these held-out losses there (`[a-0002's, deltanet's]` by seed).
pub fn campaign_with_real_text(text: [[f64; 3]; 2]) -> Vec<(EventId, Payload)> {
    let mut b = Builder::new();
    let Payload::CampaignStarted(started) = &mut b.events[0].1 else {
        unreachable!("the first event starts")
    };
    started.config.verification.tasks.push(TaskSpec {
        name: "lm".into(),
        settings: BTreeMap::new(),
        corpus: Some("kjv".into()),
    });
    b.arch(0, "deltanet", None, [0.5, 0.5, 0.44], Vec::new());
    b.arch(0, "gated-deltanet", None, [0.9, 0.1, 0.5], Vec::new());
    let cited = b.arch(1, "a-0001", Some("gated-deltanet"), [0.2, 0.95, 0.5], Vec::new());
    b.arch(2, "a-0002", Some("a-0001"), [0.6, 0.6, 0.5], vec![cited]);
    b.verification_with_text("a-0002", "deltanet", [[0.81, 0.83, 0.82], [0.60, 0.61, 0.59]], Some(text));
    b.finish(None)
}

/// Writes the events to a memory store, each caused by the one before it (`cause` overrides
/// the cause of the event at a position).
pub async fn store_of(
    events: &[(EventId, Payload)],
    cause: Option<(usize, EventId)>,
) -> (MemoryStore, CampaignId) {
    let store = MemoryStore::new();
    let campaign = CampaignId::new("audit").unwrap();
    let actor = ActorRef::new("test", "test");
    let new: Vec<NewEvent> = events
        .iter()
        .enumerate()
        .map(|(i, (id, payload))| {
            let event = NewEvent::new(*id, actor.clone(), payload);
            match cause {
                Some((at, cause)) if at == i => event.caused_by(cause),
                _ if i > 0 => event.caused_by(events[i - 1].0),
                _ => event,
            }
        })
        .collect();
    store.append(&campaign, Seq(0), new).await.unwrap();
    (store, campaign)
}
