//! Training and evaluation: AdamW with linear warm-up and cosine decay, gradient clipping by
//! norm, seeded initialisation and data, bounded by steps and by wall-clock time.
//!
//! Determinism: weights and batches come from [`Rng`] streams of the seed, tasks are visited in
//! a fixed round-robin, and nothing depends on timing except the wall-clock stop. On the same
//! backend and thread count, the same seed gives the same metrics bit for bit.

use std::time::Instant;

use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::lang::Graph;
use crate::model::{ModelSize, ModelWeights, init_weights, logits, masked_cross_entropy};
use crate::rng::Rng;
use crate::tasks::{Batch, Metric, Split, Task};

/// Everything a training run depends on besides the program and the tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Blocks.
    pub layers: u32,
    /// Optimiser steps.
    pub steps: u32,
    /// Sequences per step.
    pub batch: u32,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: u32,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient clipping: largest global gradient norm.
    pub grad_norm_max: f64,
    /// Seed of weights and data.
    pub seed: u64,
    /// Stop (and report what was reached) after this much wall-clock time.
    pub wall_s_max: f64,
    /// Held-out batches per task for evaluation.
    pub eval_batches: u32,
    /// Points of the loss curve to keep.
    pub curve_points: u32,
}

impl TrainConfig {
    /// A run of `steps` steps of `batch` sequences through `layers` blocks at peak
    /// `learning_rate`, stopped after `wall_s_max` seconds, with the constants every run
    /// shares: warm-up over a tenth of the steps, AdamW weight decay 0.01, gradients clipped at
    /// norm 1, 4 held-out batches per task, 20 points of loss curve.
    pub fn for_stage(
        layers: u32,
        steps: u32,
        batch: u32,
        learning_rate: f64,
        wall_s_max: f64,
        seed: u64,
    ) -> Self {
        Self {
            layers,
            steps,
            batch,
            learning_rate,
            warmup_steps: (steps / 10).max(1),
            weight_decay: 0.01,
            grad_norm_max: 1.0,
            seed,
            wall_s_max,
            eval_batches: 4,
            curve_points: 20,
        }
    }

    /// The exploration stage's run: a tiny model, a few hundred steps.
    pub fn exploration(seed: u64) -> Self {
        Self::for_stage(2, 300, 16, 3e-3, 300.0, seed)
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to 10% of the peak.
    pub fn learning_rate_at(&self, step: u32) -> f64 {
        let warmup = self.warmup_steps.max(1);
        if step < warmup {
            return self.learning_rate * (step + 1) as f64 / warmup as f64;
        }
        let progress = (step - warmup) as f64 / (self.steps.saturating_sub(warmup)).max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
        self.learning_rate * (0.1 + 0.9 * cosine)
    }
}

/// Held-out result on one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskResult {
    /// Task name.
    pub task: String,
    /// Accuracy at supervised positions (for accuracy-scored tasks).
    pub accuracy: Option<f64>,
    /// Mean cross-entropy at supervised positions.
    pub loss: f64,
}

/// Why a run ended before its last step.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// The loss became NaN or infinite at this step.
    Diverged {
        /// The step.
        step: u32,
    },
    /// The wall-clock limit was reached after this many steps.
    TimedOut {
        /// Steps completed.
        steps: u32,
    },
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Mean training loss over the last tenth of the steps.
    pub loss_train_final: f64,
    /// Sampled training-loss curve: (step, loss).
    pub loss_curve: Vec<(u32, f64)>,
    /// Held-out results, one per task.
    pub tasks: Vec<TaskResult>,
    /// Trainable parameters.
    pub params: u64,
    /// Steps taken.
    pub steps: u32,
    /// Training tokens processed.
    pub tokens_seen: u64,
    /// Wall time of training (without evaluation).
    pub train_ms: u64,
    /// Wall time of the whole run.
    pub wall_ms: u64,
    /// Set when the run stopped early.
    pub stop: Option<Stop>,
}

impl TrainReport {
    /// Training tokens per second.
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens_seen as f64 / (self.train_ms.max(1) as f64 / 1000.0)
    }

    /// Mean accuracy over the accuracy-scored tasks (the benchmark score).
    pub fn benchmark_mean(&self) -> f64 {
        let scores: Vec<f64> = self.tasks.iter().filter_map(|t| t.accuracy).collect();
        if scores.is_empty() { 0.0 } else { scores.iter().sum::<f64>() / scores.len() as f64 }
    }
}

/// A progress sample, for curves and progress bars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Step just taken.
    pub step: u32,
    /// Its training loss.
    pub loss: f64,
    /// Its learning rate.
    pub learning_rate: f64,
    /// Tokens so far.
    pub tokens_seen: u64,
    /// Time since the start.
    pub wall_ms: u64,
}

fn tensors(batch: &Batch, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2>) {
    let shape = [batch.batch, batch.len];
    let tokens = Tensor::from_data(TensorData::new(batch.tokens.clone(), shape), device);
    let targets = Tensor::from_data(TensorData::new(batch.targets.clone(), shape), device);
    let mask = Tensor::from_data(TensorData::new(batch.mask.clone(), shape), device);
    (tokens, targets, mask)
}

/// Trains `graph` on `tasks` (round-robin, one task per step) and evaluates it on held-out data.
/// `progress` is called after every step.
pub fn train(
    graph: &Graph,
    tasks: &[Box<dyn Task>],
    config: &TrainConfig,
    device: &Device,
    progress: impl FnMut(Progress),
) -> TrainReport {
    train_model(graph, tasks, config, device, progress).0
}

/// [`train`], keeping the trained weights (on `device`, without gradients): what an export
/// writes out.
pub fn train_model(
    graph: &Graph,
    tasks: &[Box<dyn Task>],
    config: &TrainConfig,
    device: &Device,
    progress: impl FnMut(Progress),
) -> (TrainReport, ModelWeights) {
    crate::hot_pool::run(|| train_on_this_thread(graph, tasks, config, device, progress))
}

fn train_on_this_thread(
    graph: &Graph,
    tasks: &[Box<dyn Task>],
    config: &TrainConfig,
    device: &Device,
    mut progress: impl FnMut(Progress),
) -> (TrainReport, ModelWeights) {
    assert!(!tasks.is_empty(), "train needs at least one task");
    let started = Instant::now();
    let device = device.clone().autodiff();
    let vocab = tasks.iter().map(|t| t.vocab()).max().expect("tasks");
    let size = ModelSize { layers: config.layers, vocab };
    let mut weights = init_weights(graph, size, config.seed, &device);
    let params = weights.num_params() as u64;
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(config.grad_norm_max as f32)))
        .init();
    let mut data = Rng::stream(config.seed, "train-data");
    let (mut losses, mut tokens_seen, mut stop) = (Vec::with_capacity(config.steps as usize), 0u64, None);
    for step in 0..config.steps {
        if started.elapsed().as_secs_f64() > config.wall_s_max {
            stop = Some(Stop::TimedOut { steps: step });
            break;
        }
        let task = &tasks[step as usize % tasks.len()];
        let batch = task.batch(&mut data, config.batch as usize, Split::Train);
        let (tokens, targets, mask) = tensors(&batch, &device);
        let loss = masked_cross_entropy(logits(graph, &weights, tokens), targets, mask);
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            stop = Some(Stop::Diverged { step });
            break;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &weights);
        let learning_rate = config.learning_rate_at(step);
        weights = optimizer.step(learning_rate, weights, grads);
        tokens_seen += (batch.batch * batch.len) as u64;
        losses.push(loss_value);
        progress(Progress {
            step,
            loss: loss_value,
            learning_rate,
            tokens_seen,
            wall_ms: started.elapsed().as_millis() as u64,
        });
    }
    let train_ms = started.elapsed().as_millis() as u64;
    let weights = weights.valid();
    let tasks_results = if matches!(stop, Some(Stop::Diverged { .. })) {
        Vec::new()
    } else {
        evaluate(graph, &weights, tasks, config)
    };
    let report = TrainReport {
        loss_train_final: tail_mean(&losses),
        loss_curve: sample_curve(&losses, config.curve_points),
        tasks: tasks_results,
        params,
        steps: losses.len() as u32,
        tokens_seen,
        train_ms,
        wall_ms: started.elapsed().as_millis() as u64,
        stop,
    };
    (report, weights)
}

/// Held-out accuracy and loss per task, on batches from the test stream of the seed.
pub fn evaluate(
    graph: &Graph,
    weights: &ModelWeights,
    tasks: &[Box<dyn Task>],
    config: &TrainConfig,
) -> Vec<TaskResult> {
    let device = weights.embedding.val().device();
    tasks
        .iter()
        .map(|task| {
            let mut data = Rng::stream(config.seed, &format!("test-data/{}", task.name()));
            let (mut correct, mut supervised, mut loss_sum) = (0.0, 0.0, 0.0);
            for _ in 0..config.eval_batches {
                let batch = task.batch(&mut data, config.batch as usize, Split::Test);
                let (tokens, targets, mask) = tensors(&batch, &device);
                let out = logits(graph, weights, tokens);
                let predicted = out.clone().argmax(2).reshape([batch.batch, batch.len]);
                let hits = predicted.equal(targets.clone()).float() * mask.clone();
                let count = mask.clone().sum().into_scalar::<f32>() as f64;
                correct += hits.sum().into_scalar::<f32>() as f64;
                loss_sum += masked_cross_entropy(out, targets, mask).into_scalar::<f32>() as f64 * count;
                supervised += count;
            }
            TaskResult {
                task: task.name().to_owned(),
                accuracy: (task.metric() == Metric::Accuracy).then(|| correct / supervised.max(1.0)),
                loss: loss_sum / supervised.max(1.0),
            }
        })
        .collect()
}

/// Share of a task's loss floor below which a held-out loss is taken for leakage rather than
/// luck: the evaluation's few thousand tokens measure the loss to about a percent, and a model
/// that reads the next token lands far below (an order of magnitude, in the planted cases).
pub const LOSS_FLOOR_SHARE: f64 = 0.9;

/// A held-out loss no causal model can reach: below [`LOSS_FLOOR_SHARE`] of its task's
/// [`Task::loss_floor`].
#[derive(Clone, Debug, PartialEq)]
pub struct BelowFloor {
    /// The task.
    pub task: String,
    /// The run's held-out loss, nats per token.
    pub loss: f64,
    /// The task's floor, nats per token.
    pub floor: f64,
}

impl std::fmt::Display for BelowFloor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "held-out loss {:.4} on {} is below the entropy of the text's generating process ({:.4} nats per \
             token): no causal model gets there, so the program reads tokens it should not (information leakage)",
            self.loss, self.task, self.floor
        )
    }
}

/// The first task whose held-out loss in `results` is below its floor, if any: decided by
/// construction of the task rather than against a baseline. `lineage arch train` refuses such a
/// run; inside a campaign the trainer compares with the best baseline instead (see
/// docs/language.md).
pub fn below_floor(results: &[TaskResult], tasks: &[Box<dyn Task>]) -> Option<BelowFloor> {
    results.iter().zip(tasks).find_map(|(result, task)| {
        let floor = task.loss_floor()?;
        (result.loss < LOSS_FLOOR_SHARE * floor).then(|| BelowFloor {
            task: result.task.clone(),
            loss: result.loss,
            floor,
        })
    })
}

fn tail_mean(losses: &[f64]) -> f64 {
    let tail = &losses[losses.len() - (losses.len() / 10).max(1).min(losses.len())..];
    if tail.is_empty() { f64::NAN } else { tail.iter().sum::<f64>() / tail.len() as f64 }
}

/// `points` evenly spaced (step, loss) samples, always including the last step.
fn sample_curve(losses: &[f64], points: u32) -> Vec<(u32, f64)> {
    if losses.is_empty() {
        return Vec::new();
    }
    let last = losses.len() - 1;
    let points = (points as usize).clamp(2, losses.len().max(2));
    let mut curve: Vec<(u32, f64)> =
        (0..points).map(|i| i * last / (points - 1)).map(|step| (step as u32, losses[step])).collect();
    curve.dedup_by_key(|(step, _)| *step);
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_are_evenly_spaced_and_end_at_the_last_step() {
        let losses: Vec<f64> = (0..100).map(f64::from).collect();
        let curve = sample_curve(&losses, 5);
        assert_eq!(curve.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0, 24, 49, 74, 99]);
        assert_eq!(sample_curve(&losses[..1], 20), vec![(0, 0.0)]);
        assert_eq!(sample_curve(&losses[..3], 1).last(), Some(&(2, 2.0)));
        assert!(sample_curve(&[], 5).is_empty());
    }

    #[test]
    fn the_exploration_run_keeps_its_constants() {
        let expected = TrainConfig {
            layers: 2,
            steps: 300,
            batch: 16,
            learning_rate: 3e-3,
            warmup_steps: 30,
            weight_decay: 0.01,
            grad_norm_max: 1.0,
            seed: 7,
            wall_s_max: 300.0,
            eval_batches: 4,
            curve_points: 20,
        };
        assert_eq!(TrainConfig::exploration(7), expected);
        // Warm-up is a tenth of the steps, at least one.
        assert_eq!(TrainConfig::for_stage(1, 5, 1, 1e-3, 1.0, 0).warmup_steps, 1);
        assert_eq!(TrainConfig::for_stage(1, 45, 1, 1e-3, 1.0, 0).warmup_steps, 4);
    }
}
