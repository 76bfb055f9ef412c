//! The shared training function: its configuration, its metrics, its errors, and that training
//! a recorded run again reproduces it bit for bit.

use lineage_arch::train::{TaskResult, TrainReport};
use lineage_events::payload::{StageConfig, TaskSpec};

use super::*;
use crate::testkit::{program, smoke};

fn report(tasks: Vec<TaskResult>) -> TrainReport {
    TrainReport {
        loss_train_final: 2.5,
        loss_curve: vec![(0, 5.0), (9, 2.5)],
        tasks,
        params: 4321,
        steps: 10,
        tokens_seen: 4000,
        train_ms: 2000,
        wall_ms: 2600,
        stop: None,
    }
}

#[test]
fn a_stage_sets_the_sizes_and_the_shared_constants_the_rest() {
    let stage = smoke().exploration;
    let config = train_config(&stage, 17);
    assert_eq!(
        config,
        TrainConfig {
            layers: 1,
            steps: 40,
            batch: 8,
            learning_rate: 1e-2,
            warmup_steps: 4,
            weight_decay: 0.01,
            grad_norm_max: 1.0,
            seed: 17,
            wall_s_max: 120.0,
            eval_batches: 8, // the stage's own (the preset's `eval_batches`)
            curve_points: 20,
        }
    );
    let short = StageConfig { steps: 5, ..stage };
    assert_eq!(train_config(&short, 0).warmup_steps, 1, "at least one warm-up step");
}

#[test]
fn metrics_take_the_language_modelling_loss_as_the_held_out_loss() {
    let m = metrics(&report(vec![
        TaskResult { task: "mqar".into(), accuracy: Some(0.6), loss: 1.0 },
        TaskResult { task: "parity".into(), accuracy: Some(0.9), loss: 0.2 },
        TaskResult { task: "lm".into(), accuracy: None, loss: 3.0 },
    ]));
    assert_eq!(m.loss_val_final, 3.0);
    assert!((m.benchmark_mean - 0.75).abs() < 1e-12, "mean accuracy over the accuracy-scored tasks");
    assert_eq!(m.tasks["lm"], TaskMetrics { accuracy: None, loss: Some(3.0) });
    assert_eq!(m.tasks["parity"], TaskMetrics { accuracy: Some(0.9), loss: Some(0.2) });
    assert_eq!((m.params, m.steps, m.tokens_seen, m.wall_ms), (4321, 10, 4000, 2600));
    assert_eq!(m.tokens_per_s, 2000.0, "tokens over training time, without evaluation");
    assert_eq!(m.loss_curve, [CurvePoint { step: 0, loss: 5.0 }, CurvePoint { step: 9, loss: 2.5 }]);
}

#[test]
fn without_language_modelling_the_held_out_loss_is_the_mean_task_loss() {
    let m = metrics(&report(vec![
        TaskResult { task: "mqar".into(), accuracy: Some(0.6), loss: 1.0 },
        TaskResult { task: "parity".into(), accuracy: Some(0.9), loss: 0.5 },
    ]));
    assert_eq!(m.loss_val_final, 0.75);
    assert_eq!(metrics(&report(Vec::new())).loss_val_final, 0.0, "no task: no loss");
}

fn tiny() -> StageConfig {
    StageConfig { steps: 3, batch: 2, ..smoke().exploration }
}

#[test]
fn a_program_that_cannot_be_trained_says_why_in_the_words_the_log_keeps() {
    let device = lineage_arch::backend::device();
    let broken = train_program("mixer m {", &tiny(), 1, None, None, &device, |_| {}).unwrap_err();
    assert_eq!(broken, TrainingError::Parse);
    assert_eq!(broken.to_string(), "the program no longer parses");

    let unknown = "mixer m {\n  return proj(nothing_here, d)\n}\n";
    let unchecked = train_program(unknown, &tiny(), 1, None, None, &device, |_| {}).unwrap_err();
    assert_eq!(unchecked, TrainingError::TypeCheck { d: 32, heads: 2 });
    assert_eq!(unchecked.to_string(), "the program does not type-check at d = 32, h = 2");

    let stage = StageConfig {
        tasks: vec![TaskSpec { name: "no-such-task".into(), settings: Default::default(), corpus: None }],
        ..tiny()
    };
    let task = train_program(&program("deltanet"), &stage, 1, None, None, &device, |_| {}).unwrap_err();
    let TrainingError::Task { task: name, message } = &task else { panic!("{task:?}") };
    assert_eq!(name, "no-such-task");
    assert_eq!(task.to_string(), *message, "the log keeps the task's own message");
}

#[test]
fn reproducing_a_run_gives_its_metrics_bit_for_bit() {
    let device = lineage_arch::backend::device();
    let mut steps = Vec::new();
    let trained =
        train_program(&program("deltanet"), &tiny(), 5, None, None, &device, |p| steps.push(p.step)).unwrap();
    assert_eq!(steps, [0, 1, 2], "progress sees every step");
    assert_eq!(trained.report.stop, None);
    assert_eq!(trained.wall_s_max, 120.0, "no peers' limit: the stage's");
    let parsed = lineage_arch::lang::parse(&program("deltanet")).unwrap();
    assert_eq!(trained.program_hash, Hash(lang::program_hash(&parsed).0));
    // Trained above on the test's own threads (rayon's global pool): reproduced on as many.
    let threads = lineage_arch::backend::threads();
    let again = reproduce(&program("deltanet"), &tiny(), 5, threads, Numerics::CURRENT, &device).unwrap();
    // Everything measured; wall time and throughput are the clock's.
    let measured = |m: &TrainingMetrics| {
        (
            m.loss_train_final,
            m.loss_val_final,
            m.tasks.clone(),
            m.benchmark_mean,
            m.params,
            m.steps,
            m.tokens_seen,
        )
    };
    let first = metrics(&trained.report);
    assert_eq!(measured(&again), measured(&first));
    assert_eq!(again.loss_curve, first.loss_curve);
    let other_seed =
        reproduce(&program("deltanet"), &tiny(), 6, threads, Numerics::CURRENT, &device).unwrap();
    assert_ne!(other_seed.loss_train_final, again.loss_train_final, "the seed matters");
}

#[test]
fn a_run_is_reproduced_with_the_numerics_it_was_recorded_with() {
    // GLA's per-channel decay: stepped in revision 1, chunked in revision 2.
    let device = lineage_arch::backend::device();
    let threads = lineage_arch::backend::threads();
    let trained = train_program(&program("gla"), &tiny(), 5, None, None, &device, |_| {}).unwrap();
    let current = metrics(&trained.report);
    let again = reproduce(&program("gla"), &tiny(), 5, threads, Numerics::CURRENT, &device).unwrap();
    assert_eq!(again.loss_curve, current.loss_curve, "a new run is trained with the current numerics");
    let first = reproduce(&program("gla"), &tiny(), 5, threads, Numerics::PerChannelSteps, &device).unwrap();
    let first_again =
        reproduce(&program("gla"), &tiny(), 5, threads, Numerics::PerChannelSteps, &device).unwrap();
    assert_eq!(first.loss_curve, first_again.loss_curve, "revision 1 is deterministic too");
    let held_out = |m: &TrainingMetrics| m.loss_val_final;
    assert_ne!(held_out(&first), held_out(&current), "the revisions round differently");
    let relative = (held_out(&first) - held_out(&current)).abs() / held_out(&current);
    assert!(relative < 1e-4, "but compute the same function: {relative:e} apart after 3 steps");
}

#[test]
fn a_trainer_computes_on_a_pool_of_its_own_and_the_same_count_reproduces_it() {
    let all = lineage_arch::backend::threads();
    assert_eq!(threads_per_trainer(1), all, "one trainer: every thread");
    assert_eq!(threads_per_trainer(0), all, "no trainers here: as one");
    assert_eq!(threads_per_trainer(all * 2), 1, "more trainers than threads: one each");
    let one = pool(1);
    assert_eq!(one.install(lineage_arch::backend::threads), 1, "what a run trained there records");
    let device = lineage_arch::backend::device();
    let trained =
        one.install(|| train_program(&program("deltanet"), &tiny(), 5, None, None, &device, |_| {})).unwrap();
    let again = reproduce(&program("deltanet"), &tiny(), 5, 1, Numerics::CURRENT, &device).unwrap();
    let first = metrics(&trained.report);
    assert_eq!(
        (again.loss_train_final, again.loss_val_final),
        (first.loss_train_final, first.loss_val_final)
    );
    assert_eq!(again.loss_curve, first.loss_curve);
}

#[test]
fn a_run_trains_to_the_same_bits_on_one_thread_or_two() {
    // The exploration size's width and batch, so that matmuls and elementwise passes are large
    // enough to be split across threads (vendor/burn-flex/PATCHES.md).
    let stage = StageConfig { steps: 2, batch: 16, d_model: 64, heads: 4, ..smoke().exploration };
    let device = lineage_arch::backend::device();
    for baseline in ["deltanet", "gla"] {
        let on =
            |threads| reproduce(&program(baseline), &stage, 3, threads, Numerics::CURRENT, &device).unwrap();
        let (one, two) = (on(1), on(2));
        assert_eq!(one.loss_curve, two.loss_curve, "{baseline}");
        assert_eq!((one.loss_val_final, &one.tasks), (two.loss_val_final, &two.tasks), "{baseline}");
    }
}

#[test]
fn a_peers_limit_tighter_than_the_stage_bounds_the_run() {
    let device = lineage_arch::backend::device();
    let trained = train_program(&program("deltanet"), &tiny(), 5, Some(60.0), None, &device, |_| {}).unwrap();
    assert_eq!(trained.wall_s_max, 60.0);
    let looser = train_program(&program("deltanet"), &tiny(), 5, Some(600.0), None, &device, |_| {}).unwrap();
    assert_eq!(looser.wall_s_max, 120.0);
}

/// A stage's real-text task reports under the name the discovery rule reads its losses by
/// (`lineage_replay::discovery::corpus_task`), and a reproduced run keeps its trained weights.
#[test]
fn the_real_text_task_reports_under_the_name_verification_reads() {
    for corpus in lineage_arch::tasks::lm::CORPORA {
        let task = tasks::build("lm", &BTreeMap::new(), Some(corpus)).unwrap();
        assert_eq!(task.name(), lineage_replay::discovery::corpus_task(corpus));
    }
    let device = lineage_arch::backend::device();
    let (metrics, graph, weights) =
        reproduce_model(&program("deltanet"), &tiny(), 5, 1, Numerics::CURRENT, &device).unwrap();
    let again = reproduce(&program("deltanet"), &tiny(), 5, 1, Numerics::CURRENT, &device).unwrap();
    assert_eq!((metrics.loss_train_final, &metrics.tasks), (again.loss_train_final, &again.tasks));
    assert_eq!(graph.dims.d, tiny().d_model);
    assert_eq!(weights.blocks.len() as u32, tiny().layers);
}
