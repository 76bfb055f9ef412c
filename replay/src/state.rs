//! [`CampaignState`]: the fold of a campaign's log that every live actor holds and that replay
//! rebuilds. Pure: no IO, no clock; apply the same events, get the same state and
//! [`CampaignState::state_hash`] (defined with what it covers, in the digest module).

use std::collections::BTreeMap;

use foldhash::HashMap;

use lineage_events::payload::*;
use lineage_events::{ArchId, DecodedPayload, EventId, Hash, RecordedEvent, RunId, Seq};
use serde::Serialize;

use crate::end::{PastEnd, may_follow_finish};
use crate::llm::LlmState;
use crate::references::{self, Reference};

/// Where an architecture is in its life, derived from the events about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Proposed; novelty not judged yet.
    Proposed,
    /// Judged a duplicate: never implemented.
    Rejected,
    /// Novel; its current program still needs a check.
    AwaitingCheck,
    /// The last check failed and repair attempts remain.
    AwaitingRepair,
    /// Abandoned (repairs exhausted or no rule applied), with the reason recorded.
    Abandoned,
    /// Checked; not yet scheduled for exploration training.
    AwaitingTraining,
    /// Exploration training scheduled and not finished.
    Training,
    /// Exploration training failed (diverged, timed out, leakage, too slow).
    Failed,
    /// Trained; fitness not yet assigned.
    AwaitingAnalysis,
    /// Trained, analysed and scored.
    Scored,
}

impl Phase {
    /// Scored, failed, abandoned or rejected: nothing more happens to it.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Scored | Phase::Failed | Phase::Abandoned | Phase::Rejected)
    }
}

/// Everything the log says about one architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchRecord {
    /// The proposal.
    pub proposal: ArchitectureProposed,
    /// The proposal event.
    pub proposed_event: EventId,
    /// Novelty verdict and its event.
    pub novelty: Option<(NoveltyJudged, EventId)>,
    /// Check results in order: (attempt, passed, event).
    pub checks: Vec<(u32, bool, EventId)>,
    /// The failed outcomes of the last check: what a repair works from (empty once one
    /// passes; the passing outcomes stay in the log, where provenance reads them).
    pub last_failures: Vec<CheckOutcome>,
    /// Whether the last check allowed quadratic cost (see [`Self::quadratic_allowed`]).
    pub quadratic: bool,
    /// Repair attempts recorded.
    pub repairs: Vec<(RepairAttempted, EventId)>,
    /// Why it was abandoned.
    pub abandoned: Option<String>,
    /// Parameter count from the type check.
    pub params: Option<u64>,
    /// Exploration run.
    pub exploration_run: Option<RunId>,
    /// Analyses recorded about it: event and summary.
    pub analyses: Vec<(EventId, String)>,
    /// Exploration fitness.
    pub fitness: Option<(FitnessAssigned, EventId)>,
    /// Promotion to verification.
    pub promoted: Option<PromotedToVerification>,
    /// Verification verdict.
    pub verification: Option<VerificationConcluded>,
}

impl ArchRecord {
    /// The record of a proposal, before anything else happened to it.
    fn proposed(proposal: ArchitectureProposed, event: EventId) -> Self {
        Self {
            proposal,
            proposed_event: event,
            novelty: None,
            checks: Vec::new(),
            last_failures: Vec::new(),
            quadratic: false,
            repairs: Vec::new(),
            abandoned: None,
            params: None,
            exploration_run: None,
            analyses: Vec::new(),
            fitness: None,
            promoted: None,
            verification: None,
        }
    }

    /// The program now in force: the last repair's, or the proposal's.
    pub fn program(&self) -> &str {
        self.repairs.last().map_or(&self.proposal.program, |(repair, _)| &repair.program)
    }

    /// The hash of [`Self::program`].
    pub fn program_hash(&self) -> Hash {
        self.repairs.last().map_or(self.proposal.program_hash, |(repair, _)| repair.program_hash)
    }

    /// Whether it is one of the seed baselines.
    pub fn is_baseline(&self) -> bool {
        matches!(self.proposal.proposer, Proposer::Baseline { .. })
    }

    /// Whether its checks allowed quadratic cost (only the softmax-attention reference is
    /// allowed): it is trained and ranked, but no candidate is built on it.
    pub fn quadratic_allowed(&self) -> bool {
        self.quadratic
    }

    /// The last check's result.
    pub fn last_check(&self) -> Option<(u32, bool)> {
        self.checks.last().map(|(a, p, _)| (*a, *p))
    }
}

/// One training run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// What was scheduled.
    pub scheduled: TrainingScheduled,
    /// The scheduling event.
    pub scheduled_event: EventId,
    /// `TrainingStarted` events so far (more than one after a resume re-dispatched it).
    pub starts: u32,
    /// Progress events so far.
    pub progress: u32,
    /// The result.
    pub finished: Option<(TrainingFinished, EventId)>,
    /// The failure.
    pub failed: Option<TrainingFailed>,
    /// Who holds the run: its latest start.
    pub claim: Option<Claim>,
    /// A result was recorded while the latest start's lease had expired (a worker's late
    /// result after the run was released): no writer records one, so `verify` fails it.
    pub lapsed_result: bool,
}

/// The latest start of a run: who picked it up, and whether a worker's lease on it lapsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Which start (0 for the run's first `TrainingStarted`).
    pub start: u32,
    /// The trainer or worker.
    pub holder: compact_str::CompactString,
    /// A worker's lease; `None` for a trainer of the campaign process.
    pub lease_ms: Option<u64>,
    /// A `LeaseExpired` for this start was recorded.
    pub expired: bool,
}

impl RunRecord {
    /// The record of a scheduled run, before it started.
    fn scheduled(scheduled: TrainingScheduled, event: EventId) -> Self {
        Self {
            scheduled,
            scheduled_event: event,
            starts: 0,
            progress: 0,
            finished: None,
            failed: None,
            claim: None,
            lapsed_result: false,
        }
    }

    /// Finished or failed.
    pub fn is_done(&self) -> bool {
        self.finished.is_some() || self.failed.is_some()
    }

    /// The worker's claim that holds this unfinished run: a leased start not expired.
    pub fn leased(&self) -> Option<&Claim> {
        self.claim.as_ref().filter(|c| !self.is_done() && c.lease_ms.is_some() && !c.expired)
    }

    /// Whether a worker may claim the run: not done, and never started or its last lease
    /// lapsed. A start by a campaign process's own trainer is that process's (a resumed
    /// campaign starts it again).
    pub fn claimable(&self) -> bool {
        !self.is_done() && self.claim.as_ref().is_none_or(|c| c.expired)
    }
}

/// An insight and where it was recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct InsightRef {
    /// The insight event.
    pub event: EventId,
    /// Its position.
    pub seq: Seq,
    /// What it says.
    pub insight: InsightRecorded,
}

/// The campaign as its log describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CampaignState {
    /// `CampaignStarted`, once applied.
    pub started: Option<CampaignStarted>,
    /// Architectures in proposal order.
    pub order: Vec<ArchId>,
    /// Architectures by id (hashed with foldhash, which costs a fraction of std's SipHash on
    /// replay's hot path; a long campaign has tens of thousands; iterate `order` for a stable
    /// order). Boxed: a record is about a kilobyte, and a hash table holds its entries inline,
    /// up to half of them empty, and copies them all each time it doubles.
    pub archs: HashMap<ArchId, Box<ArchRecord>>,
    /// Parent selections by experiment, with their events.
    pub selections: BTreeMap<u32, (ParentSelected, EventId)>,
    /// Training runs (hashed; sort by id where order matters; boxed like `archs`).
    pub runs: HashMap<RunId, Box<RunRecord>>,
    /// Insights in log order.
    pub insights: Vec<InsightRef>,
    /// LLM exchanges: the ledger and the replies.
    pub llm: LlmState,
    /// Compute spent on training (sum of `BudgetSpent`).
    pub compute_ms: u64,
    /// Wall time accounted in `BudgetSpent`.
    pub wall_ms: u64,
    /// Experiments counted by `BudgetSpent`.
    pub experiments_spent: u32,
    /// The name in force: the last `CampaignNamed`'s, else the one it started with (not part of
    /// the state hash: a name changes no decision).
    pub name: Option<String>,
    /// Budget extensions so far (`CampaignExtended`): each opens a new verification round.
    pub round: u32,
    /// The experiment budget the last extension set.
    pub experiments_max_extended: Option<u32>,
    /// The round of the last promotion to verification.
    pub promoted_round: Option<u32>,
    /// The round of the last verdict.
    pub concluded_round: Option<u32>,
    /// Pauses and resumes so far.
    pub pauses: u32,
    /// Resumes so far.
    pub resumes: u32,
    /// `CampaignFinished`, once applied.
    pub finished: Option<CampaignFinished>,
    /// Position of the first `CampaignFinished`.
    pub finished_seq: Option<Seq>,
    /// The first event after `CampaignFinished` that may not follow it (see [`crate::end`]): a
    /// log continued past its end. Not part of the state hash.
    pub past_end: Option<PastEnd>,
    /// Events applied (= the next position).
    pub events: u64,
    /// Events of types this build does not know, skipped.
    pub unknown_events: u64,
    /// Positions of the selection and fitness events (what counterfactual replay re-orders).
    positions: HashMap<EventId, u64>,
}

/// An event about an architecture or run that no earlier event records. Only a log rewritten
/// with its hash chain recomputed holds one: the live actors never write it. Tell the user;
/// `lineage verify` names it too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSubject {
    /// Position of the event.
    pub seq: Seq,
    /// The event.
    pub id: EventId,
    /// What it is about, e.g. `architecture e0042`.
    pub what: String,
}

impl std::fmt::Display for UnknownSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event {} ({}) is about {}, which no earlier event records", self.seq, self.id, self.what)
    }
}

impl std::error::Error for UnknownSubject {}

impl CampaignState {
    /// Folds a whole log, up to the first event about something it has no record of.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a RecordedEvent>,
    ) -> Result<Self, UnknownSubject> {
        let mut state = Self::default();
        for event in events {
            state.check_subject(event.seq, event.id, &event.payload)?;
            state.apply(event);
        }
        Ok(state)
    }

    /// Whether this state has a record of what the event is about — the architecture or run
    /// that applying it looks up. Check before applying an event from a log not written by
    /// this process ([`Self::apply_payload`] panics on one it has no record of).
    pub fn check_subject(
        &self,
        seq: Seq,
        id: EventId,
        payload: &DecodedPayload,
    ) -> Result<(), UnknownSubject> {
        let DecodedPayload::Known(payload) = payload else { return Ok(()) };
        match references::subject(payload) {
            Some(subject) if !self.records(&subject) => {
                Err(UnknownSubject { seq, id, what: subject.to_string() })
            }
            _ => Ok(()),
        }
    }

    /// Whether every reference of the event (see [`references::references`]) is to something
    /// recorded earlier: architectures and runs in this state, events where `recorded_event`
    /// says so (the state keeps no set of every event id). The first one missing is the error.
    pub fn check_references(
        &self,
        event: &RecordedEvent,
        recorded_event: impl Fn(&EventId) -> bool,
    ) -> Result<(), UnknownSubject> {
        let missing = references::references(event.causation, &event.payload).into_iter().find(|r| match r {
            Reference::Cause(id) => !recorded_event(id),
            Reference::Cited(id) => !recorded_event(id),
            Reference::Arch(_) | Reference::Run(_) => !self.records(r),
        });
        missing.map_or(Ok(()), |r| Err(UnknownSubject { seq: event.seq, id: event.id, what: r.to_string() }))
    }

    /// Whether this state has a record of the architecture or run (events: see
    /// [`Self::check_references`]).
    fn records(&self, reference: &Reference<'_>) -> bool {
        match reference {
            Reference::Arch(arch) => self.archs.contains_key(*arch),
            Reference::Run(run) => self.runs.contains_key(*run),
            Reference::Cause(_) | Reference::Cited(_) => true,
        }
    }

    /// The configuration (panics before `CampaignStarted`: every log starts with it).
    pub fn config(&self) -> &CampaignConfig {
        &self.started.as_ref().expect("a campaign log starts with CampaignStarted").config
    }

    /// Applies one event (live actors share events, so this clones what the state keeps).
    pub fn apply(&mut self, event: &RecordedEvent) {
        self.apply_payload(event.seq, event.id, event.payload.clone());
    }

    /// Applies the payload of the event `id` at position `seq`, moving it into the state (what
    /// replay does: its events are its own).
    pub fn apply_payload(&mut self, seq: Seq, id: EventId, payload: DecodedPayload) {
        self.events = seq.0 + 1;
        if let Some(finished_seq) = self.finished_seq
            && self.past_end.is_none()
            && !may_follow_finish(&payload)
        {
            let type_name = payload.known().map_or("", Payload::type_name);
            self.past_end = Some(PastEnd { finished_seq, seq, id, type_name });
        }
        let payload = match payload {
            DecodedPayload::Known(p) => p,
            DecodedPayload::Unknown(_) => {
                self.unknown_events += 1;
                return;
            }
        };
        match payload {
            Payload::CampaignStarted(p) => {
                self.name.get_or_insert_with(|| p.name.clone());
                self.started = Some(p);
            }
            Payload::ParentSelected(p) => {
                self.positions.insert(id, seq.0);
                self.selections.insert(p.experiment, (p, id));
            }
            Payload::ArchitectureProposed(p) => {
                self.order.push(p.arch.clone());
                self.archs.insert(p.arch.clone(), Box::new(ArchRecord::proposed(p, id)));
            }
            Payload::NoveltyJudged(p) => {
                let arch = self.arch(&p.arch);
                arch.novelty = Some((p, id));
            }
            Payload::ImplementationChecked(p) => {
                let arch = self.arch(&p.arch);
                arch.checks.push((p.attempt, p.passed, id));
                if p.params.is_some() {
                    arch.params = p.params;
                }
                arch.quadratic = p.quadratic_allowed;
                arch.last_failures = p.checks.into_iter().filter(|c| !c.passed).collect();
            }
            Payload::RepairAttempted(p) => {
                self.arch(&p.arch).repairs.push((p, id));
            }
            Payload::ArchitectureAbandoned(p) => self.arch(&p.arch).abandoned = Some(p.reason),
            Payload::TrainingScheduled(p) => {
                if p.stage == Stage::Exploration {
                    self.arch(&p.arch).exploration_run = Some(p.run.clone());
                }
                self.runs.insert(p.run.clone(), Box::new(RunRecord::scheduled(p, id)));
            }
            Payload::TrainingStarted(p) => {
                let run = self.run(&p.run);
                let claim =
                    Claim { start: run.starts, holder: p.trainer, lease_ms: p.lease_ms, expired: false };
                run.claim = Some(claim);
                run.starts += 1;
            }
            Payload::TrainingProgress(p) => self.run(&p.run).progress += 1,
            Payload::TrainingFinished(p) => {
                let run = self.run(&p.run);
                run.lapsed_result |= run.claim.as_ref().is_some_and(|c| c.expired);
                run.finished = Some((p, id));
            }
            Payload::TrainingFailed(p) => {
                let run = self.run(&p.run);
                run.lapsed_result |= run.claim.as_ref().is_some_and(|c| c.expired);
                run.failed = Some(p);
            }
            Payload::LeaseRenewed(_) => {}
            Payload::LeaseExpired(p) => {
                if let Some(claim) = self.run(&p.run).claim.as_mut().filter(|c| c.start == p.start) {
                    claim.expired = true;
                }
            }
            Payload::AnalysisRecorded(p) => self.arch(&p.arch).analyses.push((id, p.summary)),
            Payload::FitnessAssigned(p) => {
                self.positions.insert(id, seq.0);
                if p.stage == Stage::Exploration {
                    let arch = self.arch(&p.arch);
                    arch.fitness = Some((p, id));
                }
            }
            Payload::PromotedToVerification(p) => {
                self.promoted_round = Some(self.round);
                let arch = self.arch(&p.arch);
                arch.promoted = Some(p);
            }
            Payload::VerificationConcluded(p) => {
                self.concluded_round = Some(self.round);
                let arch = self.arch(&p.arch);
                arch.verification = Some(p);
            }
            Payload::InsightRecorded(p) => self.insights.push(InsightRef { event: id, seq, insight: p }),
            Payload::LlmExchanged(p) => self.llm.exchanged(id, p),
            Payload::LlmFellBack(p) => self.llm.fell_back(&p),
            Payload::BudgetSpent(p) => {
                self.llm.accounted(&p.llm);
                self.experiments_spent += p.experiments;
                self.compute_ms += p.compute_ms;
                self.wall_ms += p.wall_ms;
            }
            Payload::CampaignPaused(_) => self.pauses += 1,
            Payload::CampaignNamed(p) => self.name = Some(p.name),
            Payload::CampaignExtended(p) => {
                // Reopened: what follows continues the campaign, up to its next end.
                self.round += 1;
                self.experiments_max_extended = Some(p.experiments_max);
                self.finished = None;
                self.finished_seq = None;
            }
            Payload::CampaignResumed(_) => self.resumes += 1,
            Payload::CampaignFinished(p) => {
                self.finished_seq.get_or_insert(seq);
                self.finished = Some(p);
            }
            // A signed checkpoint says nothing about the campaign's decisions: `verify` checks
            // it against the chain; the state (and its hash) is the same signed or not.
            Payload::HeadSigned(_) => {}
        }
    }

    fn arch(&mut self, id: &ArchId) -> &mut ArchRecord {
        self.archs.get_mut(id).unwrap_or_else(|| panic!("event about {id} before its proposal"))
    }

    fn run(&mut self, id: &RunId) -> &mut RunRecord {
        self.runs.get_mut(id).unwrap_or_else(|| panic!("event about run {id} before it was scheduled"))
    }

    /// The phase of an architecture.
    pub fn phase(&self, id: &ArchId) -> Phase {
        self.phase_of(&self.archs[id])
    }

    /// The phase of an architecture whose record is at hand (a walk over all of them need not
    /// look each one up again).
    pub fn phase_of(&self, arch: &ArchRecord) -> Phase {
        let repairs_max = self.started.as_ref().map_or(0, |s| s.config.repair_attempts_max);
        match &arch.novelty {
            None => return Phase::Proposed,
            Some((n, _)) if n.verdict != NoveltyVerdict::Novel => return Phase::Rejected,
            Some(_) => {}
        }
        if arch.abandoned.is_some() {
            return Phase::Abandoned;
        }
        // A repair and the check of its patched program are recorded together.
        match arch.last_check() {
            None => return Phase::AwaitingCheck,
            Some((_, false)) if (arch.repairs.len() as u32) < repairs_max => return Phase::AwaitingRepair,
            Some((_, false)) => return Phase::Abandoned,
            Some((_, true)) => {}
        }
        let Some(run) = arch.exploration_run.as_ref().map(|r| &self.runs[r]) else {
            return Phase::AwaitingTraining;
        };
        if run.failed.is_some() {
            Phase::Failed
        } else if run.finished.is_none() {
            Phase::Training
        } else if arch.fitness.is_none() {
            Phase::AwaitingAnalysis
        } else {
            Phase::Scored
        }
    }

    /// Exploration metrics of an architecture, once trained.
    pub fn metrics(&self, id: &ArchId) -> Option<&TrainingMetrics> {
        let run = self.archs.get(id)?.exploration_run.as_ref()?;
        self.runs.get(run)?.finished.as_ref().map(|(f, _)| &f.metrics)
    }

    /// Scored architectures by exploration fitness, best first (ties by id): the leaderboard.
    pub fn ranked(&self) -> Vec<(&ArchId, f64)> {
        self.ranked_by(|arch| arch.fitness.as_ref().map(|(f, _)| f.total))
    }

    /// Architectures by the fitness `fitness` gives them (those it gives none are left out),
    /// best first, ties by id: the one ranking, under the recorded fitness ([`Self::ranked`]) or
    /// another one (a counterfactual's weights, or only the scores recorded before a point).
    pub fn ranked_by(&self, fitness: impl Fn(&ArchRecord) -> Option<f64>) -> Vec<(&ArchId, f64)> {
        let mut ranked: Vec<(&ArchId, f64)> =
            self.archs.iter().filter_map(|(id, a)| fitness(a).map(|f| (id, f))).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked
    }

    /// The candidate pool: the top `capacity` of [`Self::ranked`] that a candidate may be built
    /// on (not the quadratic reference: every child of it would be quadratic), ranks from 1.
    pub fn pool(&self, capacity: u32) -> Vec<PoolEntry> {
        self.pool_of(self.ranked(), capacity)
    }

    /// The pool [`Self::pool`] draws from a ranking: its top `capacity` that a candidate may be
    /// built on, ranks from 1.
    pub fn pool_of(&self, ranked: Vec<(&ArchId, f64)>, capacity: u32) -> Vec<PoolEntry> {
        ranked
            .into_iter()
            .filter(|(arch, _)| !self.archs[*arch].quadratic_allowed())
            .take(capacity as usize)
            .enumerate()
            .map(|(i, (arch, fitness))| PoolEntry { rank: i as u32 + 1, arch: arch.clone(), fitness })
            .collect()
    }

    /// The experiment budget in force: the last extension's, else the config's (`None` before
    /// the campaign started).
    pub fn experiments_max(&self) -> Option<u32> {
        self.experiments_max_extended.or(self.started.as_ref().map(|s| s.config.budget.experiments_max))
    }

    /// Whether the current round (see [`Self::round`]) has promoted its candidates.
    pub fn promoted_this_round(&self) -> bool {
        self.promoted_round == Some(self.round)
    }

    /// Whether the current round has concluded its verification.
    pub fn concluded_this_round(&self) -> bool {
        self.concluded_round == Some(self.round)
    }

    /// Experiments (numbered from 1) that have a parent selection.
    pub fn experiments_started(&self) -> u32 {
        self.selections.keys().next_back().copied().unwrap_or(0)
    }

    /// The architectures proposed in one experiment, in order (re-proposals after duplicates).
    pub fn experiment_archs(&self, experiment: u32) -> Vec<&ArchId> {
        self.order.iter().filter(|a| self.archs[*a].proposal.experiment == experiment).collect()
    }

    /// Whether an experiment has reached an end: its last proposal scored, failed, abandoned
    /// or rejected with no re-proposal left.
    pub fn experiment_done(&self, experiment: u32) -> bool {
        let archs = self.experiment_archs(experiment);
        let Some(last) = archs.last() else { return false };
        self.phase(last).is_terminal()
    }

    /// The position of a selection or fitness event.
    pub fn event_seq(&self, event: &EventId) -> Option<u64> {
        self.positions.get(event).copied()
    }

    /// Discoveries: architectures whose verification found a gain beyond seed variation.
    pub fn discoveries(&self) -> Vec<&ArchId> {
        self.order
            .iter()
            .filter(|a| self.archs[*a].verification.as_ref().is_some_and(|v| v.discovery))
            .collect()
    }

    /// The best fitness so far and who holds it.
    pub fn best(&self) -> Option<(&ArchId, f64)> {
        self.ranked().into_iter().next()
    }
}
