//! What a trained or stopped run is recorded as: the sanity stops, without actors.

use lineage_arch::train::{Stop, TaskResult, TrainReport};
use lineage_events::payload::*;
use lineage_events::{EventId, Hash};

use super::*;
use crate::testkit::{arch, run, smoke};

fn report(lm_loss: f64, stop: Option<Stop>) -> TrainReport {
    TrainReport {
        loss_train_final: lm_loss + 0.1,
        loss_curve: vec![(0, 5.0), (39, lm_loss + 0.1)],
        tasks: vec![
            TaskResult { task: "mqar".into(), accuracy: Some(0.75), loss: 0.9 },
            TaskResult { task: "lm".into(), accuracy: None, loss: lm_loss },
        ],
        params: 1234,
        steps: 40,
        tokens_seen: 5120,
        train_ms: 2000,
        wall_ms: 2500,
        stop,
    }
}

fn trained(report: TrainReport, wall_s_max: f64) -> Trained {
    Trained { report, wall_s_max, program_hash: Hash::of(b"program") }
}

fn train(stage: Stage, slow_limit_ms: Option<u64>, leakage_reference: Option<f64>) -> Train {
    Train {
        run: run("a-x"),
        arch: arch("a"),
        program: String::new(),
        stage,
        seed: 9,
        previous_starts: 0,
        slow_limit_ms,
        leakage_reference,
        cause: EventId::derive(&lineage_events::CampaignId::new("t").unwrap(), "schedule/a-x"),
    }
}

#[test]
fn a_run_that_trained_to_its_end_is_finished_with_its_metrics() {
    let sanity = smoke().sanity;
    let finished =
        outcome(&train(Stage::Exploration, None, Some(2.0)), trained(report(1.5, None), 120.0), &sanity)
            .expect("1.5 is not below half of 2.0");
    assert_eq!((finished.run.as_str(), finished.arch.as_str()), ("a-x", "a"));
    assert_eq!((finished.stage, finished.seed), (Stage::Exploration, 9));
    assert_eq!(finished.program_hash, Hash::of(b"program"));
    assert_eq!(finished.metrics, metrics(&report(1.5, None)));
    assert_eq!(finished.backend, lineage_arch::backend::label());
}

#[test]
fn a_loss_far_below_the_baselines_is_leakage_in_exploration_only() {
    let sanity = smoke().sanity; // leakage below (1 - 0.5) × the reference loss
    let leaked =
        outcome(&train(Stage::Exploration, None, Some(4.0)), trained(report(1.9, None), 120.0), &sanity);
    assert_eq!(leaked.unwrap_err(), TrainingFailure::Leakage { loss: 1.9, reference_loss: 4.0 });
    let at_the_line =
        outcome(&train(Stage::Exploration, None, Some(4.0)), trained(report(2.0, None), 120.0), &sanity);
    assert!(at_the_line.is_ok());
    let verified =
        outcome(&train(Stage::Verification, None, Some(4.0)), trained(report(1.0, None), 120.0), &sanity);
    assert!(verified.is_ok(), "verification is not checked for leakage");
}

#[test]
fn a_stopped_run_fails_as_diverged_too_slow_or_timed_out() {
    let sanity = smoke().sanity; // slow factor 4
    let diverged = Some(Stop::Diverged { step: 7 });
    let failure =
        outcome(&train(Stage::Exploration, None, None), trained(report(1.0, diverged), 120.0), &sanity);
    assert_eq!(failure.unwrap_err(), TrainingFailure::Diverged { step: 7 });

    let timed_out = || Some(Stop::TimedOut { steps: 12 });
    // The peers' limit (2 s) was the bound in force: too slow, against a median of 0.5 s.
    let slow = outcome(
        &train(Stage::Exploration, Some(2000), None),
        trained(report(1.0, timed_out()), 2.0),
        &sanity,
    );
    assert_eq!(slow.unwrap_err(), TrainingFailure::TooSlow { wall_ms: 2500, peers_median_ms: 500 });
    // The stage's own limit was tighter: timed out.
    let limit = outcome(
        &train(Stage::Exploration, Some(500_000), None),
        trained(report(1.0, timed_out()), 120.0),
        &sanity,
    );
    assert_eq!(limit.unwrap_err(), TrainingFailure::TimedOut { wall_ms: 2500 });
    let unbounded =
        outcome(&train(Stage::Exploration, None, None), trained(report(1.0, timed_out()), 120.0), &sanity);
    assert_eq!(unbounded.unwrap_err(), TrainingFailure::TimedOut { wall_ms: 2500 });
}
