//! Operator weights, parent draws and plateaus on planted states.

use lineage_events::{CampaignId, Seq};

use super::*;

fn insight(state: &mut CampaignState, analyst: &str, kind: &str, data: &[(&str, f64)]) -> EventId {
    let event =
        EventId::derive(&CampaignId::new("t").unwrap(), &format!("{analyst}/{}", state.insights.len()));
    state.insights.push(InsightRef {
        event,
        seq: Seq(state.insights.len() as u64),
        insight: InsightRecorded {
            analyst: analyst.into(),
            kind: kind.into(),
            text: String::new(),
            confidence: 0.5,
            data: data.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect::<BTreeMap<_, _>>(),
            cites: Vec::new(),
        },
    });
    event
}

fn weight_of(weights: &[f64], operator: &str) -> f64 {
    weights[OPERATORS.iter().position(|(n, _)| *n == operator).unwrap()]
}

#[test]
fn every_analysts_latest_operator_insight_weights_the_draw() {
    let mut state = CampaignState::default();
    let none = BTreeMap::new();
    let OperatorWeights { weights, from_insights, steering } = operator_weights(&state.insights, &none);
    assert!(weights.iter().all(|w| *w == 1.0) && steering.is_empty());
    assert!(from_insights.iter().all(|set| !set));

    insight(&mut state, "edit-stats", "edit-statistics", &[("op:toggle-conv:gain", 0.2)]);
    let latest = insight(&mut state, "edit-stats", "edit-statistics", &[("op:toggle-conv:gain", 0.04)]);
    let advice = insight(
        &mut state,
        "advice",
        "operator-advice",
        &[("op:toggle-conv:weight", 1.5), ("op:conv-width:weight", 9.0)],
    );
    insight(&mut state, "pareto", "pareto", &[("front:e0001:fitness", 0.8)]);
    insight(&mut state, "other", "edit-statistics", &[("op:toggle-conv:gain", 0.0)]);
    let OperatorWeights { weights, from_insights, steering } = operator_weights(&state.insights, &none);
    // Gains are averaged over analysts (0.04 and 0.0: the older 0.2 is superseded), then the
    // suggested weight multiplies in; weights are clamped to [0.25, 4].
    let expected = (10.0_f64 * 0.02).exp() * 1.5;
    assert!((weight_of(&weights, "toggle-conv") - expected).abs() < 1e-12);
    assert_eq!(weight_of(&weights, "conv-width"), 4.0);
    assert_eq!(weight_of(&weights, "swap-activation"), 1.0);
    let set_by_insights =
        |set: &[bool], operator: &str| set[OPERATORS.iter().position(|(n, _)| *n == operator).unwrap()];
    assert!(set_by_insights(&from_insights, "toggle-conv") && set_by_insights(&from_insights, "conv-width"));
    assert!(!set_by_insights(&from_insights, "swap-activation"), "no insight speaks of it");
    let cited: Vec<EventId> = steering.iter().map(|s| s.event).collect();
    assert_eq!(cited.len(), 3, "one insight per analyst that speaks of operators");
    assert!(cited.contains(&latest) && cited.contains(&advice));

    // A prior from earlier campaigns multiplies in, under the same clamp; it cites nothing.
    let prior: BTreeMap<String, f64> = [
        ("toggle-conv".to_owned(), 0.5),
        ("swap-activation".to_owned(), 0.3),
        ("conv-width".to_owned(), 4.0),
    ]
    .into();
    let OperatorWeights { weights: with_prior, from_insights, steering } =
        operator_weights(&state.insights, &prior);
    assert!((weight_of(&with_prior, "toggle-conv") - expected * 0.5).abs() < 1e-12);
    assert_eq!(weight_of(&with_prior, "swap-activation"), 0.3);
    assert_eq!(weight_of(&with_prior, "conv-width"), 4.0);
    assert_eq!(weight_of(&with_prior, "add-skip"), 1.0);
    assert_eq!(steering.len(), 3);
    // Insights were cited, but none spoke of swap-activation: its weight is the prior's alone.
    assert!(!set_by_insights(&from_insights, "swap-activation"));
    let OperatorWeights { weights: alone, steering, .. } =
        operator_weights(&CampaignState::default().insights, &prior);
    assert_eq!(weight_of(&alone, "swap-activation"), 0.3);
    assert!(steering.is_empty());
}

#[test]
fn a_motivation_credits_each_weight_to_what_set_it() {
    assert_eq!(weight_credit(None, false), " (no statistics on it yet).");
    assert_eq!(weight_credit(None, true), ", set by the insights above.");
    assert_eq!(weight_credit(Some(0.3), false), ", the prior 0.30 from earlier campaigns.");
    assert_eq!(
        weight_credit(Some(0.3), true),
        ", set by the prior 0.30 from earlier campaigns and the insights above."
    );
}

#[test]
fn rank_weighted_draws_the_best_parents_most_and_widens_on_a_plateau() {
    let pool: Vec<PoolEntry> = (1..=12)
        .map(|rank| PoolEntry { arch: ArchId::new(format!("a{rank}")).unwrap(), fitness: 1.0, rank })
        .collect();
    let parents: Vec<&PoolEntry> = pool.iter().collect();
    let counts = |policy: Policy, plateau: bool, half_rank: f64| {
        let mut selection = lineage_events::synthetic::config().selection;
        (selection.policy, selection.half_rank) = (policy.name().into(), half_rank);
        let mut counts = [0u32; 12];
        let mut rng = Rng::stream(7, "test");
        for _ in 0..12_000 {
            counts[draw_parent(&selection, &parents, plateau, &mut rng) as usize] += 1;
        }
        counts
    };
    let ranked = counts(Policy::RankWeighted, false, 2.0);
    // Weights 1, 0.71, 0.5, …: rank 1 about twice rank 3, four times rank 5; none excluded.
    let ratio = |a: usize, b: usize, c: &[u32; 12]| f64::from(c[a]) / f64::from(c[b]);
    assert!((ratio(0, 2, &ranked) - 2.0).abs() < 0.2, "{ranked:?}");
    assert!((ratio(0, 4, &ranked) - 4.0).abs() < 0.6, "{ranked:?}");
    assert!(ranked.iter().all(|c| *c > 0), "{ranked:?}");
    let wide = counts(Policy::RankWeighted, true, 2.0);
    assert!((ratio(0, 4, &wide) - 2.0).abs() < 0.3, "a plateau halves the pressure: {wide:?}");
    let steep = counts(Policy::RankWeighted, false, 1.0);
    assert!((ratio(0, 2, &steep) - 4.0).abs() < 0.5, "halving every rank: {steep:?}");
    assert!(steep.iter().all(|c| *c > 0), "{steep:?}");
    let uniform = counts(Policy::TopKUniform, false, 2.0);
    assert!(uniform.iter().all(|c| (900..1100).contains(c)), "{uniform:?}");
}

#[test]
fn a_stagnation_insight_counts_while_its_plateau_lasts() {
    let mut state = CampaignState::default();
    assert!(stagnation(&Seen::everything(&state)).is_none());
    // One scored candidate (fitness 0.543, from the synthetic experiment).
    for (seq, payload) in lineage_events::synthetic::experiment(1).into_iter().enumerate() {
        state.apply(&lineage_events::RecordedEvent {
            campaign: CampaignId::new("t").unwrap(),
            seq: Seq(seq as u64),
            id: EventId::random(),
            recorded_at: chrono::Utc::now(),
            actor: lineage_events::ActorRef::new("test", "test"),
            causation: None,
            correlation: None,
            payload: lineage_events::DecodedPayload::Known(payload),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        });
    }
    let event = insight(&mut state, "stagnation", "stagnation", &[("best_fitness", 0.543), ("explore", 1.0)]);
    assert_eq!(
        stagnation(&Seen::everything(&state)).map(|s| s.event),
        Some(event),
        "no candidate beat 0.543 yet"
    );
    insight(&mut state, "stagnation", "stagnation", &[("best_fitness", 0.5)]);
    assert!(stagnation(&Seen::everything(&state)).is_none(), "a candidate beat the reported plateau");
}
