//! Does each event agree with the events before it? What a rewritten log with its chain
//! recomputed can still get wrong: a number derived from others that no longer follows from
//! them. Each event is checked against the state folded from the events before it, with the
//! same functions the campaign used, so a faithful log agrees bit for bit:
//!
//! - a fitness total against its components and the constants of the recorded config
//!   ([`Weights::total`], Eq. 2), and the judge term against the judge's score;
//! - a verification verdict against the per-seed scores of the runs it names and of the other
//!   candidates concluded with it (the discovery rule, [`lineage_replay::discovery::verdicts`];
//!   a version-1 verdict, which records no test, with the version-1 rule it was decided by,
//!   [`lineage_replay::discovery::verdict_v1`]);
//! - a decision a model made against the recorded reply it cites (`replies.rs`);
//! - who held each run: starts, workers' leases and results (`leases.rs`);
//! - each count against the events it counts: repair attempts, accounted experiments
//!   (`BudgetSpent`) and their training time, promoted seeds, the experiments and the events
//!   `CampaignFinished` reports, the position a resume or a signature names.

use std::collections::{BTreeMap, BTreeSet};

use lineage_events::payload::*;
use lineage_events::{RecordedEvent, RunId};
use lineage_replay::CampaignState;
use lineage_replay::discovery::{self, verdict_v1, verdicts, verification_scores};
use lineage_replay::fitness::Weights;

/// What the consistency check re-derived, and the first event that disagreed.
#[derive(Clone, Debug, Default)]
pub struct Consistency {
    /// Fitness totals re-derived.
    pub fitness: usize,
    /// Verification verdicts re-derived.
    pub verdicts: usize,
    /// Counts checked against the events they count.
    pub counts: usize,
    /// Decisions re-read from the model replies they cite.
    pub replies: usize,
    /// Workers' leases checked: leased starts, renewals, expiries (`leases.rs`).
    pub leases: usize,
    /// The first event that disagrees, described (position, id, what).
    pub first_failure: Option<String>,
}

impl Consistency {
    /// Checks `event` against `state`, the fold of every event before it (a failure after the
    /// first is not recorded).
    pub fn check(&mut self, state: &CampaignState, event: &RecordedEvent) {
        let Some(payload) = event.payload.known() else { return };
        if let Err(what) = self.check_payload(state, event.seq.0, payload) {
            self.first_failure.get_or_insert_with(|| {
                format!("event {} ({}, {}): {what}", event.seq, event.id, payload.type_name())
            });
        }
    }

    /// The detail line of the check.
    pub fn summary(&self) -> String {
        let replies = match self.replies {
            0 => String::new(),
            n => format!(" ({} re-read from the replies they cite)", plural(n as u64, "model decision")),
        };
        let leases = match self.leases {
            0 => String::new(),
            n => format!("; {} checked against the runs' claims", plural(n as u64, "lease event")),
        };
        format!(
            "{}, {} and {}{replies} re-derived from the events before them{leases}",
            plural(self.fitness as u64, "fitness total"),
            plural(self.verdicts as u64, "verification verdict"),
            plural(self.counts as u64, "count")
        )
    }

    fn check_payload(&mut self, state: &CampaignState, seq: u64, payload: &Payload) -> Result<(), String> {
        self.replies += crate::replies::check(state, payload)? as usize;
        self.leases += crate::leases::check(state, payload)? as usize;
        match payload {
            Payload::FitnessAssigned(p) => {
                self.fitness += 1;
                fitness(state, p)
            }
            Payload::VerificationConcluded(p) => {
                self.verdicts += 1;
                verification(state, p)
            }
            other => {
                let checked = counts(state, seq, other)?;
                self.counts += checked as usize;
                Ok(())
            }
        }
    }
}

/// The total against Eq. 2 over its components with the recorded config's constants, and the
/// judge term against the judge's score.
fn fitness(state: &CampaignState, p: &FitnessAssigned) -> Result<(), String> {
    let Some(started) = &state.started else {
        return Err("a fitness before CampaignStarted, which records the constants".into());
    };
    let constants = &started.config.fitness;
    if &p.constants != constants {
        return Err(format!("the fitness of {} records constants other than the campaign's config", p.arch));
    }
    let total = Weights::of(constants).total(&p.components);
    if total.to_bits() != p.total.to_bits() {
        return Err(format!(
            "the fitness total of {} is {}, but its components and the config's constants give {total} (Eq. 2)",
            p.arch, p.total
        ));
    }
    let judge_term = lineage_replay::fitness::judge_term(p.judge.score);
    if judge_term.to_bits() != p.components.judge_term.to_bits() {
        return Err(format!(
            "the judge term of {} is {}, but its judge score {} gives (J - 1)/9 = {judge_term}",
            p.arch, p.components.judge_term, p.judge.score
        ));
    }
    Ok(())
}

/// The verdict against the discovery rule on the scores of the runs it names: each a finished
/// verification run of the candidate or of the baseline, both promoted.
fn verification(state: &CampaignState, p: &VerificationConcluded) -> Result<(), String> {
    let promoted = |arch| state.archs.get(arch).is_some_and(|a| a.promoted.is_some());
    if !promoted(&p.arch) {
        return Err(format!("concludes the verification of {}, which was never promoted", p.arch));
    }
    if !promoted(&p.best_baseline) || !state.archs[&p.best_baseline].is_baseline() {
        return Err(format!(
            "compares {} with {}, which is not a promoted baseline",
            p.arch, p.best_baseline
        ));
    }
    // The analyst compares with the first baseline promoted, and always did.
    if let Some(first) = lineage_replay::discovery::baseline(state).filter(|b| **b != p.best_baseline) {
        return Err(format!(
            "compares {} with {}, but the baseline promoted first is {first}",
            p.arch, p.best_baseline
        ));
    }
    let (mut candidate, mut baseline) = (BTreeMap::new(), BTreeMap::new());
    for run in &p.runs {
        let record = state.runs.get(run).filter(|r| r.scheduled.stage == Stage::Verification);
        let finished = record.and_then(|r| r.finished.as_ref().map(|(f, _)| (r, f)));
        let side = match finished {
            Some((r, _)) if r.scheduled.arch == p.arch => &mut candidate,
            Some((r, _)) if r.scheduled.arch == p.best_baseline => &mut baseline,
            _ => {
                return Err(format!(
                    "names run {run}, which is no finished verification run of {} or {}",
                    p.arch, p.best_baseline
                ));
            }
        };
        let (r, f) = finished.expect("matched above");
        side.insert(r.scheduled.seed, f.metrics.benchmark_mean);
    }
    // Exactly the runs the rule reads: every finished verification run of both, no more and no
    // fewer. Otherwise a forger could drop a bad seed and recompute a verdict that follows from
    // what is left.
    let expected: BTreeSet<RunId> = [&p.arch, &p.best_baseline]
        .into_iter()
        .flat_map(|arch| verification_scores(state, arch).into_values().map(|(_, run)| run))
        .collect();
    let named: BTreeSet<RunId> = p.runs.iter().cloned().collect();
    if named != expected || named.len() != p.runs.len() {
        let list =
            |runs: &mut dyn Iterator<Item = &RunId>| runs.map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        return Err(format!(
            "names runs [{}], but the finished verification runs of {} and {} are [{}]",
            list(&mut p.runs.iter()),
            p.arch,
            p.best_baseline,
            list(&mut expected.iter())
        ));
    }
    let Some(test) = &p.test else {
        // Version 1: no test; the rule it was decided by. No version-1 stage had real text.
        if let Some(task) = discovery::real_text_task(state) {
            return Err(format!(
                "the verdict on {} has no test, but its verification stage trains the real-text task {task}, which only version 3 verdicts know",
                p.arch
            ));
        }
        let derived = verdict_v1(&candidate, &baseline);
        if !derived.matches(p) {
            return Err(format!(
                "the verdict on {} (gain {} ± {}, discovery {}) does not follow from its runs: the version-1 discovery rule gives gain {} ± {}, discovery {}",
                p.arch,
                p.gain_mean,
                p.gain_std,
                p.discovery,
                derived.gain_mean,
                derived.gain_std,
                derived.discovery
            ));
        }
        return Ok(());
    };
    // The family it was corrected over: every candidate concluded with it, each with all its
    // finished verification runs, against the same baseline.
    let family = discovery::candidates(state);
    let scores = discovery::family_scores(state, &family);
    let Some(at) = family.iter().position(|a| *a == &p.arch) else {
        return Err(format!("concludes the verification of {}, a baseline, not a candidate", p.arch));
    };
    let derived = verdicts(&scores, &baseline).swap_remove(at);
    debug_assert_eq!(scores[at], candidate, "the runs it names are the candidate's, checked above");
    if !derived.matches(p) {
        let d = &derived.test;
        return Err(format!(
            "the verdict on {} (gain {} ± {}, p {}, Holm-adjusted {} over {}, bound {:?}, discovery {}) does not follow from its runs: the discovery rule gives gain {} ± {}, p {}, Holm-adjusted {} over {}, bound {:?}, discovery {}",
            p.arch,
            p.gain_mean,
            p.gain_std,
            test.p_value,
            test.p_adjusted,
            test.family,
            test.lower_bound,
            p.discovery,
            derived.gain_mean,
            derived.gain_std,
            d.p_value,
            d.p_adjusted,
            d.family,
            d.lower_bound,
            derived.discovery
        ));
    }
    // Real text: the test is there exactly when the stage has a real-text task, follows from
    // the runs, and the verdict is a discovery only if both tests say so.
    let text = discovery::real_text_verdicts(state, &family, &p.best_baseline)
        .map(|(task, mut verdicts)| (task, verdicts.swap_remove(at)));
    match (&text, &p.real_text) {
        (None, None) => {}
        (None, Some(recorded)) => {
            return Err(format!(
                "the verdict on {} records a real-text test on {}, but the verification stage has no real-text task",
                p.arch, recorded.task
            ));
        }
        (Some((task, _)), None) => {
            return Err(format!(
                "the verdict on {} has no real-text test, but the verification stage trains the real-text task {task}: a discovery must hold there too",
                p.arch
            ));
        }
        (Some((task, derived_text)), Some(recorded)) => {
            if !derived_text.matches_real_text(task, recorded) {
                return Err(format!(
                    "the real-text test of the verdict on {} ({} loss gain {} ± {}, p {}, Holm-adjusted {}) does not follow from its runs: the discovery rule gives {task} loss gain {} ± {}, p {}, Holm-adjusted {}",
                    p.arch,
                    recorded.task,
                    recorded.gain_mean,
                    recorded.gain_std,
                    recorded.test.p_value,
                    recorded.test.p_adjusted,
                    derived_text.gain_mean,
                    derived_text.gain_std,
                    derived_text.test.p_value,
                    derived_text.test.p_adjusted
                ));
            }
        }
    }
    let expected = discovery::discovery(&derived, text.as_ref().map(|(_, v)| v));
    if p.discovery != expected {
        return Err(format!(
            "the verdict on {} records discovery {}, but its tests give {expected}",
            p.arch, p.discovery
        ));
    }
    Ok(())
}

/// The counts an event carries against the events they count; whether it carried one.
fn counts(state: &CampaignState, seq: u64, payload: &Payload) -> Result<bool, String> {
    match payload {
        Payload::RepairAttempted(p) => {
            let before = state.archs.get(&p.arch).map_or(0, |a| a.repairs.len() as u32);
            expect(p.attempt == before + 1, || {
                format!("repair attempt {} of {}, after {before} recorded repairs", p.attempt, p.arch)
            })
        }
        Payload::ImplementationChecked(p) => {
            let repairs = state.archs.get(&p.arch).map_or(0, |a| a.repairs.len() as u32);
            expect(p.attempt == repairs, || {
                format!("check attempt {} of {}, after {repairs} recorded repairs", p.attempt, p.arch)
            })
        }
        Payload::BudgetSpent(p) => budget(state, p),
        Payload::PromotedToVerification(p) => {
            let seeds = state.started.as_ref().map(|s| s.config.verification.seeds);
            expect(seeds.is_none_or(|n| p.seeds.len() as u32 == n), || {
                format!(
                    "{} promoted with {} seeds; the config's verification stage has {seeds:?}",
                    p.arch,
                    p.seeds.len()
                )
            })
        }
        Payload::CampaignResumed(p) => expect(p.from_seq <= seq, || {
            format!("a resume from event {}, recorded at event {seq}", p.from_seq)
        }),
        Payload::HeadSigned(p) => expect(p.seq < seq, || {
            format!("a signature of head {}, recorded at event {seq}: a head is signed after it", p.seq)
        }),
        Payload::CampaignFinished(p) if state.finished.is_none() => finish(state, seq, p),
        _ => Ok(false),
    }
}

fn expect(holds: bool, what: impl FnOnce() -> String) -> Result<bool, String> {
    if holds { Ok(true) } else { Err(what()) }
}

/// An account of experiments: never more than were started in all, and the training time of
/// the experiments it accounts for (their architectures' exploration runs).
fn budget(state: &CampaignState, p: &BudgetSpent) -> Result<bool, String> {
    for (role, spend) in &p.llm {
        let mut accounted = state.llm.accounted.get(role).copied().unwrap_or_default();
        accounted.add(spend);
        let spent = state.llm.spent.get(role).copied().unwrap_or_default();
        let over = accounted.exchanges > spent.exchanges
            || accounted.input_tokens > spent.input_tokens
            || accounted.output_tokens > spent.output_tokens;
        if over {
            return Err(format!(
                "accounts for {} {role} exchanges and {} tokens in all, but only {} exchanges and {} tokens were recorded",
                accounted.exchanges,
                accounted.tokens(),
                spent.exchanges,
                spent.tokens()
            ));
        }
    }
    let (spent, started) = (state.experiments_spent + p.experiments, state.experiments_started());
    if spent > started {
        return Err(format!("accounts for {spent} experiments in all, but only {started} were started"));
    }
    let compute_ms: u64 = (state.experiments_spent + 1..=spent)
        .flat_map(|n| state.experiment_archs(n))
        .filter_map(|a| state.metrics(a))
        .map(|m| m.wall_ms)
        .sum();
    expect(compute_ms == p.compute_ms, || {
        format!(
            "accounts {} ms of training for experiments {}-{spent}, whose runs took {compute_ms} ms",
            p.compute_ms,
            state.experiments_spent + 1
        )
    })
}

/// The finish: the experiments it reports were started and accounted for, and it covers no
/// event after itself.
fn finish(state: &CampaignState, seq: u64, p: &CampaignFinished) -> Result<bool, String> {
    let started = state.experiments_started();
    if p.experiments != started || state.experiments_spent != started {
        return Err(format!(
            "reports {} experiments; the log started {started} and accounted for {}",
            p.experiments, state.experiments_spent
        ));
    }
    let covered = p.state_events.unwrap_or(seq);
    expect(covered <= seq, || format!("says its state hash covers {covered} events, but it is event {seq}"))
}

/// `n thing` or `n things` (verify's lines count the same way).
pub(crate) fn plural(n: u64, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}
