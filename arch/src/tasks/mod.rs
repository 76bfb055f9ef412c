//! Generated tasks: every example is drawn from a seed, with separate train and held-out
//! streams. Each task reports accuracy on held-out data (language modelling: loss).
//!
//! - [`mqar`]: multi-query associative recall (Zoology), and its noisy variant (MAD);
//! - [`state`]: parity and modular addition, trained on short sequences, tested on longer ones;
//! - [`copying`]: selective copying (MAD);
//! - [`lm`]: byte-level language modelling on a generated corpus, a built-in real text
//!   (`lm:corpus=kjv`) or a user's text file.

pub mod copying;
pub mod lm;
pub mod mqar;
pub mod state;

use std::collections::BTreeMap;

use crate::limits::{SEQ_LEN_MAX, VOCAB_MAX};
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
    /// The longest sequence a batch of either split can have: what memory is sized for.
    fn max_len(&self) -> u32;
    /// A batch of `batch` examples from `split`, drawn with `rng`.
    fn batch(&self, rng: &mut Rng, batch: usize, split: Split) -> Batch;
    /// How held-out performance is scored.
    fn metric(&self) -> Metric {
        Metric::Accuracy
    }
    /// The lowest expected held-out loss (nats per supervised token) any causal model can
    /// reach, where the task knows it: the entropy of its generating process. A run below it
    /// read something it should not have (see [`crate::train::below_floor`]). `None` where no
    /// such floor is known (a task a perfect model solves exactly, or a user's text).
    fn loss_floor(&self) -> Option<f64> {
        None
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
    build(name, &BTreeMap::new(), None)
}

/// Parses `NAME` or `NAME:key=value,key=value` (e.g. `mqar:pairs=4,len=32`) and builds the task.
/// Values are numbers, except `corpus`, which names a built-in text (`lm:corpus=kjv`).
pub fn from_spec(spec: &str) -> Result<Box<dyn Task>, TaskError> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let mut settings = BTreeMap::new();
    let mut corpus = None;
    for pair in rest.split(',').filter(|p| !p.is_empty()) {
        let fail = || {
            // `lm:kjv` is how the task is named in reports, not how it is asked for.
            let hint = if name == "lm" && lm::CORPORA.contains(&pair.trim()) {
                format!("; for the built-in text, write lm:corpus={}", pair.trim())
            } else {
                String::new()
            };
            TaskError {
                task: name.to_owned(),
                message: format!("bad setting {pair:?}: expected key=number (or corpus=NAME){hint}"),
            }
        };
        let (key, value) = pair.split_once('=').ok_or_else(fail)?;
        let (key, value) = (key.trim(), value.trim());
        if key == "corpus" {
            if value.is_empty() || corpus.replace(value).is_some() {
                return Err(fail());
            }
        } else {
            settings.insert(key.to_owned(), value.parse::<f64>().map_err(|_| fail())?);
        }
    }
    build(name, &settings, corpus)
}

/// Builds a task from its name, settings and, for `lm` only, the name of a built-in text
/// ([`lm::CORPORA`]; `None`: the generated corpus). Unknown settings, out-of-range values, an
/// unknown corpus, a corpus on another task and settings beside a corpus are errors.
pub fn build(
    name: &str,
    settings: &BTreeMap<String, f64>,
    corpus: Option<&str>,
) -> Result<Box<dyn Task>, TaskError> {
    let mut reader = Settings { task: name, settings, used: Vec::new() };
    if let Some(corpus) = corpus
        && name != "lm"
        && NAMES.contains(&name)
    {
        return Err(reader.error(format!("corpus = {corpus:?}: only lm reads a corpus")));
    }
    let task: Box<dyn Task> = match name {
        "mqar" | "noisy-recall" => {
            let base =
                mqar::Mqar { noise: if name == "noisy-recall" { 8 } else { 0 }, ..mqar::Mqar::default() };
            let task = mqar::Mqar {
                vocab: reader.whole("vocab", base.vocab, 8, VOCAB_MAX)?,
                len: reader.whole("len", base.len, 8, SEQ_LEN_MAX / 2)?,
                pairs: reader.whole("pairs", base.pairs, 1, 1024)?,
                noise: reader.whole("noise", base.noise, 0, 1024)?,
                alpha: reader.number("alpha", base.alpha, 1e-4, 1.0)?,
            };
            if !task.len.is_multiple_of(2)
                || 4 * task.pairs + 2 * task.noise > task.len
                || task.pairs >= task.vocab / 2
            {
                return Err(
                    reader.error("needs an even len, 4·pairs + 2·noise ≤ len and pairs < vocab / 2".into())
                );
            }
            Box::new(task)
        }
        "parity" | "modular" => {
            let base = if name == "parity" {
                state::StateTracking::parity()
            } else {
                state::StateTracking::modular(5)
            };
            let modulus = if name == "parity" { 2 } else { reader.whole("modulus", base.modulus, 2, 64)? };
            let train_len = (
                reader.whole("train_min", base.train_len.0, 1, SEQ_LEN_MAX / 2)?,
                reader.whole("train_max", base.train_len.1, 1, SEQ_LEN_MAX / 2)?,
            );
            let test_len = (
                reader.whole("test_min", base.test_len.0, 1, SEQ_LEN_MAX)?,
                reader.whole("test_max", base.test_len.1, 1, SEQ_LEN_MAX)?,
            );
            if train_len.0 > train_len.1 || test_len.0 > test_len.1 {
                return Err(reader.error("minimum lengths must not exceed maximum lengths".into()));
            }
            Box::new(state::StateTracking { modulus, train_len, test_len })
        }
        "selective-copy" => {
            let base = copying::SelectiveCopy::default();
            let task = copying::SelectiveCopy {
                vocab: reader.whole("vocab", base.vocab, 4, VOCAB_MAX)?,
                region: reader.whole("region", base.region, 2, SEQ_LEN_MAX / 2)?,
                copies: reader.whole("copies", base.copies, 1, 1024)?,
            };
            if task.copies > task.region {
                return Err(reader.error("copies must not exceed region".into()));
            }
            Box::new(task)
        }
        "lm" => match corpus {
            None => {
                Box::new(lm::LanguageModel::generated(reader.whole("corpus_seed", 0, 0, u32::MAX)? as u64))
            }
            Some(corpus) => {
                let task = lm::LanguageModel::corpus(corpus)?;
                if let Some(key) = settings.keys().next() {
                    return Err(reader.error(format!(
                        "setting {key:?} cannot go with corpus = {corpus:?}: a built-in text takes no settings"
                    )));
                }
                Box::new(task)
            }
        },
        other => {
            return Err(TaskError {
                task: other.to_owned(),
                message: format!(
                    "unknown task; choose from {} (the King James Bible: lm:corpus=kjv)",
                    NAMES.join(", ")
                ),
            });
        }
    };
    if let Some(unknown) = settings.keys().find(|k| !reader.used.contains(&k.as_str())) {
        return Err(reader.error(format!("unknown setting {unknown:?}; known: {}", reader.used.join(", "))));
    }
    Ok(task)
}

/// Reads settings with defaults and bounds, remembering which keys exist.
struct Settings<'a> {
    task: &'a str,
    settings: &'a BTreeMap<String, f64>,
    used: Vec<&'static str>,
}

impl Settings<'_> {
    fn error(&self, message: String) -> TaskError {
        TaskError { task: self.task.to_owned(), message }
    }

    fn number(&mut self, key: &'static str, default: f64, lo: f64, hi: f64) -> Result<f64, TaskError> {
        self.used.push(key);
        let value = self.settings.get(key).copied().unwrap_or(default);
        if !(lo..=hi).contains(&value) {
            return Err(self.error(format!("{key} = {value} is out of range {lo}..={hi}")));
        }
        Ok(value)
    }

    fn whole(&mut self, key: &'static str, default: u32, lo: u32, hi: u32) -> Result<u32, TaskError> {
        let value = self.number(key, default as f64, lo as f64, hi as f64)?;
        if value.fract() != 0.0 {
            return Err(self.error(format!("{key} = {value} must be a whole number")));
        }
        Ok(value as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(spec: &str) -> String {
        from_spec(spec).err().unwrap_or_else(|| panic!("{spec} should not build")).to_string()
    }

    #[test]
    fn a_corpus_is_named_in_a_spec_and_only_for_lm() {
        let kjv = from_spec("lm:corpus=kjv").unwrap();
        assert_eq!(kjv.name(), lm::KJV_TASK);
        assert_ne!(kjv.name(), from_spec("lm").unwrap().name(), "results are keyed by name");
        assert_eq!(kjv.loss_floor(), None);
        assert_eq!(kjv.metric(), Metric::Loss);
        assert_eq!(build("lm", &BTreeMap::new(), Some("kjv")).unwrap().name(), lm::KJV_TASK);
        assert_eq!(from_spec("lm: corpus = kjv ").unwrap().name(), lm::KJV_TASK);

        assert_eq!(error("lm:corpus=quran"), r#"task lm: unknown corpus "quran"; known: kjv"#);
        assert_eq!(error("mqar:corpus=kjv"), r#"task mqar: corpus = "kjv": only lm reads a corpus"#);
        assert_eq!(
            error("lm:corpus=kjv,corpus_seed=3"),
            r#"task lm: setting "corpus_seed" cannot go with corpus = "kjv": a built-in text takes no settings"#
        );
        assert_eq!(
            error("lm:corpus=kjv,corpus=kjv"),
            r#"task lm: bad setting "corpus=kjv": expected key=number (or corpus=NAME)"#
        );
        assert!(error("lm:corpus=").contains("bad setting"));
        assert_eq!(
            error("lm:kjv"),
            r#"task lm: bad setting "kjv": expected key=number (or corpus=NAME); for the built-in text, write lm:corpus=kjv"#
        );
        assert!(error("nonesuch:corpus=kjv").contains("unknown task"));
        assert!(error("kjv").contains("lm:corpus=kjv"), "the unknown-task error names the spec");
    }

    #[test]
    fn the_generated_lm_keeps_its_settings() {
        assert_eq!(from_spec("lm:corpus_seed=3").unwrap().name(), "lm");
        assert!(error("lm:corpus_seed=1.5").contains("whole number"));
        assert!(error("lm:vocab=3").contains("unknown setting \"vocab\""));
    }
}
