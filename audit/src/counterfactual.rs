//! Counterfactual replay: the recorded campaign re-ranked under other fitness weights or
//! selection rules, without training anything — or under another fitness altogether
//! ([`Counterfactual::rescored`]), its components recomputed by the caller from the recorded
//! metrics (audit does not know the fitness functions, which live with the analyst).
//!
//! What it can know: every scored architecture's fitness components are in the log, so any
//! re-weighting ranks them exactly (with the one fitness total, [`Weights::total`], and the one
//! ranking, [`CampaignState::ranked_by`]); which architectures would then have been promoted;
//! for those that were verified, their recorded verdict. What it cannot know: results of
//! architectures never trained, the verdict for one never verified, and everything after the
//! first selection the new rule would have made differently — the campaign would have proposed
//! other architectures from there on; the report names that point.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use lineage_events::ArchId;
use lineage_events::payload::FitnessComponents;
use lineage_replay::CampaignState;
use lineage_replay::fitness::Weights;
use lineage_replay::policy::Policy as SelectionPolicy;
use serde::Serialize;

/// Selection rules to test; `None` keeps the recorded one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Capacity of the candidate pool.
    pub pool: Option<u32>,
    /// Ranks in the pool a parent is drawn from (inclusive, from 1).
    pub parent_ranks: Option<(u32, u32)>,
}

/// One scored architecture, re-ranked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reranked {
    /// The architecture.
    pub arch: ArchId,
    /// Its fitness under the counterfactual weights.
    pub fitness: f64,
    /// Its rank under the recorded weights, from 1.
    pub was: Option<usize>,
    /// Its fitness under the recorded weights.
    pub recorded: Option<f64>,
}

/// The first experiment whose recorded parent the counterfactual selection rules would not
/// have allowed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Divergence {
    /// The experiment.
    pub experiment: u32,
    /// Its recorded parent.
    pub parent: ArchId,
    /// The parent's rank in the counterfactual pool (none: outside it).
    pub rank: Option<u32>,
}

/// What the campaign would have looked like under other weights and selection rules.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Counterfactual {
    /// The counterfactual weights.
    pub weights: Weights,
    /// The recorded weights.
    pub recorded: Weights,
    /// Every scored architecture, best first under `weights`.
    pub ranking: Vec<Reranked>,
    /// The candidates the recorded weights rank for promotion.
    pub promoted_recorded: Vec<ArchId>,
    /// The candidates `weights` would promote, each with its recorded verification verdict
    /// (`Some(true)`: a discovery; none: never verified, so unknown).
    pub promoted: Vec<(ArchId, Option<bool>)>,
    /// Pool capacity under the counterfactual rules.
    pub pool_capacity: u32,
    /// Parent ranks under the counterfactual rules.
    pub parent_ranks: (u32, u32),
    /// Where selection would first have gone otherwise (none: every recorded parent allowed).
    pub divergence: Option<Divergence>,
    /// The other fitness the components were recomputed under, described (none: the recorded
    /// components, re-weighted).
    pub rescored: Option<String>,
}

/// Components recomputed under another fitness, by architecture; one missing keeps its
/// recorded components.
pub type Components = BTreeMap<ArchId, FitnessComponents>;

/// The weights the campaign recorded (panics before `CampaignStarted`).
pub fn recorded_weights(state: &CampaignState) -> Weights {
    Weights::of(&state.config().fitness)
}

/// Scored architectures under `weights`, best first, counting only fitness recorded before
/// position `until_seq` when given.
fn ranked<'a>(
    state: &'a CampaignState,
    weights: Weights,
    components: &Components,
    until_seq: Option<u64>,
) -> Vec<(&'a ArchId, f64)> {
    state.ranked_by(|arch| {
        let (fitness, event) = arch.fitness.as_ref()?;
        let seq = state.event_seq(event)?;
        let components = components.get(&arch.proposal.arch).unwrap_or(&fitness.components);
        until_seq.is_none_or(|until| seq < until).then(|| weights.total(components))
    })
}

impl Counterfactual {
    /// Re-ranks `state` (which must have started: see [`recorded_weights`]) under `weights`
    /// and `policy`.
    pub fn of(state: &CampaignState, weights: Weights, policy: Policy) -> Self {
        Self::rescored(state, weights, policy, &Components::new(), None)
    }

    /// Re-ranks `state` under another fitness: `components` recomputed for each architecture
    /// (those missing keep their recorded ones) and totalled with `weights`; `described` says
    /// which fitness, for the report.
    pub fn rescored(
        state: &CampaignState,
        weights: Weights,
        policy: Policy,
        components: &Components,
        described: Option<String>,
    ) -> Self {
        let recorded = recorded_weights(state);
        let before = ranked(state, recorded, &Components::new(), None);
        let after = ranked(state, weights, components, None);
        let ranking = after
            .iter()
            .map(|(arch, fitness)| {
                let was = before.iter().position(|(a, _)| a == arch);
                Reranked {
                    arch: (*arch).clone(),
                    fitness: *fitness,
                    was: was.map(|i| i + 1),
                    recorded: was.map(|i| before[i].1),
                }
            })
            .collect();
        let promote = state.config().promote_top as usize;
        let top = |list: &[(&ArchId, f64)]| -> Vec<ArchId> {
            list.iter()
                .filter(|(a, _)| !state.archs[*a].is_baseline())
                .take(promote)
                .map(|(a, _)| (*a).clone())
                .collect()
        };
        let promoted = top(&after)
            .into_iter()
            .map(|arch| {
                let verdict = state.archs[&arch].verification.as_ref().map(|v| v.discovery);
                (arch, verdict)
            })
            .collect();
        let selection = &state.config().selection;
        let recorded_policy = SelectionPolicy::of(selection);
        let pool_capacity = policy.pool.unwrap_or(recorded_policy.pool_capacity(selection));
        let parent_ranks = policy.parent_ranks.unwrap_or(recorded_policy.parent_ranks(selection));
        Self {
            weights,
            recorded,
            ranking,
            promoted_recorded: top(&before),
            promoted,
            pool_capacity,
            parent_ranks,
            divergence: divergence(state, weights, components, pool_capacity, parent_ranks),
            rescored: described,
        }
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let (w, r) = (self.weights, self.recorded);
        let rescored = self.rescored.as_ref().map_or(String::new(), |d| format!("{d}; weights "));
        let _ = writeln!(
            out,
            "counterfactual fitness: {rescored}loss {:.3}, bench {:.3}, judge {:.3} (recorded {:.3}, {:.3}, {:.3})",
            w.loss, w.benchmark, w.judge, r.loss, r.benchmark, r.judge
        );
        // As wide as the longest name, as the leaderboard is: ids do not pad themselves.
        let width = self.ranking.iter().map(|row| row.arch.as_str().len()).max().unwrap_or(0).max(4);
        let _ = writeln!(
            out,
            "{:>4} {:>8}  {:<width$} {:>9} {:>9}",
            "rank", "was", "arch", "fitness", "recorded"
        );
        for (i, row) in self.ranking.iter().enumerate() {
            let was = row.was.map_or("-".into(), |r| r.to_string());
            let old = row.recorded.unwrap_or(f64::NAN);
            let arch = row.arch.as_str();
            let _ =
                writeln!(out, "{:>4} {:>8}  {arch:<width$} {:>9.4} {:>9.4}", i + 1, was, row.fitness, old);
        }
        let promoted: Vec<ArchId> = self.promoted.iter().map(|(a, _)| a.clone()).collect();
        let _ = writeln!(
            out,
            "promoted to verification: recorded [{}], counterfactual [{}]",
            join(&self.promoted_recorded),
            join(&promoted)
        );
        for (arch, verdict) in &self.promoted {
            let verdict = match verdict {
                Some(true) => "a discovery (recorded verdict)",
                Some(false) => "not a discovery (recorded verdict)",
                None => "unknown: it was never verified, and a counterfactual trains nothing",
            };
            let _ = writeln!(out, "  {arch}: {verdict}");
        }
        out.push_str(&self.selection_text());
        out
    }

    fn selection_text(&self) -> String {
        let Some(d) = &self.divergence else {
            return "selection: every recorded parent is allowed under these rules; the campaign could have gone as recorded".into();
        };
        format!(
            "selection: diverges at experiment {}: its parent {} would rank {} in a pool of {}, outside ranks {}-{}; \
             from there on the campaign would have proposed other architectures, which a counterfactual cannot know",
            d.experiment,
            d.parent,
            d.rank.map_or("outside the pool".into(), |r| r.to_string()),
            self.pool_capacity,
            self.parent_ranks.0,
            self.parent_ranks.1
        )
    }
}

/// The first experiment whose recorded parent would not rank within `parent_ranks` of a pool
/// of `capacity`, ranked under `weights` by what was scored before its selection.
fn divergence(
    state: &CampaignState,
    weights: Weights,
    components: &Components,
    capacity: u32,
    parent_ranks: (u32, u32),
) -> Option<Divergence> {
    state.selections.iter().find_map(|(experiment, (selection, event))| {
        let seq = state.event_seq(event)?;
        let pool = state.pool_of(ranked(state, weights, components, Some(seq)), capacity);
        let rank = pool.iter().find(|entry| entry.arch == selection.parent).map(|entry| entry.rank);
        let allowed = rank.is_some_and(|r| r >= parent_ranks.0 && r <= parent_ranks.1);
        (!allowed).then(|| Divergence { experiment: *experiment, parent: selection.parent.clone(), rank })
    })
}

fn join(ids: &[ArchId]) -> String {
    ids.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
}
