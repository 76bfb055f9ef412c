//! Synthetic but realistic payloads: one of every event type, the event mix of one experiment,
//! and an endless log of experiment after experiment ([`payloads`], [`Events`]). The one
//! generator of realistic events: used by tests, by the benchmarks and by the docs' examples;
//! never by a real campaign.

use std::collections::BTreeMap;

use crate::envelope::{ActorRef, NewEvent};
use crate::hash::Hash;
use crate::ids::{ArchId, CampaignId, EventId, RunId};
use crate::payload::*;

const PROGRAM: &str = "\
mixer gated_delta(d_model = 64, heads = 4) {
  q = l2norm(silu(conv(linear(x, d_k), 4)))
  k = l2norm(silu(conv(linear(x, d_k), 4)))
  v = silu(conv(linear(x, d_v), 4))
  beta = sigmoid(linear(x, heads))
  alpha = exp(-exp(a_log) * softplus(linear(x, heads) + dt_bias))
  S = alpha * (S - beta * k (k^T S)) + beta * k v^T
  o = rmsnorm(S^T q) * silu(linear(x, d_v))
  return linear(o, d_model)
}";

fn id(text: &str) -> ArchId {
    ArchId::new(text).expect("synthetic ids are valid")
}

fn run(text: &str) -> RunId {
    RunId::new(text).expect("synthetic ids are valid")
}

/// A realistic resolved configuration (the shape of the `quick` preset).
pub fn config() -> CampaignConfig {
    let stage = |layers, d_model, steps, seeds| StageConfig {
        layers,
        d_model,
        heads: 4,
        steps,
        batch: 16,
        learning_rate: 3e-3,
        run_wall_s_max: 300,
        seeds,
        eval_batches: 4,
        tasks: vec![
            TaskSpec {
                name: "mqar".into(),
                settings: BTreeMap::from([("vocab".into(), 64.0), ("pairs".into(), 8.0)]),
                corpus: None,
            },
            TaskSpec { name: "lm".into(), settings: BTreeMap::new(), corpus: None },
        ],
    };
    CampaignConfig {
        preset: Some("quick".into()),
        budget: Budget { experiments_max: 20, wall_s_max: Some(900), compute_s_max: None },
        trainers: 1,
        parallel: None,
        selection: SelectionConfig {
            policy: "top-k-uniform".into(),
            pool_capacity: 50,
            parent_ranks: (1, 10),
            reference_ranks: (11, 50),
            references_count: 4,
            half_rank: 2.0,
            operator_prior: Default::default(),
        },
        novelty: NoveltyConfig {
            structural_distance_min: 0.05,
            behavioural_distance_min: 1e-3,
            reproposals_max: 10,
        },
        repair_attempts_max: 3,
        fitness: fitness_constants(),
        sanity: SanityConfig { leakage_loss_ratio: 0.9, slow_factor: 3.0 },
        exploration: stage(2, 64, 300, 1),
        verification: stage(4, 128, 1000, 3),
        promote_top: 3,
        analysts: vec!["edit-stats".into()],
        baselines: Vec::new(),
        llm: None,
    }
}

fn fitness_constants() -> FitnessConstants {
    FitnessConstants {
        name: "asi-arch".into(),
        reference_arch: "deltanet".into(),
        loss_scale: 0.1,
        benchmark_scale: 0.1,
        steepness: 6.0,
        loss_weight: 1.0,
        benchmark_weight: 1.0,
        judge_weight: 1.0,
    }
}

fn host() -> HostInfo {
    HostInfo { hostname: "node-1".into(), platform: "linux-x86_64".into(), cpus: 2 }
}

fn metrics(i: u64) -> TrainingMetrics {
    let loss = 2.0 + (i % 7) as f64 * 0.01;
    TrainingMetrics {
        loss_train_final: loss - 0.05,
        loss_val_final: loss,
        tasks: BTreeMap::from([
            ("mqar".into(), TaskMetrics { accuracy: Some(0.8), loss: Some(0.7) }),
            ("lm".into(), TaskMetrics { accuracy: None, loss: Some(loss) }),
        ]),
        benchmark_mean: 0.8,
        params: 52_480,
        steps: 300,
        tokens_seen: 614_400,
        tokens_per_s: 12_000.0,
        wall_ms: 51_200,
        loss_curve: (0..10).map(|s| CurvePoint { step: s * 30, loss: 4.0 - s as f64 * 0.2 }).collect(),
    }
}

/// A campaign's first two events: its start and the proposal of seed baseline `arch` named
/// `proposer`, with this program text and motivation, citing nothing. For tests of how
/// recorded text is shown.
pub fn seed_campaign(
    campaign: &CampaignId,
    arch: &str,
    program: &str,
    motivation: &str,
    proposer: &str,
) -> Vec<NewEvent> {
    let started = one_of_each().into_iter().next().expect("a campaign starts");
    let proposed = Payload::ArchitectureProposed(ArchitectureProposed {
        arch: id(arch),
        experiment: 0,
        parent: None,
        references: vec![],
        motivation: motivation.to_owned(),
        program_hash: Hash::of(program.as_bytes()),
        program: program.to_owned(),
        proposer: Proposer::Baseline { name: proposer.into() },
        edits: vec![],
        evidence: vec![],
        draw: None,
        cognition: vec![],
    });
    let actor = ActorRef::new("test", "writer");
    [started, proposed]
        .iter()
        .enumerate()
        .map(|(i, p)| NewEvent::new(EventId::derive(campaign, &format!("e{i}")), actor.clone(), p))
        .collect()
}

/// One payload of every event type.
pub fn one_of_each() -> Vec<Payload> {
    let arch = id("a-0001");
    let mut payloads = experiment(1);
    payloads.insert(
        0,
        Payload::CampaignStarted(CampaignStarted {
            name: "synthetic".into(),
            seed: 7,
            config: Box::new(config()),
            code_version: crate::CODE_VERSION.into(),
            backend: "flex".into(),
            host: host(),
        }),
    );
    payloads.extend([
        Payload::RepairAttempted(RepairAttempted {
            arch: arch.clone(),
            attempt: 1,
            diagnosis: "state decay missing: the state norm grows without bound".into(),
            rule: "add-decay".into(),
            patch: "-  S = S + k v^T\n+  S = 0.99 * S + k v^T\n".into(),
            program: PROGRAM.into(),
            program_hash: Hash::of(PROGRAM.as_bytes()),
            outcome: RepairOutcome::Repaired,
            exchange: None,
        }),
        Payload::ArchitectureAbandoned(ArchitectureAbandoned {
            arch: arch.clone(),
            reason: "causality check still failing after 3 repairs".into(),
        }),
        Payload::TrainingFailed(TrainingFailed {
            run: run("r-0001-0"),
            arch: arch.clone(),
            failure: TrainingFailure::Leakage { loss: 0.1, reference_loss: 2.0 },
            attempt: 1,
        }),
        Payload::LeaseRenewed(LeaseRenewed {
            run: run("r-0001-0"),
            arch: arch.clone(),
            start: 0,
            worker: "gpu-node-3".into(),
        }),
        Payload::LeaseExpired(LeaseExpired {
            run: run("r-0001-0"),
            arch: arch.clone(),
            start: 0,
            worker: "gpu-node-3".into(),
            lease_ms: 30_000,
            silent_ms: 31_200,
        }),
        Payload::PromotedToVerification(PromotedToVerification {
            arch: arch.clone(),
            rank: 1,
            fitness: 0.71,
            seeds: vec![11, 12, 13],
        }),
        Payload::VerificationConcluded(VerificationConcluded {
            arch: arch.clone(),
            best_baseline: id("gated-deltanet"),
            gain_mean: 0.031,
            gain_std: 0.008,
            discovery: true,
            runs: vec![run("r-0001-v11"), run("r-0001-v12"), run("r-0001-v13")],
            test: Some(GainTest {
                name: "paired-t-one-sided".into(),
                alpha: 0.05,
                pairs: 3,
                df: 2,
                t: Some(6.711_696_879_329_4),
                p_value: 0.010_743_112_914_142_8,
                correction: "holm".into(),
                family: 1,
                p_adjusted: 0.010_743_112_914_142_8,
                lower_bound: Some(0.017_513_164_313_223_6),
            }),
            real_text: Some(RealTextTest {
                task: "lm:kjv".into(),
                gain_mean: 0.012,
                gain_std: 0.004,
                test: GainTest {
                    name: "paired-t-one-sided".into(),
                    alpha: 0.05,
                    pairs: 3,
                    df: 2,
                    t: Some(5.196_152_422_706_632),
                    p_value: 0.017_549_833_193_215_5,
                    correction: "holm".into(),
                    family: 1,
                    p_adjusted: 0.017_549_833_193_215_5,
                    lower_bound: Some(0.005_256_584_486_306_6),
                },
            }),
        }),
        Payload::InsightRecorded(InsightRecorded {
            analyst: "edit-stats".into(),
            kind: "edit-effect".into(),
            text: "add-gate raised mqar accuracy in 7 of 9 children".into(),
            confidence: 0.8,
            data: BTreeMap::from([("edit:add-gate".into(), 0.06)]),
            cites: vec![EventId::random()],
        }),
        Payload::LlmExchanged(LlmExchanged {
            role: LlmRole::Researcher,
            subject: "e0001".into(),
            attempt: 1,
            try_number: 1,
            model: "local-model".into(),
            endpoint: "http://127.0.0.1:8080/v1".into(),
            parameters: LlmParameters { temperature: 0.7, max_tokens: 1024, seed: 7, json_mode: true },
            messages: vec![ChatMessage { role: "user".into(), content: "Improve this mixer...".into() }],
            reply: "{\"motivation\": \"Add a forget gate\", \"program\": \"...\"}".into(),
            outcome: LlmOutcome::Replied { status: 200, finish_reason: "stop".into() },
            usage: LlmUsage { input_tokens: 812, output_tokens: 240, reported: true },
            latency_ms: 2300,
            cost: 0.0,
            rejected: None,
        }),
        Payload::LlmFellBack(LlmFellBack {
            role: LlmRole::Debugger,
            subject: "e0001".into(),
            reason: "3 replies did not parse".into(),
            exchanges: vec![EventId::random()],
        }),
        Payload::CampaignPaused(CampaignPaused { reason: "interrupted (Ctrl-C)".into() }),
        Payload::CampaignNamed(CampaignNamed { name: "ablation-1".into() }),
        Payload::CampaignExtended(CampaignExtended { experiments_max: 40, previous_max: 20 }),
        Payload::CampaignResumed(CampaignResumed {
            from_seq: 41,
            redispatched: vec!["r-0001-0".into()],
            host: host(),
        }),
        Payload::CampaignFinished(CampaignFinished {
            reason: "experiment budget reached".into(),
            experiments: 20,
            state_hash: Hash::of(b"state"),
            state_events: Some(41),
        }),
        Payload::HeadSigned(HeadSigned {
            seq: 41,
            head_hash: Hash::of(b"head"),
            public_key: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".into(),
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b".into(),
        }),
    ]);
    payloads
}

/// The events of one ordinary experiment `i`: selection, proposal, novelty, checks, training
/// (with progress samples), analysis, fitness and budget. About 8 KiB of JSON.
pub fn experiment(i: u64) -> Vec<Payload> {
    let arch = id(&format!("a-{i:04}"));
    let run_id = run(&format!("r-{i:04}-0"));
    let parent = id("gated-deltanet");
    let mut payloads =
        vec![selection(i, &parent), proposal(i, &arch, &parent), novelty(&arch, &parent), checked(&arch)];
    payloads.extend(training(i, &arch, run_id));
    payloads.extend(assessment(i, arch, parent));
    payloads
}

/// The parent and references drawn for experiment `i`.
fn selection(i: u64, parent: &ArchId) -> Payload {
    Payload::ParentSelected(ParentSelected {
        experiment: i as u32,
        policy: "top-k-uniform".into(),
        pool: (1..=12)
            .map(|r| PoolEntry { rank: r, arch: id(&format!("a-{r:04}")), fitness: 0.7 - r as f64 * 0.01 })
            .collect(),
        draw: RandomDraw {
            seed: i * 7919,
            stream: format!("select/experiment-{i}").into(),
            values: vec![2, 11, 12, 13, 14],
        },
        parent: parent.clone(),
        references: vec![id("a-0011"), id("a-0012")],
        proposer_draw: None,
    })
}

/// The program proposed in experiment `i`.
fn proposal(i: u64, arch: &ArchId, parent: &ArchId) -> Payload {
    Payload::ArchitectureProposed(ArchitectureProposed {
        arch: arch.clone(),
        experiment: i as u32,
        parent: Some(parent.clone()),
        references: vec![id("a-0011")],
        motivation: "Gating the delta update helped recall in earlier children; add a per-head output gate."
            .into(),
        program: PROGRAM.into(),
        program_hash: Hash::of(PROGRAM.as_bytes()),
        proposer: Proposer::BuiltIn { operator: "mutate:add-gate".into() },
        edits: vec![Edit { kind: "add-gate".into(), detail: "silu gate on the output".into() }],
        evidence: vec![],
        draw: Some(RandomDraw { seed: i, stream: format!("propose/experiment-{i}").into(), values: vec![3] }),
        cognition: Vec::new(),
    })
}

fn novelty(arch: &ArchId, parent: &ArchId) -> Payload {
    Payload::NoveltyJudged(NoveltyJudged {
        arch: arch.clone(),
        verdict: NoveltyVerdict::Novel,
        nearest: Some(parent.clone()),
        structural_distance: Some(0.12),
        behavioural_distance: Some(0.03),
    })
}

/// Every check passed.
fn checked(arch: &ArchId) -> Payload {
    Payload::ImplementationChecked(ImplementationChecked {
        arch: arch.clone(),
        program_hash: Hash::of(PROGRAM.as_bytes()),
        attempt: 0,
        checks: ["type-shape", "causality", "complexity", "finite"]
            .iter()
            .map(|c| CheckOutcome {
                check: (*c).into(),
                passed: true,
                numbers: BTreeMap::from([("value".into(), 1.02)]),
                diagnostics: vec![Diagnostic {
                    class: "note".into(),
                    line: 6,
                    column: 3,
                    message: "ok".into(),
                    suggestion: None,
                }],
            })
            .collect(),
        passed: true,
        quadratic_allowed: false,
        params: Some(52_480),
    })
}

/// The run of experiment `i`: scheduled, started, five progress samples, finished.
fn training(i: u64, arch: &ArchId, run_id: RunId) -> Vec<Payload> {
    let mut payloads = vec![
        Payload::TrainingScheduled(TrainingScheduled {
            run: run_id.clone(),
            arch: arch.clone(),
            stage: Stage::Exploration,
            seed: i,
            program_hash: Hash::of(PROGRAM.as_bytes()),
        }),
        Payload::TrainingStarted(TrainingStarted {
            run: run_id.clone(),
            arch: arch.clone(),
            trainer: "trainer-0".into(),
            backend: "flex".into(),
            threads: 2,
            host: host(),
            lease_ms: None,
        }),
    ];
    payloads.extend((1..=5).map(|s| {
        Payload::TrainingProgress(TrainingProgress {
            run: run_id.clone(),
            arch: arch.clone(),
            step: s * 60,
            loss: 4.0 - s as f64 * 0.3,
            learning_rate: 3e-3,
            tokens_seen: s as u64 * 122_880,
            wall_ms: s as u64 * 10_000,
        })
    }));
    payloads.push(Payload::TrainingFinished(TrainingFinished {
        run: run_id,
        arch: arch.clone(),
        stage: Stage::Exploration,
        seed: i,
        backend: "flex".into(),
        threads: 2,
        program_hash: Hash::of(PROGRAM.as_bytes()),
        metrics: metrics(i),
    }));
    payloads
}

/// The analysis, fitness and budget after experiment `i`.
fn assessment(i: u64, arch: ArchId, parent: ArchId) -> Vec<Payload> {
    vec![
        Payload::AnalysisRecorded(AnalysisRecorded {
            arch: arch.clone(),
            analyst: "analyst-0".into(),
            summary: "The output gate improves MQAR by 4 points over the parent at equal loss.".into(),
            findings: vec!["mqar +0.04 vs parent".into(), "lm loss unchanged".into()],
            comparisons: vec![Comparison {
                against: parent,
                relation: Relation::Parent,
                loss_delta: -0.01,
                task_deltas: BTreeMap::from([("mqar".into(), 0.04)]),
            }],
            numbers: BTreeMap::from([("attribution:add-gate".into(), 0.04)]),
            cites: vec![],
            exchange: None,
        }),
        Payload::FitnessAssigned(FitnessAssigned {
            arch,
            stage: Stage::Exploration,
            components: FitnessComponents { loss_term: 0.52, benchmark_term: 0.61, judge_term: 0.5 },
            total: 0.543,
            reference: id("deltanet"),
            judge: JudgeScore {
                score: 5.5,
                performance: 6.0,
                innovation: 5.0,
                complexity: 5.5,
                rationale: "one extra gate; modest gain".into(),
                exchange: None,
            },
            constants: fitness_constants(),
        }),
        Payload::BudgetSpent(BudgetSpent {
            experiments: i as u32,
            compute_ms: i * 51_200,
            wall_ms: i * 53_000,
            llm: Default::default(),
        }),
    ]
}

/// The payloads of experiment 1, 2, 3, … one after another, without end.
pub fn payloads() -> Payloads {
    (1..).flat_map(experiment as fn(u64) -> Vec<Payload>)
}

/// The iterator [`payloads`] returns.
pub type Payloads = std::iter::FlatMap<std::ops::RangeFrom<u64>, Vec<Payload>, fn(u64) -> Vec<Payload>>;

/// Endless new events of one campaign, recorded by one actor: the payloads of [`payloads`] in
/// order, the n-th (from 0) with the id derived from the key `{actor name}/{n}`, so the same
/// stream is the same events every time (an append retried with them is recognised).
pub struct Events {
    campaign: CampaignId,
    actor: ActorRef,
    payloads: Payloads,
    next: u64,
}

impl Events {
    /// The stream from its first event.
    pub fn new(campaign: CampaignId, actor: ActorRef) -> Self {
        Self { campaign, actor, payloads: payloads(), next: 0 }
    }

    /// The same stream from its `n`-th event on.
    pub fn starting_at(mut self, n: u64) -> Self {
        while self.next < n {
            self.payloads.next();
            self.next += 1;
        }
        self
    }

    /// The next `n` events.
    pub fn batch(&mut self, n: u64) -> Vec<NewEvent> {
        self.by_ref().take(n as usize).collect()
    }
}

impl Iterator for Events {
    type Item = NewEvent;

    fn next(&mut self) -> Option<NewEvent> {
        let payload = self.payloads.next()?;
        let id = EventId::derive(&self.campaign, &format!("{}/{}", self.actor.name, self.next));
        self.next += 1;
        Some(NewEvent::new(id, self.actor.clone(), &payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_stream_is_experiment_after_experiment_with_derived_ids() {
        let campaign = CampaignId::new("synthetic").unwrap();
        let actor = ActorRef::new("test", "writer");
        let first: Vec<NewEvent> = Events::new(campaign.clone(), actor.clone()).batch(40);
        let expected: Vec<Payload> = (1..=3).flat_map(experiment).take(40).collect();
        let encoded: Vec<_> = expected.iter().map(Payload::encode).collect();
        assert_eq!(first.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), encoded);
        assert_eq!(first[7].id, EventId::derive(&campaign, "writer/7"));
        assert_eq!(first[7].correlation.as_ref(), expected[7].arch());
        // The same stream again, from event 25 on: the same events.
        let later = Events::new(campaign, actor).starting_at(25).batch(15);
        let same = |a: &NewEvent, b: &NewEvent| (a.id, &a.payload) == (b.id, &b.payload);
        assert!(later.iter().zip(&first[25..]).all(|(a, b)| same(a, b)));
    }
}
