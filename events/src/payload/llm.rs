//! The LLM part of the schema: how a campaign talks to a model (recorded in its config), each
//! request and reply ([`LlmExchanged`]), a role giving up on the model ([`LlmFellBack`]) and the
//! spend a [`super::BudgetSpent`] accounts for ([`LlmSpend`]).
//!
//! Replay, resume and audit read replies from these events and never call a model: everything
//! a campaign decided with a model's help is re-derived from the recorded reply text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::EventId;

use super::RandomDraw;

/// A part of the campaign a model may play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmRole {
    /// Proposes a motivation and a program from a parent.
    Researcher,
    /// Patches a program whose checks failed.
    Debugger,
    /// Writes the analysis of a trained architecture.
    Analyst,
    /// Scores a trained architecture 1-10: the qualitative third of the fitness.
    Judge,
}

impl LlmRole {
    /// Every role, in the order the ledger lists them.
    pub const ALL: [LlmRole; 4] = [LlmRole::Researcher, LlmRole::Debugger, LlmRole::Analyst, LlmRole::Judge];

    /// The role's name as written in configs and events.
    pub fn name(self) -> &'static str {
        match self {
            LlmRole::Researcher => "researcher",
            LlmRole::Debugger => "debugger",
            LlmRole::Analyst => "analyst",
            LlmRole::Judge => "judge",
        }
    }
}

impl std::fmt::Display for LlmRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who plays a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleMode {
    /// lineage's own rules (operators, repair rules, the formula judge).
    Builtin,
    /// The configured model, falling back to the built-in rules when it fails.
    Llm,
    /// The researcher only: the model for a share of proposals ([`LlmConfig::mixed_share`]),
    /// drawn per experiment and recorded in its [`super::ParentSelected`].
    Mixed,
}

/// Who plays each role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmRoles {
    /// Proposals.
    pub researcher: RoleMode,
    /// Repairs.
    pub debugger: RoleMode,
    /// Analyses.
    pub analyst: RoleMode,
    /// The judge term of the fitness.
    pub judge: RoleMode,
}

impl LlmRoles {
    /// The mode of one role.
    pub fn of(&self, role: LlmRole) -> RoleMode {
        match role {
            LlmRole::Researcher => self.researcher,
            LlmRole::Debugger => self.debugger,
            LlmRole::Analyst => self.analyst,
            LlmRole::Judge => self.judge,
        }
    }
}

/// How a campaign talks to a model over the OpenAI chat-completions protocol. Recorded in the
/// campaign's config; the API key is not: only the name of the variable that holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmConfig {
    /// The API's base URL, e.g. `http://127.0.0.1:8080/v1` (requests go to `…/chat/completions`).
    pub base_url: String,
    /// Model name sent with each request.
    pub model: String,
    /// Environment variable holding the API key (sent as a bearer token when set).
    pub api_key_env: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Most tokens a reply may have.
    pub max_tokens: u32,
    /// How long one request may take.
    pub timeout_s: u64,
    /// Retries of one request after a failure worth retrying (no connection, timeout, 429,
    /// 5xx), with exponential backoff; each try is recorded.
    pub retries: u32,
    /// Replies one decision asks for: a reply that does not parse goes back to the model with
    /// the error, and after the last one the role falls back to the built-in rules.
    pub attempts: u32,
    /// Ask for a JSON object (`response_format`); turn off for servers that reject it.
    pub json_mode: bool,
    /// Who plays each role.
    pub roles: LlmRoles,
    /// With the researcher `mixed`: the share of proposals made by the model, in [0, 1].
    pub mixed_share: f64,
    /// Price per 1,000 prompt tokens, in the user's currency.
    pub price_input_per_1k: Option<f64>,
    /// Price per 1,000 reply tokens.
    pub price_output_per_1k: Option<f64>,
    /// Stop the campaign once this many tokens (prompt and reply) were spent.
    pub tokens_max: Option<u64>,
    /// Stop the campaign once this much money was spent.
    pub cost_max: Option<f64>,
}

/// One message of a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// The sampling parameters of one request, as sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmParameters {
    /// Temperature.
    pub temperature: f64,
    /// Most reply tokens.
    pub max_tokens: u32,
    /// The `seed` sent (derived from the campaign seed and the request), for servers that
    /// sample reproducibly with one.
    #[serde(with = "super::seeds::seed_text")]
    pub seed: u64,
    /// Whether a JSON object was asked for.
    pub json_mode: bool,
}

/// Why a request got no HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportFailure {
    /// Nothing listens at the address.
    Refused,
    /// The host name did not resolve.
    Dns,
    /// No complete answer within the timeout.
    Timeout,
    /// Anything else (reset connection, TLS, protocol).
    Other,
}

/// What one HTTP request came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LlmOutcome {
    /// A chat completion: its status and why the model stopped (`length`: cut at `max_tokens`).
    Replied {
        /// HTTP status.
        status: u16,
        /// The completion's `finish_reason`.
        finish_reason: String,
    },
    /// An error status.
    HttpError {
        /// HTTP status (401, 429, 500, …).
        status: u16,
        /// The server's error message, shortened.
        message: String,
        /// The `Retry-After` the server asked for.
        retry_after_s: Option<f64>,
    },
    /// A success status whose body is not a chat completion with a message (malformed JSON,
    /// no choices, no content).
    Malformed {
        /// HTTP status.
        status: u16,
        /// What is wrong with it.
        message: String,
    },
    /// No HTTP answer.
    Transport {
        /// Which failure.
        failure: TransportFailure,
        /// The client's message.
        message: String,
    },
}

impl LlmOutcome {
    /// A reply with text to read (possibly cut at `max_tokens`).
    pub fn replied(&self) -> bool {
        matches!(self, LlmOutcome::Replied { .. })
    }

    /// The outcome in a few words, for one-line listings.
    pub fn summary(&self) -> String {
        match self {
            LlmOutcome::Replied { status, finish_reason } => format!("{status} ({finish_reason})"),
            LlmOutcome::HttpError { status, message, .. } => format!("HTTP {status}: {message}"),
            LlmOutcome::Malformed { status, message } => format!("{status}, malformed: {message}"),
            LlmOutcome::Transport { failure, message } => format!("{failure:?}: {message}").to_lowercase(),
        }
    }
}

/// Tokens of one exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Reply tokens.
    pub output_tokens: u64,
    /// Whether the server reported them (and they could be true: no more prompt tokens than
    /// bytes, besides a template's, and no more reply tokens than `max_tokens`); otherwise
    /// estimated as characters / 4.
    pub reported: bool,
}

/// A request sent to a model and what came back, so that replay never calls the model again.
///
/// Version 2 records the role, the messages, parameters, outcome, tokens, latency and cost;
/// version 1 (model, purpose, prompt, reply) is upcast to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmExchanged {
    /// The role that asked.
    pub role: LlmRole,
    /// What it was about: an architecture id, or `experiment N`.
    pub subject: String,
    /// 1-based reply attempt of this decision (a reply that did not parse is answered with the
    /// error in the next attempt's messages).
    pub attempt: u32,
    /// 1-based try of this attempt's request (retries after a failure worth retrying).
    pub try_number: u32,
    /// Model name.
    pub model: String,
    /// The base URL the request went to.
    pub endpoint: String,
    /// Sampling parameters sent.
    pub parameters: LlmParameters,
    /// The full prompt: every message sent.
    pub messages: Vec<ChatMessage>,
    /// The reply's text; empty when there was none.
    pub reply: String,
    /// What the request came to.
    pub outcome: LlmOutcome,
    /// Tokens used.
    pub usage: LlmUsage,
    /// Time from sending to the complete answer (or the failure).
    pub latency_ms: u64,
    /// Cost at the configured prices (0 without prices).
    pub cost: f64,
    /// Why a reply was not used (it did not parse, its program did not parse, …); none when
    /// it was used or there was no reply.
    pub rejected: Option<String>,
}

/// A role gave up on the model for one decision and used the built-in rules instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmFellBack {
    /// The role.
    pub role: LlmRole,
    /// What the decision was about (as in [`LlmExchanged::subject`]).
    pub subject: String,
    /// Why, in words.
    pub reason: String,
    /// The exchanges tried, in order (none when the budget was spent before the first).
    pub exchanges: Vec<EventId>,
}

/// Tokens and money spent on one role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmSpend {
    /// Requests sent.
    pub exchanges: u32,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Reply tokens.
    pub output_tokens: u64,
    /// Money, at the configured prices.
    pub cost: f64,
}

impl LlmSpend {
    /// The spend of one exchange.
    pub fn of(exchange: &LlmExchanged) -> Self {
        Self {
            exchanges: 1,
            input_tokens: exchange.usage.input_tokens,
            output_tokens: exchange.usage.output_tokens,
            cost: exchange.cost,
        }
    }

    /// Prompt and reply tokens.
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Adds another spend. Sums saturate: a log that records absurd counts (an older build
    /// took any count a server reported) adds up the same way everywhere, never wrapping.
    pub fn add(&mut self, other: &LlmSpend) {
        self.exchanges = self.exchanges.saturating_add(other.exchanges);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cost += other.cost;
    }

    /// What is left after `earlier` (for per-experiment accounts of a running total).
    pub fn since(&self, earlier: &LlmSpend) -> LlmSpend {
        LlmSpend {
            exchanges: self.exchanges.saturating_sub(earlier.exchanges),
            input_tokens: self.input_tokens.saturating_sub(earlier.input_tokens),
            output_tokens: self.output_tokens.saturating_sub(earlier.output_tokens),
            cost: (self.cost - earlier.cost).max(0.0),
        }
    }
}

/// Spend per role.
pub type LlmLedger = BTreeMap<LlmRole, LlmSpend>;

/// The draw of a mixed researcher: whether one experiment's proposal is the model's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposerDraw {
    /// The draw (one value below 1,000,000).
    pub draw: RandomDraw,
    /// The configured share of proposals made by the model.
    pub share: f64,
    /// Whether the model proposes: the value was below `share` × 1,000,000.
    pub llm: bool,
}

/// `LlmExchanged` 1 → 2: version 1 held the model, a purpose, one prompt and one reply. The
/// purpose becomes the role, the prompt one user message; tokens, latency and cost were not
/// recorded (zero, and the usage marked as not reported).
pub(super) fn llm_exchanged_v1_to_v2(value: serde_json::Value) -> Result<serde_json::Value, String> {
    let payload = value.as_object().ok_or("the payload is not a JSON object")?;
    let text = |name: &str| {
        payload
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("version 1 has no string field `{name}`"))
    };
    let purpose = text("purpose")?;
    let role = match purpose.as_str() {
        "propose" | "proposal" | "researcher" => LlmRole::Researcher,
        "repair" | "debug" | "debugger" => LlmRole::Debugger,
        "judge" | "score" => LlmRole::Judge,
        _ => LlmRole::Analyst,
    };
    let upcast = LlmExchanged {
        role,
        subject: purpose,
        attempt: 1,
        try_number: 1,
        model: text("model")?,
        endpoint: String::new(),
        parameters: LlmParameters { temperature: 0.0, max_tokens: 0, seed: 0, json_mode: false },
        messages: vec![ChatMessage { role: "user".into(), content: text("prompt")? }],
        reply: text("reply")?,
        outcome: LlmOutcome::Replied { status: 200, finish_reason: "stop".into() },
        usage: LlmUsage::default(),
        latency_ms: 0,
        cost: 0.0,
        rejected: None,
    };
    let mut v2 = serde_json::to_value(upcast).map_err(|e| e.to_string())?;
    // In version 2's form: its seed was a number (the step to version 3 makes it text).
    v2["parameters"]["seed"] = 0.into();
    Ok(v2)
}
