//! For unit tests: campaign states built from events, each committed with the id the recorder
//! would derive from its decision key, as the live actors would record them.

use std::collections::BTreeMap;

use lineage_arch::baselines;
use lineage_events::payload::*;
use lineage_events::{ArchId, CampaignId, DecodedPayload, EventId, Hash, RunId, Seq};
use lineage_replay::CampaignState;

use crate::messages::Decision;

/// The `smoke` preset: four baselines (the reference `deltanet` first), two trainers, three
/// repair attempts, six experiments, two verification seeds.
pub fn smoke() -> CampaignConfig {
    crate::config::resolve("smoke", None, &Default::default()).expect("the smoke preset resolves").0
}

/// An architecture id.
pub fn arch(id: &str) -> ArchId {
    ArchId::new(id).expect("a valid id")
}

/// A run id.
pub fn run(id: &str) -> RunId {
    RunId::new(id).expect("a valid id")
}

/// The printed program of a baseline.
pub fn program(baseline: &str) -> String {
    lineage_arch::lang::print(&baselines::get(baseline).expect("a baseline").program())
}

/// Metrics with an MQAR accuracy (the benchmark) and a language-modelling loss.
pub fn metrics(accuracy: f64, loss: f64, wall_ms: u64) -> TrainingMetrics {
    TrainingMetrics {
        loss_train_final: loss,
        loss_val_final: loss,
        tasks: BTreeMap::from([
            ("lm".into(), TaskMetrics { accuracy: None, loss: Some(loss) }),
            ("mqar".into(), TaskMetrics { accuracy: Some(accuracy), loss: Some(1.0 - accuracy) }),
        ]),
        benchmark_mean: accuracy,
        params: 1000,
        steps: 40,
        tokens_seen: 5120,
        tokens_per_s: 1000.0,
        wall_ms,
        loss_curve: Vec::new(),
    }
}

/// A check outcome; a failing one carries one diagnostic of `class`.
pub fn outcome(check: &str, class: Option<&str>) -> CheckOutcome {
    CheckOutcome {
        check: check.into(),
        passed: class.is_none(),
        numbers: BTreeMap::new(),
        diagnostics: class
            .map(|c| Diagnostic {
                class: c.into(),
                line: 2,
                column: 3,
                message: format!("{c} here"),
                suggestion: None,
            })
            .into_iter()
            .collect(),
    }
}

/// A campaign log being written, and the state it folds to.
pub struct Log {
    /// The state after every event so far.
    pub state: CampaignState,
    /// The campaign (event ids derive from it).
    pub campaign: CampaignId,
}

impl Log {
    /// A campaign started with `config` and `seed`.
    pub fn started(config: &CampaignConfig, seed: u64) -> Self {
        let mut log =
            Self { state: CampaignState::default(), campaign: CampaignId::new("test").expect("valid") };
        log.commit(
            "start",
            CampaignStarted {
                name: "test".into(),
                seed,
                config: Box::new(config.clone()),
                code_version: "test".into(),
                backend: "flex".into(),
                host: HostInfo { hostname: "test".into(), platform: "test".into(), cpus: 1 },
            },
        );
        log
    }

    /// Commits one event under the decision key `key`; returns its id.
    pub fn commit(&mut self, key: &str, payload: impl Into<Payload>) -> EventId {
        let id = EventId::derive(&self.campaign, key);
        self.state.apply_payload(Seq(self.state.events), id, DecodedPayload::Known(payload.into()));
        id
    }

    /// Commits decisions, in order.
    pub fn decisions(&mut self, decisions: &[Decision]) {
        for d in decisions {
            self.commit(&d.key, d.payload.clone());
        }
    }

    /// A seed baseline proposed and judged novel.
    pub fn baseline(&mut self, name: &str) -> EventId {
        let event = self.commit(
            &format!("propose/{name}"),
            ArchitectureProposed {
                proposer: Proposer::Baseline { name: name.into() },
                ..proposal(name, 0, None, &program(name), &[])
            },
        );
        self.novel(name);
        event
    }

    /// Experiment `n` selects `parent` and proposes `id` (the program of `base`) with
    /// `edits`, judged novel.
    pub fn experiment(&mut self, n: u32, parent: &str, id: &str, base: &str, edits: &[&str]) -> EventId {
        self.selected(n, parent);
        let event =
            self.commit(&format!("propose/{id}"), proposal(id, n, Some(parent), &program(base), edits));
        self.novel(id);
        event
    }

    /// The parent selection of experiment `n`.
    pub fn selected(&mut self, n: u32, parent: &str) -> EventId {
        let selection = ParentSelected {
            experiment: n,
            policy: "top-k-uniform".into(),
            pool: Vec::new(),
            draw: RandomDraw { seed: 0, stream: format!("select/{n}").into(), values: Vec::new() },
            parent: arch(parent),
            references: Vec::new(),
            proposer_draw: None,
        };
        self.commit(&format!("select/{n}"), selection)
    }

    /// Judged novel.
    pub fn novel(&mut self, id: &str) {
        self.judged(id, NoveltyVerdict::Novel);
    }

    /// Judged with `verdict`.
    pub fn judged(&mut self, id: &str, verdict: NoveltyVerdict) {
        let judged = NoveltyJudged {
            arch: arch(id),
            verdict,
            nearest: None,
            structural_distance: None,
            behavioural_distance: None,
        };
        self.commit(&format!("novelty/{id}"), judged);
    }

    /// Check `attempt` of `id`: passed, or failed with one diagnostic of `failing`.
    pub fn checked(&mut self, id: &str, attempt: u32, failing: Option<&str>) -> EventId {
        let checks = vec![outcome("type-shape", None), outcome("causality", failing)];
        let checked = ImplementationChecked {
            arch: arch(id),
            program_hash: self.state.archs[&arch(id)].program_hash(),
            attempt,
            passed: failing.is_none(),
            checks,
            quadratic_allowed: false,
            params: Some(1000),
        };
        self.commit(&format!("check/{id}/{attempt}"), checked)
    }

    /// Repair `attempt` of `id` to `patched`, recorded with its check (passed, or failing
    /// again with `failing`), as the debugger records them.
    pub fn repaired(&mut self, id: &str, attempt: u32, patched: &str, failing: Option<&str>) {
        let outcome = if failing.is_none() { RepairOutcome::Repaired } else { RepairOutcome::StillFailing };
        let repair = RepairAttempted {
            arch: arch(id),
            attempt,
            diagnosis: "causality failed".into(),
            rule: "causal-shift".into(),
            patch: String::new(),
            program: patched.into(),
            program_hash: Hash::of(patched.as_bytes()),
            outcome,
            exchange: None,
        };
        self.commit(&format!("repair/{id}/{attempt}"), repair);
        self.checked(id, attempt, failing);
    }

    /// Scheduled as the planner schedules: `stage`, `seed`, the program in force.
    pub fn scheduled(&mut self, run_id: &str, id: &str, stage: Stage, seed: u64) -> EventId {
        let scheduled = TrainingScheduled {
            run: run(run_id),
            arch: arch(id),
            stage,
            seed,
            program_hash: self.state.archs[&arch(id)].program_hash(),
        };
        self.commit(&format!("schedule/{run_id}"), scheduled)
    }

    /// A trainer picked the run up (for the `n`-th time, from 0).
    pub fn run_started(&mut self, run_id: &str, n: u32) {
        self.started_by(run_id, n, "trainer-0", None);
    }

    /// Worker `worker` claimed the run with a lease (its `n`-th start, from 0).
    pub fn claimed(&mut self, run_id: &str, n: u32, worker: &str, lease_ms: u64) {
        self.started_by(run_id, n, worker, Some(lease_ms));
    }

    fn started_by(&mut self, run_id: &str, n: u32, trainer: &str, lease_ms: Option<u64>) {
        let id = self.state.runs[&run(run_id)].scheduled.arch.clone();
        let started = TrainingStarted {
            run: run(run_id),
            arch: id,
            trainer: trainer.into(),
            backend: "flex".into(),
            threads: 1,
            host: HostInfo { hostname: "test".into(), platform: "test".into(), cpus: 1 },
            lease_ms,
        };
        self.commit(&format!("start/{run_id}/{n}"), started);
    }

    /// Start `n` of the run lapsed.
    pub fn lease_expired(&mut self, run_id: &str, n: u32) {
        let r = &self.state.runs[&run(run_id)];
        let claim = r.claim.clone().expect("a claim");
        let expired = LeaseExpired {
            run: run(run_id),
            arch: r.scheduled.arch.clone(),
            start: n,
            worker: claim.holder,
            lease_ms: claim.lease_ms.unwrap_or_default(),
            silent_ms: claim.lease_ms.unwrap_or_default() + 1,
        };
        self.commit(&format!("expire/{run_id}/{n}"), expired);
    }

    /// The run started and finished with `metrics`.
    pub fn trained(&mut self, run_id: &str, metrics: TrainingMetrics) -> EventId {
        self.run_started(run_id, 0);
        self.finished(run_id, metrics)
    }

    /// The run, already started, finished with made-up metrics.
    pub fn trained_by_claim(&mut self, run_id: &str) -> EventId {
        self.finished(run_id, metrics(0.5, 2.0, 1000))
    }

    fn finished(&mut self, run_id: &str, metrics: TrainingMetrics) -> EventId {
        let scheduled = self.state.runs[&run(run_id)].scheduled.clone();
        let finished = TrainingFinished {
            run: run(run_id),
            arch: scheduled.arch,
            stage: scheduled.stage,
            seed: scheduled.seed,
            backend: "flex".into(),
            threads: 1,
            program_hash: scheduled.program_hash,
            metrics,
        };
        self.commit(&format!("finish/{run_id}"), finished)
    }

    /// The run started and failed with `failure`.
    pub fn failed(&mut self, run_id: &str, failure: TrainingFailure) {
        self.run_started(run_id, 0);
        let id = self.state.runs[&run(run_id)].scheduled.arch.clone();
        self.commit(
            &format!("fail/{run_id}"),
            TrainingFailed { run: run(run_id), arch: id, failure, attempt: 0 },
        );
    }

    /// Analysed and given the fitness `total` (components and judge made up).
    pub fn scored(&mut self, id: &str, total: f64) -> EventId {
        let analysis = AnalysisRecorded {
            arch: arch(id),
            analyst: "analyst".into(),
            summary: format!("{id}: fitness {total:.3}"),
            findings: Vec::new(),
            comparisons: Vec::new(),
            numbers: BTreeMap::new(),
            cites: Vec::new(),
            exchange: None,
        };
        self.commit(&format!("analysis/{id}"), analysis);
        let fitness = FitnessAssigned {
            arch: arch(id),
            stage: Stage::Exploration,
            components: FitnessComponents { loss_term: total, benchmark_term: total, judge_term: total },
            total,
            reference: arch("deltanet"),
            judge: JudgeScore {
                score: 5.0,
                performance: 5.0,
                innovation: 5.0,
                complexity: 5.0,
                rationale: String::new(),
                exchange: None,
            },
            constants: self.state.config().fitness.clone(),
        };
        self.commit(&format!("fitness/{id}"), fitness)
    }

    /// Checked, scheduled for exploration, trained with `metrics` and scored `total`.
    pub fn explored(&mut self, id: &str, metrics: TrainingMetrics, total: f64) {
        self.checked(id, 0, None);
        let run_id = format!("{id}-x");
        self.scheduled(&run_id, id, Stage::Exploration, 1);
        self.trained(&run_id, metrics);
        self.scored(id, total);
    }
}

/// A proposal of `id` in experiment `n`.
pub fn proposal(id: &str, n: u32, parent: Option<&str>, text: &str, edits: &[&str]) -> ArchitectureProposed {
    ArchitectureProposed {
        arch: arch(id),
        experiment: n,
        parent: parent.map(arch),
        references: Vec::new(),
        motivation: String::new(),
        program: text.into(),
        program_hash: Hash::of(text.as_bytes()),
        proposer: Proposer::BuiltIn { operator: edits.join("+") },
        edits: edits.iter().map(|e| Edit { kind: (*e).into(), detail: format!("{e} applied") }).collect(),
        evidence: Vec::new(),
        draw: None,
        cognition: Vec::new(),
    }
}
