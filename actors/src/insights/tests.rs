//! The protocol's spelling (persisted) and the edit statistics on planted results.

use lineage_events::payload::TaskMetrics;

use super::*;
use crate::testkit::{Log, arch, metrics, smoke};

#[test]
fn kinds_and_keys_are_spelled_as_the_log_has_them() {
    assert_eq!(InsightKind::EditStatistics.to_string(), "edit-statistics");
    assert_eq!(InsightKind::Stagnation.as_str(), "stagnation");
    assert_eq!(InsightKind::Pareto.as_str(), "pareto");
    assert_eq!(OpKey::Count("toggle-conv").to_string(), "op:toggle-conv:count");
    assert_eq!(OpKey::Gain("add-skip").to_string(), "op:add-skip:gain");
    assert_eq!(OpKey::Task("add-skip", "mqar").to_string(), "op:add-skip:mqar");
    assert_eq!(OpKey::Weight("widen-beta").to_string(), "op:widen-beta:weight");
    assert!(OpKey::is_op("op:x:gain") && !OpKey::is_op("front:x:fitness"));
    let keys = [
        StagnationKey::Explore,
        StagnationKey::ExperimentsWithoutGain,
        StagnationKey::BestFitness,
        StagnationKey::BestExperiment,
    ];
    assert_eq!(
        keys.map(StagnationKey::as_str),
        ["explore", "experiments_without_gain", "best_fitness", "best_experiment"]
    );
    let e = arch("e0003");
    assert_eq!(
        [FrontKey::Fitness(&e), FrontKey::Params(&e), FrontKey::ComputeS(&e)].map(|k| k.to_string()),
        ["front:e0003:fitness", "front:e0003:params", "front:e0003:compute_s"]
    );
    let data = BTreeMap::from([
        ("front:a:fitness".to_owned(), 1.0),
        ("front:a:params".to_owned(), 2.0),
        ("front:b:fitness".to_owned(), 3.0),
    ]);
    assert_eq!(FrontKey::members(&data), ["front:a:fitness", "front:b:fitness"]);
}

#[test]
fn task_deltas_use_accuracy_where_a_task_has_one_else_loss() {
    let mut mine = metrics(0.9, 1.5, 1);
    let other = metrics(0.7, 2.0, 1);
    mine.tasks.insert("parity".into(), TaskMetrics { accuracy: Some(0.5), loss: None });
    mine.tasks.insert("copy".into(), TaskMetrics { accuracy: None, loss: None });
    let deltas = task_deltas(&mine, &other);
    assert_eq!(deltas.keys().collect::<Vec<_>>(), ["lm", "mqar"], "tasks the other lacks are left out");
    assert!((deltas["mqar"] - 0.2).abs() < 1e-12);
    assert!((deltas["lm"] + 0.5).abs() < 1e-12);
}

#[test]
fn edit_statistics_average_each_operators_gain_over_its_uses() {
    let mut log = Log::started(&smoke(), 1);
    log.baseline("deltanet");
    log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
    assert!(edit_statistics(&log.state, None).is_none(), "no proposal yet");

    log.experiment(1, "deltanet", "e0001", "deltanet", &["toggle-conv", "add-skip"]);
    log.explored("e0001", metrics(0.7, 2.0, 100), 0.6);
    log.experiment(2, "deltanet", "e0002", "deltanet", &["toggle-conv"]);
    log.explored("e0002", metrics(0.4, 2.0, 100), 0.3);
    let fitness = |id: &str| log.state.archs[&arch(id)].fitness.as_ref().unwrap().1;

    let insight = edit_statistics(&log.state, None).expect("two scored children");
    assert_eq!(insight.kind, "edit-statistics");
    assert_eq!(insight.analyst, "edit-stats");
    assert_eq!(insight.cites, [fitness("e0001"), fitness("e0002")]);
    assert_eq!(insight.data["op:toggle-conv:count"], 2.0);
    assert!((insight.data["op:toggle-conv:gain"] - ((0.6 - 0.5) + (0.3 - 0.5)) / 2.0).abs() < 1e-12);
    assert!((insight.data["op:toggle-conv:mqar"] - (0.2 - 0.1) / 2.0).abs() < 1e-12);
    assert_eq!(insight.data["op:add-skip:count"], 1.0);
    assert!((insight.data["op:add-skip:gain"] - 0.1).abs() < 1e-12);
    assert_eq!(insight.confidence, 3.0 / 8.0, "three uses");
    assert!(insight.text.starts_with("add-skip: +0.100 fitness over 1 use(s)"), "{}", insight.text);

    // The latest fitness, not yet in the state, stands in for what the state has.
    let pending = lineage_events::EventId::derive(&log.campaign, "pending");
    let latest = edit_statistics(&log.state, Some((&arch("e0002"), 0.9, pending))).unwrap();
    assert_eq!(latest.cites, [fitness("e0001"), pending]);
    assert!((latest.data["op:toggle-conv:gain"] - ((0.6 - 0.5) + (0.9 - 0.5)) / 2.0).abs() < 1e-12);
}

#[test]
fn pooled_statistics_weight_operators_by_their_gain_over_every_campaign() {
    let campaign = |gains: &[(&str, &[&str], f64)]| {
        let mut log = Log::started(&smoke(), 1);
        log.baseline("deltanet");
        log.explored("deltanet", metrics(0.5, 2.0, 100), 0.5);
        for (n, (id, edits, fitness)) in gains.iter().enumerate() {
            log.experiment(n as u32 + 1, "deltanet", id, "deltanet", edits);
            log.explored(id, metrics(0.5, 2.0, 100), *fitness);
        }
        log.state
    };
    let a = campaign(&[("e0001", &["add-skip", "toggle-conv"], 0.6), ("e0002", &["toggle-conv"], 0.2)]);
    let b = campaign(&[("e0001", &["add-skip"], 0.8), ("e0002", &["widen-beta"], 0.5)]);
    let pooled = pooled_operator_statistics(&[a, b]);
    let names: Vec<&str> = pooled.iter().map(|p| p.operator.as_str()).collect();
    assert_eq!(names, ["add-skip", "toggle-conv", "widen-beta"], "by name, unused ones left out");
    let skip = &pooled[0];
    assert_eq!(skip.uses, 2);
    assert!((skip.mean_gain - 0.2).abs() < 1e-12, "(0.1 + 0.3) / 2 over both campaigns");
    assert!((skip.weight - (GAIN_SLOPE * 0.2 * 2.0 / 7.0).exp()).abs() < 1e-12, "shrunk by 2 / (2 + 5)");
    let conv = &pooled[1];
    assert!((conv.mean_gain + 0.1).abs() < 1e-12 && conv.weight < 1.0);
    assert_eq!(pooled[2].weight, 1.0, "no gain, no preference");
    let heavy = campaign(&[("e0001", &["add-skip"], 1.5), ("e0002", &["add-skip"], 1.5)]);
    assert_eq!(pooled_operator_statistics(&[heavy])[0].weight, OPERATOR_WEIGHT_MAX, "clamped");
}
