//! The discovery rule on planted seed results, and what an analysis compares and records.

use std::collections::BTreeMap;

use lineage_events::payload::*;

use super::*;
use crate::testkit::{Log, arch, metrics, run, smoke};

#[test]
fn the_discovery_rule_is_replays() {
    // The rule and its planted cases live with it (`lineage_replay::discovery`); the analyst
    // concludes with that very function.
    let candidate = BTreeMap::from([(1, 0.80), (2, 0.83), (3, 0.81), (4, 0.82), (5, 0.79)]);
    let baseline = BTreeMap::from([(1, 0.60), (2, 0.61), (3, 0.59), (4, 0.62), (5, 0.60)]);
    let v = verdicts(&[candidate], &baseline);
    assert!(v[0].discovery && v[0].test.p_value < 1e-5, "{v:?}");
}

/// Baselines deltanet (the reference: accuracy 0.5, loss 2.0) and gated_deltanet (0.6, 2.0),
/// and e0001, a child of gated_deltanet by `toggle-conv` with the same program (0.8, 1.9).
fn planted() -> Log {
    let mut log = Log::started(&smoke(), 1);
    log.baseline("deltanet");
    log.baseline("gated_deltanet");
    log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    log.explored("gated_deltanet", metrics(0.6, 2.0, 100), 0.6);
    log.experiment(1, "gated_deltanet", "e0001", "gated_deltanet", &["toggle-conv"]);
    log.checked("e0001", 0, None);
    log.scheduled("e0001-x", "e0001", Stage::Exploration, 1);
    log.trained("e0001-x", metrics(0.8, 1.9, 100));
    log
}

#[test]
fn an_analysis_compares_with_the_parent_and_the_baselines_and_scores_against_the_reference() {
    let log = planted();
    let state = &log.state;
    let decisions = analyse(state, &smoke(), &log.campaign, &arch("e0001"), None);
    let keys: Vec<&str> = decisions.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["analysis/e0001", "fitness/e0001", "insight/edit-stats/e0001"]);
    let finished = state.runs[&run("e0001-x")].finished.as_ref().unwrap().1;
    assert!(decisions[..2].iter().all(|d| d.cause == Some(finished)), "caused by the run's result");

    let Payload::AnalysisRecorded(analysis) = &decisions[0].payload else { panic!() };
    let compared: Vec<(&str, Relation)> =
        analysis.comparisons.iter().map(|c| (c.against.as_str(), c.relation)).collect();
    assert_eq!(
        compared,
        [
            ("gated_deltanet", Relation::Parent),
            ("deltanet", Relation::Baseline),
            ("gated_deltanet", Relation::Baseline)
        ]
    );
    let vs_parent = &analysis.comparisons[0];
    assert!((vs_parent.loss_delta - (1.9 - 2.0)).abs() < 1e-12);
    assert!((vs_parent.task_deltas["mqar"] - 0.2).abs() < 1e-12, "accuracy where the task has one");
    assert!((vs_parent.task_deltas["lm"] - (1.9 - 2.0)).abs() < 1e-12, "else the loss");
    assert_eq!(analysis.cites.len(), 4, "its own result and each compared one");
    assert_eq!(analysis.cites[0], finished);
    assert!(
        analysis.findings[0].starts_with("vs parent gated_deltanet: lm loss -0.100, mqar accuracy +0.200")
    );
    assert!(analysis.findings[0].ends_with("attributed to: toggle-conv applied"), "{}", analysis.findings[0]);
    assert!(analysis.summary.contains("above 2 of 2 baselines"), "{}", analysis.summary);

    let Payload::FitnessAssigned(fitness) = &decisions[1].payload else { panic!() };
    assert_eq!((fitness.reference.as_str(), fitness.stage), ("deltanet", Stage::Exploration));
    assert_eq!(fitness.constants, smoke().fitness);
    // The program is a seed baseline's: nothing new in it for the judge.
    assert_eq!(analysis.numbers["distance_from_baselines"], 0.0);
    assert_eq!(fitness.judge.innovation, 5.0);
    assert_eq!(fitness.judge.complexity, 5.0, "as many parameters as the reference");
    assert!(fitness.judge.performance > 5.0, "better accuracy and loss than the reference");
    assert_eq!(analysis.numbers["fitness"], fitness.total);
    assert!((analysis.numbers["fitness_delta_vs_parent"] - (fitness.total - 0.6)).abs() < 1e-12);

    let Payload::InsightRecorded(insight) = &decisions[2].payload else { panic!() };
    let own_fitness = lineage_events::EventId::derive(&log.campaign, "fitness/e0001");
    assert_eq!(insight.cites, [own_fitness], "the fitness recorded in the same batch");
    assert!((insight.data["op:toggle-conv:gain"] - (fitness.total - 0.6)).abs() < 1e-12);
}

#[test]
fn a_baseline_is_analysed_without_parent_or_edit_statistics() {
    let mut log = Log::started(&smoke(), 1);
    log.baseline("deltanet");
    log.baseline("gated_deltanet");
    log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    log.checked("gated_deltanet", 0, None);
    log.scheduled("gated_deltanet-x", "gated_deltanet", Stage::Exploration, 1);
    log.trained("gated_deltanet-x", metrics(0.6, 2.0, 100));
    let decisions = analyse(&log.state, &smoke(), &log.campaign, &arch("gated_deltanet"), None);
    assert_eq!(
        decisions.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
        ["analysis/gated_deltanet", "fitness/gated_deltanet"]
    );
    let Payload::AnalysisRecorded(analysis) = &decisions[0].payload else { panic!() };
    assert_eq!(analysis.comparisons.len(), 1, "against the other baseline only");
    assert!(!analysis.numbers.contains_key("fitness_delta_vs_parent"));
    assert_eq!(analysis.findings, ["vs baseline deltanet: lm loss +0.000, mqar accuracy +0.100"]);
}

#[test]
fn the_conclusion_pairs_each_candidate_with_the_promoted_baseline_seed_by_seed() {
    let mut log = planted();
    log.scored("e0001", 0.7);
    assert!(conclude(&log.state).is_empty(), "nothing promoted: nothing to conclude");
    for (id, rank, fitness) in [("e0001", 1, 0.7), ("gated_deltanet", 2, 0.6)] {
        let promoted = PromotedToVerification { arch: arch(id), rank, fitness, seeds: vec![11, 22] };
        log.commit(&format!("promote/{id}"), promoted);
    }
    // The smoke preset verifies on real text too: the candidate's loss there is lower on both
    // seeds (by 0.10 and 0.11).
    let text = [("e0001", [1.50, 1.52]), ("gated_deltanet", [1.60, 1.63])];
    for ((id, results), (_, losses)) in
        [("e0001", [0.81, 0.79]), ("gated_deltanet", [0.60, 0.62])].into_iter().zip(text)
    {
        for (i, ((seed, accuracy), loss)) in [11, 22].into_iter().zip(results).zip(losses).enumerate() {
            let r = format!("{id}-v{i}");
            log.scheduled(&r, id, Stage::Verification, seed);
            let mut trained = metrics(accuracy, 2.0, 100);
            trained.tasks.insert("lm:kjv".into(), TaskMetrics { accuracy: None, loss: Some(loss) });
            log.trained(&r, trained);
        }
    }
    let decisions = conclude(&log.state);
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].key, "verify/e0001");
    let Payload::VerificationConcluded(v) = &decisions[0].payload else { panic!() };
    assert_eq!(v.best_baseline.as_str(), "gated_deltanet");
    assert!((v.gain_mean - 0.19).abs() < 1e-12, "{v:?}");
    // Gains 0.21 and 0.17: t = 9.5 on one degree of freedom, p = 1/2 − atan(9.5)/π ≈ 0.033.
    let test = v.test.as_ref().expect("a new verdict records its test");
    assert_eq!((test.pairs, test.df, test.family), (2, 1, 1));
    assert!((test.p_value - (0.5 - 9.5_f64.atan() / std::f64::consts::PI)).abs() < 1e-9, "{test:?}");
    let text = v.real_text.as_ref().expect("the stage trains real text: its test is recorded");
    assert_eq!((text.task.as_str(), text.test.pairs), ("lm:kjv", 2));
    assert!((text.gain_mean - 0.105).abs() < 1e-9, "{text:?}");
    assert!(v.discovery, "a clear gain on the benchmark and on real text");
    let runs: Vec<&str> = v.runs.iter().map(|r| r.as_str()).collect();
    assert_eq!(runs, ["e0001-v0", "e0001-v1", "gated_deltanet-v0", "gated_deltanet-v1"]);
}

#[test]
fn every_promoted_candidate_is_concluded_at_once_as_one_family() {
    // e0001 alone would be a discovery (p ≈ 0.033, above); beside a second candidate, Holm
    // doubles its p-value past 5%.
    let mut log = planted();
    log.scored("e0001", 0.7);
    log.experiment(2, "gated_deltanet", "e0002", "gated_deltanet", &["toggle-conv"]);
    log.checked("e0002", 0, None);
    log.scheduled("e0002-x", "e0002", Stage::Exploration, 2);
    log.trained("e0002-x", metrics(0.7, 1.9, 100));
    log.scored("e0002", 0.65);
    for (id, rank, fitness) in [("e0001", 1, 0.7), ("e0002", 2, 0.65), ("gated_deltanet", 3, 0.6)] {
        let promoted = PromotedToVerification { arch: arch(id), rank, fitness, seeds: vec![11, 22] };
        log.commit(&format!("promote/{id}"), promoted);
    }
    let results = [("e0001", [0.81, 0.79]), ("e0002", [0.59, 0.63]), ("gated_deltanet", [0.60, 0.62])];
    for (id, results) in results {
        for (i, (seed, accuracy)) in [11, 22].into_iter().zip(results).enumerate() {
            let r = format!("{id}-v{i}");
            log.scheduled(&r, id, Stage::Verification, seed);
            log.trained(&r, metrics(accuracy, 2.0, 100));
        }
    }
    let decisions = conclude(&log.state);
    let keys: Vec<&str> = decisions.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["verify/e0001", "verify/e0002"]);
    // The family as verify reads it, in one pass: the same scores the conclusion read.
    let family = lineage_replay::discovery::candidates(&log.state);
    let by_arch: Vec<BTreeMap<u64, f64>> = family
        .iter()
        .map(|a| verification_scores(&log.state, a).into_iter().map(|(seed, (s, _))| (seed, s)).collect())
        .collect();
    assert_eq!(lineage_replay::discovery::family_scores(&log.state, &family), by_arch);
    let tests: Vec<&VerificationConcluded> = decisions
        .iter()
        .map(|d| match &d.payload {
            Payload::VerificationConcluded(v) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    let first = tests[0].test.as_ref().unwrap();
    assert_eq!(first.family, 2);
    assert!(first.p_value < 0.05 && first.p_adjusted == 2.0 * first.p_value, "{first:?}");
    assert!(!tests[0].discovery && !tests[1].discovery, "{tests:?}");
}
