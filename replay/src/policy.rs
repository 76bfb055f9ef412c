//! The proposer's selection policies, by the name a campaign's config records
//! (`selection.policy`). Defined here because the researcher that draws with a policy and the
//! counterfactual that re-ranks under one must read the recorded name the same way.

use lineage_events::payload::SelectionConfig;

/// How a proposal's parent, references and operators are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// ASI-Arch's: parent uniformly from the configured top ranks of the pool, references from
    /// the next ranks, operators weighted by the analysts' insights, more second edits on a
    /// plateau a stagnation analyst reported.
    TopKUniform,
    /// Selection pressure that keeps exploring: parent from the whole pool with a weight that
    /// halves every `selection.half_rank` ranks (twice as many on a plateau a stagnation analyst
    /// reported), references and operators as in `top-k-uniform`. Children
    /// inherit most of their parent's fitness, so the best parents are drawn most; no rank is
    /// excluded, so a lineage the fitness underrates still gets tried.
    RankWeighted,
    /// The random-search control: parent and references uniformly from every scored
    /// architecture, every operator equally likely, no insight read. What the proposer's policy
    /// must beat.
    Random,
}

impl Policy {
    /// Every policy, by its recorded name.
    pub const ALL: [(&str, Policy); 3] = [
        ("top-k-uniform", Policy::TopKUniform),
        ("rank-weighted", Policy::RankWeighted),
        ("random", Policy::Random),
    ];

    /// The policy a recorded name means; `None` for a name this build does not know.
    pub fn named(name: &str) -> Option<Policy> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    /// The policy of a campaign's selection config. Configs are validated before they are
    /// recorded, so an unknown name is a log from a newer build: read as the paper's policy.
    pub fn of(selection: &SelectionConfig) -> Policy {
        Self::named(&selection.policy).unwrap_or(Policy::TopKUniform)
    }

    /// The recorded name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).expect("every policy is named")
    }

    /// The candidates a draw is from, best first: the configured pool, or for the control
    /// every scored architecture (a pool cut by fitness would be selection by fitness).
    pub fn pool_capacity(self, selection: &SelectionConfig) -> u32 {
        match self {
            Policy::TopKUniform | Policy::RankWeighted => selection.pool_capacity,
            Policy::Random => u32::MAX,
        }
    }

    /// The ranks (1-based, inclusive) the parent is drawn from.
    pub fn parent_ranks(self, selection: &SelectionConfig) -> (u32, u32) {
        match self {
            Policy::TopKUniform => selection.parent_ranks,
            Policy::RankWeighted | Policy::Random => (1, u32::MAX),
        }
    }

    /// The weight of drawing the parent at `rank` (1-based) among the allowed ranks; `plateau`
    /// when a stagnation analyst's plateau is still current.
    pub fn parent_weight(self, rank: u32, plateau: bool, selection: &SelectionConfig) -> f64 {
        match self {
            Policy::TopKUniform | Policy::Random => 1.0,
            Policy::RankWeighted => {
                let half = Self::halving_ranks(selection, plateau);
                0.5_f64.powf(f64::from(rank.saturating_sub(1)) / half)
            }
        }
    }

    /// `rank-weighted`: the ranks over which the parent's weight halves, twice as many on a plateau.
    pub fn halving_ranks(selection: &SelectionConfig, plateau: bool) -> f64 {
        if plateau { 2.0 * selection.half_rank } else { selection.half_rank }
    }

    /// The ranks references are drawn from: everything but the parent for the control.
    pub fn reference_ranks(self, selection: &SelectionConfig) -> (u32, u32) {
        match self {
            Policy::TopKUniform | Policy::RankWeighted => selection.reference_ranks,
            Policy::Random => (1, u32::MAX),
        }
    }

    /// Whether the analysts' insights steer proposals (operator weights, plateaus).
    pub fn steered(self) -> bool {
        self != Policy::Random
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_control_draws_from_the_whole_pool() {
        for (name, policy) in Policy::ALL {
            assert_eq!(Policy::named(name), Some(policy));
            assert_eq!(policy.name(), name);
        }
        assert_eq!(Policy::named("best-first"), None);
        let selection = SelectionConfig {
            policy: "random".into(),
            pool_capacity: 50,
            parent_ranks: (1, 10),
            reference_ranks: (11, 50),
            references_count: 4,
            half_rank: 2.0,
            operator_prior: Default::default(),
        };
        assert_eq!(Policy::of(&selection), Policy::Random);
        assert_eq!(Policy::Random.parent_ranks(&selection), (1, u32::MAX));
        assert_eq!(Policy::Random.pool_capacity(&selection), u32::MAX);
        assert_eq!(Policy::TopKUniform.parent_ranks(&selection), (1, 10));
        assert!(!Policy::Random.steered() && Policy::TopKUniform.steered() && Policy::RankWeighted.steered());
        assert_eq!(Policy::RankWeighted.parent_ranks(&selection), (1, u32::MAX));
        let s = &selection;
        assert_eq!(Policy::RankWeighted.parent_weight(1, false, s), 1.0);
        assert_eq!(Policy::RankWeighted.parent_weight(3, false, s), 0.5);
        assert_eq!(Policy::RankWeighted.parent_weight(5, true, s), 0.5, "a plateau widens the draw");
        assert_eq!(Policy::TopKUniform.parent_weight(7, false, s), 1.0);
        let steep = SelectionConfig { half_rank: 1.0, ..selection.clone() };
        assert_eq!(Policy::RankWeighted.parent_weight(3, false, &steep), 0.25);
        assert_eq!(Policy::RankWeighted.parent_weight(3, true, &steep), 0.5);
    }
}
