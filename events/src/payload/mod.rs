//! The payload enum of the whole campaign lifecycle, its schema versions, and upcasting.
//!
//! Each event type has a stable name (the Rust type name) and a schema version. Reading an event:
//!
//! - known type, current version: deserialised directly;
//! - known type, older version: the JSON is upcast one version at a time by registered
//!   [`Upcasters`], then deserialised;
//! - unknown type, or a version newer than this build knows (written by a newer lineage): kept
//!   as [`DecodedPayload::Unknown`], which readers skip. Never an error, so old analysts keep
//!   working on logs written by new campaigns.

mod llm;
mod seeds;
mod types;
mod workers;

use std::collections::HashMap;
use std::fmt;

pub use llm::*;
pub use types::*;
pub use workers::*;

use crate::ids::{ArchId, RunId, Seq};

/// Why an event could not be decoded. Tell the user: the log holds an event that claims a known
/// type and version but does not match its schema, or is not an event at all.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The envelope is malformed.
    #[error("event {seq}: malformed envelope: {message}")]
    Envelope {
        /// Position of the event.
        seq: Seq,
        /// The parser's message.
        message: String,
    },
    /// The payload does not match its type's schema.
    #[error("payload of type {type_name} does not match its schema: {message}")]
    Json {
        /// The event type.
        type_name: String,
        /// The parser's message.
        message: String,
    },
    /// An old version with no upcaster to the next version.
    #[error("no upcaster from {type_name} version {version} to version {next}", next = version + 1)]
    NoUpcaster {
        /// The event type.
        type_name: String,
        /// The version with no way forward.
        version: u32,
    },
}

/// A payload already turned into JSON, with its type name and schema version.
///
/// Stores append encoded payloads, so they never need to know the payload types, and an event of
/// a type this build does not know can be copied or written (by tests, or by tools that relay
/// events) without loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedPayload {
    /// Stable type name, e.g. `ArchitectureProposed`.
    pub type_name: String,
    /// Schema version of this type's payload.
    pub version: u32,
    /// The payload as compact JSON.
    pub json: String,
}

impl From<&Payload> for EncodedPayload {
    fn from(payload: &Payload) -> Self {
        payload.encode()
    }
}

macro_rules! payloads {
    ($($variant:ident = $version:literal),* $(,)?) => {
        /// What happened: one variant per event type, named after the type.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)] // each variant is documented on its payload struct
        // The variants differ in size (304 bytes at most); boxing them would cost an
        // allocation per event on replay.
        #[allow(clippy::large_enum_variant)]
        pub enum Payload {
            $($variant($variant),)*
        }

        impl Payload {
            /// Every event type this build knows, with its current schema version.
            pub const TYPES: &'static [(&'static str, u32)] = &[$((stringify!($variant), $version),)*];

            /// The stable type name stored with the event.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Payload::$variant(_) => stringify!($variant),)*
                }
            }

            /// The schema version this build writes for this type.
            pub fn version(&self) -> u32 {
                match self {
                    $(Payload::$variant(_) => $version,)*
                }
            }

            /// The payload as JSON, with its type and version.
            pub fn encode(&self) -> EncodedPayload {
                let json = match self {
                    $(Payload::$variant(p) => serde_json::to_string(p),)*
                };
                EncodedPayload {
                    type_name: self.type_name().to_owned(),
                    version: self.version(),
                    json: json.expect("payload types serialise to JSON without failing"),
                }
            }

            /// Deserialises a payload of the current version of `type_name` straight from a
            /// deserializer (the caller has checked that the type is known).
            pub(crate) fn deserialize_current<'de, D: serde::Deserializer<'de>>(
                type_name: &str,
                deserializer: D,
            ) -> Result<Payload, D::Error> {
                match type_name {
                    $(stringify!($variant) => serde::Deserialize::deserialize(deserializer).map(Payload::$variant),)*
                    _ => Err(serde::de::Error::custom(format!("unknown event type {type_name}"))),
                }
            }

            fn decode_current(type_name: &str, json: &str) -> Option<Result<Payload, serde_json::Error>> {
                match type_name {
                    $(stringify!($variant) => Some(serde_json::from_str(json).map(Payload::$variant)),)*
                    _ => None,
                }
            }
        }

        $(
            impl From<$variant> for Payload {
                fn from(payload: $variant) -> Self {
                    Payload::$variant(payload)
                }
            }
        )*
    };
}

payloads! {
    CampaignStarted = 5,
    ParentSelected = 2,
    ArchitectureProposed = 2,
    NoveltyJudged = 1,
    ImplementationChecked = 2,
    RepairAttempted = 1,
    ArchitectureAbandoned = 1,
    TrainingScheduled = 2,
    TrainingStarted = 1,
    TrainingProgress = 1,
    TrainingFinished = 2,
    TrainingFailed = 1,
    LeaseRenewed = 1,
    LeaseExpired = 1,
    AnalysisRecorded = 1,
    FitnessAssigned = 1,
    PromotedToVerification = 2,
    VerificationConcluded = 3,
    InsightRecorded = 1,
    LlmExchanged = 3,
    LlmFellBack = 1,
    BudgetSpent = 1,
    CampaignPaused = 1,
    CampaignNamed = 1,
    CampaignExtended = 1,
    CampaignResumed = 1,
    CampaignFinished = 1,
    HeadSigned = 1,
}

impl Payload {
    /// The current schema version of a type name, if this build knows the type.
    pub fn current_version(type_name: &str) -> Option<u32> {
        Self::TYPES.iter().find(|(name, _)| *name == type_name).map(|(_, v)| *v)
    }

    /// The training run the event reports on (started, progress, finished, failed), if any; a
    /// `TrainingScheduled` creates its run rather than reporting on it.
    pub fn run(&self) -> Option<&RunId> {
        use Payload::*;
        match self {
            TrainingStarted(p) => Some(&p.run),
            TrainingProgress(p) => Some(&p.run),
            TrainingFinished(p) => Some(&p.run),
            TrainingFailed(p) => Some(&p.run),
            LeaseRenewed(p) => Some(&p.run),
            LeaseExpired(p) => Some(&p.run),
            _ => None,
        }
    }

    /// The architecture the event is about (its correlation id), if any.
    pub fn arch(&self) -> Option<&ArchId> {
        use Payload::*;
        match self {
            ArchitectureProposed(p) => Some(&p.arch),
            NoveltyJudged(p) => Some(&p.arch),
            ImplementationChecked(p) => Some(&p.arch),
            RepairAttempted(p) => Some(&p.arch),
            ArchitectureAbandoned(p) => Some(&p.arch),
            TrainingScheduled(p) => Some(&p.arch),
            TrainingStarted(p) => Some(&p.arch),
            TrainingProgress(p) => Some(&p.arch),
            TrainingFinished(p) => Some(&p.arch),
            TrainingFailed(p) => Some(&p.arch),
            LeaseRenewed(p) => Some(&p.arch),
            LeaseExpired(p) => Some(&p.arch),
            AnalysisRecorded(p) => Some(&p.arch),
            FitnessAssigned(p) => Some(&p.arch),
            PromotedToVerification(p) => Some(&p.arch),
            VerificationConcluded(p) => Some(&p.arch),
            CampaignStarted(_) | ParentSelected(_) | InsightRecorded(_) | LlmExchanged(_)
            | LlmFellBack(_) | BudgetSpent(_) | CampaignPaused(_) | CampaignNamed(_)
            | CampaignExtended(_) | CampaignResumed(_) | CampaignFinished(_) | HeadSigned(_) => None,
        }
    }

    /// A one-line human summary, for `lineage events`.
    pub fn summary(&self) -> String {
        use Payload::*;
        match self {
            CampaignStarted(p) => format!("{:?} seed={} backend={}", p.name, p.seed, p.backend),
            ParentSelected(p) => format!(
                "experiment {}: parent {} refs [{}] from a pool of {}",
                p.experiment,
                p.parent,
                join(&p.references),
                p.pool.len()
            ),
            ArchitectureProposed(p) => format!(
                "{} (parent {}): {}",
                p.arch,
                p.parent.as_ref().map_or("-".to_owned(), ToString::to_string),
                first_line(&p.motivation)
            ),
            NoveltyJudged(p) => format!("{} {:?} nearest={}", p.arch, p.verdict, opt(&p.nearest)),
            ImplementationChecked(p) => {
                let failed: Vec<_> =
                    p.checks.iter().filter(|c| !c.passed).map(|c| c.check.as_str()).collect();
                if p.passed {
                    format!("{} attempt {}: all {} checks passed", p.arch, p.attempt, p.checks.len())
                } else {
                    format!("{} attempt {}: failed {}", p.arch, p.attempt, failed.join(", "))
                }
            }
            RepairAttempted(p) => {
                format!("{} attempt {} rule {}: {:?}", p.arch, p.attempt, p.rule, p.outcome)
            }
            ArchitectureAbandoned(p) => format!("{}: {}", p.arch, p.reason),
            TrainingScheduled(p) => format!("{} run {} {:?} seed={}", p.arch, p.run, p.stage, p.seed),
            TrainingStarted(p) => {
                let lease =
                    p.lease_ms.map_or(String::new(), |ms| format!(", lease {} s", ms as f64 / 1000.0));
                format!("{} run {} on {} ({} threads{lease})", p.arch, p.run, p.trainer, p.threads)
            }
            TrainingProgress(p) => format!("{} run {} step {} loss {:.4}", p.arch, p.run, p.step, p.loss),
            TrainingFinished(p) => format!(
                "{} run {} loss {:.4} bench {:.3} ({} ms)",
                p.arch, p.run, p.metrics.loss_val_final, p.metrics.benchmark_mean, p.metrics.wall_ms
            ),
            TrainingFailed(p) => format!("{} run {}: {:?}", p.arch, p.run, p.failure),
            LeaseRenewed(p) => {
                format!("{} run {} start {} still held by {}", p.arch, p.run, p.start, p.worker)
            }
            // A worker that stops releases its runs itself, recording silence 0 (docs/events.md).
            LeaseExpired(p) if p.silent_ms == 0 => {
                format!("{} run {} start {}: released by {}, which stopped", p.arch, p.run, p.start, p.worker)
            }
            LeaseExpired(p) => format!(
                "{} run {} start {}: {} silent {:.1} s, over its lease of {:.1} s",
                p.arch,
                p.run,
                p.start,
                p.worker,
                p.silent_ms as f64 / 1000.0,
                p.lease_ms as f64 / 1000.0
            ),
            AnalysisRecorded(p) => format!("{} by {}: {}", p.arch, p.analyst, first_line(&p.summary)),
            FitnessAssigned(p) => format!("{} {:?} fitness {:.4}", p.arch, p.stage, p.total),
            PromotedToVerification(p) => format!("{} rank {} fitness {:.4}", p.arch, p.rank, p.fitness),
            VerificationConcluded(p) => {
                let test = p.test.as_ref().map_or(String::new(), |t| {
                    let bound = t.lower_bound.map_or("-".to_owned(), |b| format!("{b:+.4}"));
                    format!(" p={:.4} (Holm {:.4} of {}) bound {bound}", t.p_value, t.p_adjusted, t.family)
                });
                let text = p.real_text.as_ref().map_or(String::new(), |r| {
                    format!(
                        "; {} loss gain {:.4} ± {:.4} p={:.4} (Holm {:.4})",
                        r.task, r.gain_mean, r.gain_std, r.test.p_value, r.test.p_adjusted
                    )
                });
                format!(
                    "{} gain {:.4} ± {:.4}{test}{text} discovery={}",
                    p.arch, p.gain_mean, p.gain_std, p.discovery
                )
            }
            InsightRecorded(p) => format!("{} [{}]: {}", p.analyst, p.kind, first_line(&p.text)),
            LlmExchanged(p) => format!(
                "{} for {} {} attempt {}.{}: {}{}",
                p.model,
                p.role,
                p.subject,
                p.attempt,
                p.try_number,
                p.outcome.summary(),
                p.rejected.as_ref().map_or(String::new(), |r| format!(", rejected: {}", first_line(r)))
            ),
            LlmFellBack(p) => {
                format!("{} {} fell back to built-in: {}", p.role, p.subject, first_line(&p.reason))
            }
            BudgetSpent(p) => format!(
                "experiments {} compute {} s wall {} s",
                p.experiments,
                p.compute_ms / 1000,
                p.wall_ms / 1000
            ),
            CampaignPaused(p) => p.reason.clone(),
            CampaignNamed(p) => format!("named {:?}", p.name),
            CampaignExtended(p) => format!("experiment budget {} → {}", p.previous_max, p.experiments_max),
            CampaignResumed(p) => format!("from seq {}", p.from_seq),
            CampaignFinished(p) => {
                format!("{} after {} experiments, state {}", p.reason, p.experiments, p.state_hash)
            }
            HeadSigned(p) => format!("head {}:{} signed by key {}", p.seq, p.head_hash, p.public_key),
        }
    }
}

fn join(ids: &[ArchId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

fn opt(id: &Option<ArchId>) -> String {
    id.as_ref().map_or("-".to_owned(), ToString::to_string)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A decoded payload: a known event, or one this build does not understand, preserved.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // see `Payload`
pub enum DecodedPayload {
    /// A type and version this build knows (after upcasting).
    Known(Payload),
    /// Written by a newer lineage or another tool; readers skip it.
    Unknown(UnknownPayload),
}

impl DecodedPayload {
    /// The payload, if this build knows its type.
    pub fn known(&self) -> Option<&Payload> {
        match self {
            DecodedPayload::Known(p) => Some(p),
            DecodedPayload::Unknown(_) => None,
        }
    }
}

/// An event payload this build cannot interpret, kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPayload {
    /// Type name as stored.
    pub type_name: String,
    /// Version as stored.
    pub version: u32,
    /// The payload JSON, verbatim.
    pub json: String,
    /// Why it is unknown.
    pub reason: UnknownReason,
}

/// Why a payload is unknown to this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownReason {
    /// The type name is not one this build knows.
    UnknownType,
    /// The type is known but the version is newer than this build writes.
    NewerVersion,
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnknownReason::UnknownType => "unknown event type",
            UnknownReason::NewerVersion => "newer schema version",
        })
    }
}

/// Rewrites a payload of version `v` (as JSON) into version `v + 1`.
pub type UpcastFn = fn(serde_json::Value) -> Result<serde_json::Value, String>;

/// Registered upcasters: how to bring old payload versions up to the current ones.
///
/// When an event type's schema changes, bump its version in the `payloads!` list and register a
/// step from the old version here in [`Upcasters::standard`]. The log is never rewritten; old
/// events are upcast every time they are read.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), UpcastFn>,
}

impl Upcasters {
    /// The upcasters for every schema change lineage has made (docs/events.md lists them).
    pub fn standard() -> Self {
        let mut upcasters = Self::default();
        upcasters.register("ImplementationChecked", 1, implementation_checked_v1_to_v2);
        upcasters.register("LlmExchanged", 1, llm::llm_exchanged_v1_to_v2);
        upcasters.register("VerificationConcluded", 1, verification_concluded_v1_to_v2);
        upcasters.register("VerificationConcluded", 2, verification_concluded_v2_to_v3);
        upcasters.register("CampaignStarted", 1, campaign_started_v1_to_v2);
        upcasters.register("CampaignStarted", 2, campaign_started_v2_to_v3);
        // Seeds become decimal strings (`seeds`).
        upcasters.register("CampaignStarted", 3, |v| seeds::numbers_to_text(v, &["/seed"]));
        upcasters.register("CampaignStarted", 4, campaign_started_v4_to_v5);
        upcasters.register("ParentSelected", 1, |v| {
            seeds::numbers_to_text(v, &["/draw/seed", "/proposer_draw/draw/seed"])
        });
        upcasters.register("ArchitectureProposed", 1, |v| seeds::numbers_to_text(v, &["/draw/seed"]));
        upcasters.register("TrainingScheduled", 1, |v| seeds::numbers_to_text(v, &["/seed"]));
        upcasters.register("TrainingFinished", 1, |v| seeds::numbers_to_text(v, &["/seed"]));
        upcasters.register("PromotedToVerification", 1, |v| seeds::numbers_to_text(v, &["/seeds"]));
        upcasters.register("LlmExchanged", 2, |v| seeds::numbers_to_text(v, &["/parameters/seed"]));
        upcasters
    }

    /// Registers the step from `version` to `version + 1` of `type_name`.
    pub fn register(&mut self, type_name: &str, version: u32, step: UpcastFn) -> &mut Self {
        self.steps.insert((type_name.to_owned(), version), step);
        self
    }

    /// Decodes a payload of the given type and version, upcasting older versions.
    pub fn decode(&self, type_name: &str, version: u32, json: &str) -> Result<DecodedPayload, DecodeError> {
        let unknown = |reason| {
            Ok(DecodedPayload::Unknown(UnknownPayload {
                type_name: type_name.to_owned(),
                version,
                json: json.to_owned(),
                reason,
            }))
        };
        let Some(current) = Payload::current_version(type_name) else {
            return unknown(UnknownReason::UnknownType);
        };
        if version > current {
            return unknown(UnknownReason::NewerVersion);
        }
        let schema_error = |message: String| DecodeError::Json { type_name: type_name.to_owned(), message };
        if version == current {
            let decoded = Payload::decode_current(type_name, json).expect("type is known");
            return decoded.map(DecodedPayload::Known).map_err(|e| schema_error(e.to_string()));
        }
        let mut value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| schema_error(e.to_string()))?;
        for v in version..current {
            let step = self
                .steps
                .get(&(type_name.to_owned(), v))
                .ok_or_else(|| DecodeError::NoUpcaster { type_name: type_name.to_owned(), version: v })?;
            value = step(value).map_err(schema_error)?;
        }
        let json = value.to_string();
        let decoded = Payload::decode_current(type_name, &json).expect("type is known");
        decoded.map(DecodedPayload::Known).map_err(|e| schema_error(e.to_string()))
    }
}

/// `ImplementationChecked` 1 → 2: whether the checks accepted quadratic cost became the typed
/// field `quadratic_allowed`. Version 1 wrote it as the number `quadratic_allowed` of a check
/// (1 allowed, 0 not; only the complexity check wrote it), and a reader took 1 in any check as
/// allowed, which this keeps. The recorded numbers stay as they were.
fn implementation_checked_v1_to_v2(mut value: serde_json::Value) -> Result<serde_json::Value, String> {
    let payload = value.as_object_mut().ok_or("the payload is not a JSON object")?;
    let allowed = payload.get("checks").and_then(serde_json::Value::as_array).is_some_and(|checks| {
        checks.iter().any(|check| {
            check.pointer("/numbers/quadratic_allowed").and_then(serde_json::Value::as_f64) == Some(1.0)
        })
    });
    payload.insert("quadratic_allowed".into(), serde_json::Value::Bool(allowed));
    Ok(value)
}

/// `CampaignStarted` 1 → 2: version 2 may name its fitness (`fitness.name`), its stages'
/// held-out batches (`eval_batches`) and the `random` selection policy, and its verdicts record
/// their test. A version-1 config has none of these, and serde's defaults (`asi-arch`, 4) are
/// what it meant, so the JSON is unchanged. The version exists so that a build that predates
/// them reads a newer campaign as one it does not know, rather than misjudging it.
fn campaign_started_v1_to_v2(value: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(value)
}

/// `CampaignStarted` 2 → 3: version 3 configs may name a task's corpus (`corpus = "kjv"`: a
/// real text instead of a generated one), and verdicts then test real text too. A version-2
/// config has no corpus and the field's default (none) is what it meant, so the JSON is
/// unchanged; as for 1 → 2, the version makes an older build see such a campaign as one it does
/// not know, rather than read the corpus task as the generated one.
fn campaign_started_v2_to_v3(value: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(value)
}

/// `CampaignStarted` 4 → 5: version 5 configs may weight the researcher's operators by a prior
/// learned from earlier campaigns (`selection.operator_prior`) and set how fast `rank-weighted`'s
/// parent weight halves (`selection.half_rank`). A version-4 config has neither, and the
/// defaults (no prior, 2 ranks) are what it meant, so the JSON is unchanged; the version makes an
/// older build see such a campaign as one it does not know, rather than propose without the prior.
fn campaign_started_v4_to_v5(value: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(value)
}

/// `VerificationConcluded` 1 → 2: version 2 records the test that decided the verdict. Version
/// 1 ran none — its rule was the mean gain above the spread of the gains and of the baseline's
/// scores — so `test` is `null`, never invented numbers; its own fields stay as recorded, and
/// `verify` re-derives it with that version-1 rule.
fn verification_concluded_v1_to_v2(mut value: serde_json::Value) -> Result<serde_json::Value, String> {
    let payload = value.as_object_mut().ok_or("the payload is not a JSON object")?;
    if payload.contains_key("test") {
        return Err("version 1 has no field `test`".into());
    }
    payload.insert("test".into(), serde_json::Value::Null);
    Ok(value)
}

/// `VerificationConcluded` 2 → 3: version 3 records the real-text test beside the benchmark
/// test. No stage had a real-text task before it, so `real_text` is `null`.
fn verification_concluded_v2_to_v3(mut value: serde_json::Value) -> Result<serde_json::Value, String> {
    let payload = value.as_object_mut().ok_or("the payload is not a JSON object")?;
    if !payload.contains_key("test") {
        return Err("version 2 has the field `test`".into());
    }
    if payload.contains_key("real_text") {
        return Err("version 2 has no field `real_text`".into());
    }
    payload.insert("real_text".into(), serde_json::Value::Null);
    Ok(value)
}

#[cfg(test)]
mod tests;
