//! Generated tasks: every example is drawn from a seed, with separate train and held-out
//! streams. Each task reports accuracy on held-out data (language modelling: loss).
//!
//! - [`mqar`]: multi-query associative recall (Zoology), and its noisy variant (MAD);
//! - [`state`]: parity and modular addition, trained on short sequences, tested on longer ones;
//! - [`copying`]: selective copying (MAD);
//! - [`lm`]: byte-level language modelling on a generated corpus or a user's text file.

pub mod copying;
pub mod lm;
pub mod mqar;
pub mod state;

use crate::rng::Rng;

/// Token 0 is padding everywhere: never supervised.
pub const PAD: i64 = 0;

/// A batch of examples, flattened row-major: `tokens[b * len + t]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Input tokens.
    pub tokens: Vec<i64>,
    /// Target token at each position.
    pub targets: Vec<i64>,
    /// 1 where the target is supervised and scored, else 0.
    pub mask: Vec<f32>,
    /// Examples.
    pub batch: usize,
    /// Positions per example.
    pub len: usize,
}

impl Batch {
    fn new(batch: usize, len: usize) -> Self {
        Self {
            tokens: vec![PAD; batch * len],
            targets: vec![PAD; batch * len],
            mask: vec![0.0; batch * len],
            batch,
            len,
        }
    }

    /// Sets position `t` of example `b`: input `token`, and optionally a supervised target.
    fn set(&mut self, b: usize, t: usize, token: i64, target: Option<i64>) {
        let i = b * self.len + t;
        self.tokens[i] = token;
        if let Some(target) = target {
            self.targets[i] = target;
            self.mask[i] = 1.0;
        }
    }

    /// Supervised positions.
    pub fn supervised(&self) -> usize {
        self.mask.iter().filter(|m| **m > 0.0).count()
    }
}

/// Which examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training examples.
    Train,
    /// Held-out examples (a different stream; for state tracking, longer sequences).
    Test,
}

/// How a task is scored on held-out data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Fraction of supervised positions predicted exactly (higher is better).
    Accuracy,
    /// Cross-entropy in nats per supervised token (lower is better).
    Loss,
}

/// A generated task.
pub trait Task: Send + Sync {
    /// Stable name, e.g. `mqar`.
    fn name(&self) -> &str;
    /// Tokens used (inputs and targets are below this).
    fn vocab(&self) -> u32;
    /// A batch of `batch` examples from `split`, drawn with `rng`.
    fn batch(&self, rng: &mut Rng, batch: usize, split: Split) -> Batch;
    /// How held-out performance is scored.
    fn metric(&self) -> Metric {
        Metric::Accuracy
    }
}

/// Why a task could not be built from its settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("task {task}: {message}")]
pub struct TaskError {
    /// The task.
    pub task: String,
    /// What is wrong with the settings.
    pub message: String,
}

/// Every task name, for help texts.
pub const NAMES: &[&str] = &["mqar", "noisy-recall", "parity", "modular", "selective-copy", "lm"];

/// Builds a task by name with its default settings (`lm` uses the generated corpus).
pub fn by_name(name: &str) -> Result<Box<dyn Task>, TaskError> {
    Ok(match name {
        "mqar" => Box::new(mqar::Mqar::default()),
        "noisy-recall" => Box::new(mqar::Mqar { noise: 8, ..mqar::Mqar::default() }),
        "parity" => Box::new(state::StateTracking::parity()),
        "modular" => Box::new(state::StateTracking::modular(5)),
        "selective-copy" => Box::new(copying::SelectiveCopy::default()),
        "lm" => Box::new(lm::LanguageModel::generated(0)),
        other => {
            return Err(TaskError {
                task: other.to_owned(),
                message: format!("unknown task; choose from {}", NAMES.join(", ")),
            });
        }
    })
}
