//! What a decision may read, so that a campaign with `parallel = P` runs in flight decides the
//! same things whichever run finishes first. Results are taken in schedule order, never in the
//! order they arrive:
//!
//! - **Proposals.** Experiment `n` is proposed from the results of the baselines and of
//!   experiments `1..=n − P` — its *horizon* ([`horizon`]) — and only once all of those are
//!   done and accounted for (the planner's rule). Those are the same results in every run of
//!   the seed; the experiments between the horizon and `n` are still running, or finished by
//!   chance, and are not read ([`Seen`]). With `P = 1` the horizon is `n − 1`: every result
//!   before it, a sequence.
//! - **Analyses.** An architecture is analysed only once every architecture proposed before it
//!   has reached its end, and it is compared only with those ([`earlier`]): the analysis, the
//!   fitness and the edit statistics of one architecture follow those of the one proposed
//!   before it, in the log too, whatever finished first.
//!
//! The researcher reads insights as they stood when the last result within its horizon was
//! scored: the ones recorded before any architecture beyond the horizon was scored. Since
//! analyses are recorded in proposal order, those are the same every time for the analysts
//! inside the campaign (`edit-stats`); an attached analyst (`pareto`, `stagnation`, or one from
//! another process) answers when it answers, and stays a matter of timing.

use std::collections::HashSet;

use lineage_events::ArchId;
use lineage_events::payload::PoolEntry;
use lineage_replay::{ArchRecord, CampaignState, InsightRef};

/// The last experiment whose results experiment `n` is proposed from with `parallel` in flight:
/// `n − parallel` (0: the baselines only).
pub fn horizon(experiment: u32, parallel: u32) -> u32 {
    experiment.saturating_sub(parallel.max(1))
}

/// What the proposal of one experiment sees of the campaign: the results (fitness, analyses,
/// metrics) of the baselines and of the experiments up to its horizon, and the insights recorded
/// before anything beyond the horizon was scored. Every earlier proposal is seen too (novelty
/// compares against them all): proposals are made one at a time, in number order.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    /// The campaign as this process knows it (it may know more than is seen).
    pub state: &'a CampaignState,
    /// The last experiment whose results are seen.
    pub horizon: u32,
    /// The insights seen, in log order (a prefix of the state's).
    pub insights: &'a [InsightRef],
}

impl<'a> Seen<'a> {
    /// What experiment `experiment` sees with `parallel` in flight.
    pub fn of(state: &'a CampaignState, experiment: u32, parallel: u32) -> Self {
        Self::up_to(state, horizon(experiment, parallel))
    }

    /// Everything the state holds (tests, and what a later horizon than any experiment sees).
    pub fn everything(state: &'a CampaignState) -> Self {
        Self::up_to(state, u32::MAX)
    }

    fn up_to(state: &'a CampaignState, horizon: u32) -> Self {
        // The first score beyond the horizon: insights recorded from it on are not seen.
        let beyond = state
            .archs
            .values()
            .filter(|a| a.proposal.experiment > horizon)
            .filter_map(|a| a.fitness.as_ref().and_then(|(_, event)| state.event_seq(event)))
            .min();
        let seen =
            beyond.map_or(state.insights.len(), |seq| state.insights.partition_point(|i| i.seq.0 < seq));
        Self { state, horizon, insights: &state.insights[..seen] }
    }

    /// Whether the results of an architecture are seen.
    pub fn sees(&self, record: &ArchRecord) -> bool {
        record.proposal.experiment <= self.horizon
    }

    /// The fitness of an architecture, if it is scored and seen.
    pub fn fitness(&self, record: &ArchRecord) -> Option<f64> {
        record.fitness.as_ref().filter(|_| self.sees(record)).map(|(f, _)| f.total)
    }

    /// The candidate pool as seen: [`CampaignState::pool`] of the seen scores.
    pub fn pool(&self, capacity: u32) -> Vec<PoolEntry> {
        self.state.pool_of(self.state.ranked_by(|a| self.fitness(a)), capacity)
    }
}

/// The architectures proposed before `id`, which its analysis may read (it runs only once they
/// have all reached their end), as a set.
pub fn earlier<'a>(state: &'a CampaignState, id: &ArchId) -> HashSet<&'a ArchId> {
    state.order.iter().take_while(|a| *a != id).collect()
}

#[cfg(test)]
mod tests {
    use lineage_events::payload::InsightRecorded;

    use super::*;
    use crate::testkit::{Log, metrics, smoke};

    fn insight(log: &mut Log, key: &str) {
        let insight = InsightRecorded {
            analyst: "edit-stats".into(),
            kind: "edit-statistics".into(),
            text: key.into(),
            confidence: 0.5,
            data: Default::default(),
            cites: Vec::new(),
        };
        log.commit(key, insight);
    }

    #[test]
    fn an_experiment_sees_the_results_and_insights_up_to_its_horizon_only() {
        assert_eq!((horizon(5, 1), horizon(5, 2), horizon(2, 2), horizon(1, 4)), (4, 3, 0, 0));
        let mut log = Log::started(&smoke(), 1);
        log.baseline("deltanet");
        log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
        for (n, id) in [(1, "e0001"), (2, "e0002"), (3, "e0003")] {
            log.experiment(n, "deltanet", id, "deltanet", &["toggle-conv"]);
        }
        // Scored in proposal order (the analyses' rule), each with its edit statistics;
        // e0003 still trains.
        for (id, fitness) in [("e0001", 0.6), ("e0002", 0.7)] {
            log.explored(id, metrics(fitness, 2.0, 100), fitness);
            insight(&mut log, &format!("insight/edit-stats/{id}"));
        }
        let state = &log.state;
        let texts = |seen: &Seen| seen.insights.iter().map(|i| i.insight.text.clone()).collect::<Vec<_>>();
        let pool = |seen: &Seen| seen.pool(50).into_iter().map(|e| e.arch.to_string()).collect::<Vec<_>>();

        let fourth = Seen::of(state, 4, 3);
        assert_eq!(fourth.horizon, 1);
        assert_eq!(pool(&fourth), ["e0001", "deltanet"], "e0002 is beyond the horizon, though scored");
        assert_eq!(texts(&fourth), ["insight/edit-stats/e0001"], "the insights before e0002 was scored");
        assert!(!fourth.sees(&state.archs[&crate::testkit::arch("e0002")]));

        let fifth = Seen::of(state, 5, 3);
        assert_eq!(pool(&fifth), ["e0002", "e0001", "deltanet"]);
        assert_eq!(texts(&fifth), ["insight/edit-stats/e0001", "insight/edit-stats/e0002"]);
        assert_eq!(Seen::of(state, 3, 1).insights.len(), 2, "parallel = 1: the horizon is everything before");
        assert_eq!(Seen::everything(state).horizon, u32::MAX);

        let before: Vec<&str> =
            earlier(state, &crate::testkit::arch("e0002")).into_iter().map(|a| a.as_str()).collect();
        assert_eq!(before.len(), 2);
        assert!(before.contains(&"deltanet") && before.contains(&"e0001"));
    }
}
