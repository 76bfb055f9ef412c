//! Training: determinism, learning, and the wall-clock bound.

use burn::tensor::Device;
use lineage_arch::baselines;
use lineage_arch::lang::{Dims, Graph, check};
use lineage_arch::tasks::Task;
use lineage_arch::tasks::lm::LanguageModel;
use lineage_arch::tasks::mqar::Mqar;
use lineage_arch::tasks::state::StateTracking;
use lineage_arch::train::{Stop, TrainConfig, TrainReport, train};

fn graph(name: &str) -> Graph {
    check(&baselines::get(name).unwrap().program(), Dims { d: 32, h: 4 }).graph.unwrap()
}

fn tiny(seed: u64, steps: u32) -> TrainConfig {
    TrainConfig {
        layers: 1,
        steps,
        batch: 4,
        warmup_steps: 3,
        eval_batches: 2,
        ..TrainConfig::exploration(seed)
    }
}

fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(Mqar { vocab: 32, len: 32, pairs: 4, ..Mqar::default() }),
        Box::new(StateTracking::parity()),
    ]
}

/// The report with its timings zeroed: everything else must be reproducible.
fn measured(report: &TrainReport) -> TrainReport {
    TrainReport { train_ms: 0, wall_ms: 0, ..report.clone() }
}

#[test]
fn the_same_seed_gives_bit_identical_metrics() {
    let device = Device::flex();
    let graph = graph("gated_deltanet");
    let a = train(&graph, &tasks(), &tiny(5, 10), &device, |_| {});
    let b = train(&graph, &tasks(), &tiny(5, 10), &device, |_| {});
    assert_eq!(measured(&a), measured(&b));
    assert_eq!(a.tasks.len(), 2);
    let c = train(&graph, &tasks(), &tiny(6, 10), &device, |_| {});
    assert_ne!(a.loss_curve, c.loss_curve, "a different seed draws different weights and data");
}

#[test]
fn training_lowers_the_language_modelling_loss() {
    let device = Device::flex();
    let tasks: Vec<Box<dyn Task>> = vec![Box::new(LanguageModel::generated(1))];
    let mut curve = Vec::new();
    let report = train(&graph("short_conv"), &tasks, &tiny(1, 80), &device, |p| curve.push(p.loss));
    assert_eq!(report.steps, 80);
    assert_eq!(curve.len(), 80);
    let first = curve[..5].iter().sum::<f64>() / 5.0;
    assert!(first > 4.5, "an untrained byte model starts near ln 256 = 5.5 nats, got {first}");
    assert!(report.loss_train_final < 0.7 * first, "loss {first:.3} → {:.3}", report.loss_train_final);
    assert!(report.tasks[0].accuracy.is_none(), "language modelling is scored by loss");
    assert!(report.tasks[0].loss < 0.8 * first);
}

#[test]
fn the_wall_clock_bound_stops_a_run_and_still_reports() {
    let device = Device::flex();
    let config = TrainConfig { wall_s_max: 0.0, ..tiny(2, 1000) };
    let report = train(&graph("deltanet"), &tasks(), &config, &device, |_| {});
    assert_eq!(report.stop, Some(Stop::TimedOut { steps: 0 }));
    assert_eq!(report.steps, 0);
    assert_eq!(report.tasks.len(), 2, "held-out evaluation still runs");
}
