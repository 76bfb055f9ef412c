//! Asking the model for one decision: requests with retries, replies parsed strictly and sent
//! back with the error when they do not parse, every try recorded as an `LlmExchanged` before
//! its reply is used, the budget checked before each request, and a recorded `LlmFellBack` when
//! the model cannot give a usable reply — then the role uses its built-in rules.
//!
//! Each try has a key derived from role, subject, attempt and try, so its event id is known
//! before it is sent: a resumed campaign reads a reply the log holds instead of asking again,
//! and asks again only for a request whose reply was never recorded.

use std::sync::Mutex;
use std::time::Duration;

use foldhash::HashMap;
use lineage_arch::rng::Rng;
use lineage_events::payload::{
    ChatMessage, LlmConfig, LlmExchanged, LlmFellBack, LlmOutcome, LlmParameters, LlmRole, LlmSpend,
    LlmUsage, RoleMode, TransportFailure,
};
use lineage_events::{CampaignId, EventId};
use lineage_replay::llm::RecordedReply;

use super::client::{Answer, Endpoint};
use crate::messages::Decision;

/// First wait before retrying a failed request; it doubles with each try.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// Longest part of an unusable reply sent back to the model with the error.
const ECHOED_CHARS_MAX: usize = 16 * 1024;
/// Longest wait between tries, whatever a server's `Retry-After` asks.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A campaign's model: its config, endpoint, the replies already in the log, and the spend.
pub struct Llm {
    config: LlmConfig,
    endpoint: Endpoint,
    seed: u64,
    campaign: CampaignId,
    /// Replies recorded before this process started.
    recorded: HashMap<EventId, RecordedReply>,
    /// The log's spend when this process started, plus every exchange it recorded since.
    spent: Mutex<LlmSpend>,
}

/// What asking came to.
#[derive(Debug)]
pub enum Asked<T> {
    /// A reply parsed into a value; the exchange it came from.
    Used {
        /// The parsed reply.
        value: T,
        /// The `LlmExchanged` event of that reply.
        exchange: EventId,
    },
    /// No usable reply: the recorded `LlmFellBack`.
    FellBack {
        /// The `LlmFellBack` event.
        event: EventId,
        /// Why, in words.
        reason: String,
    },
}

/// One decision to ask for.
pub struct Question {
    /// Who asks.
    pub role: LlmRole,
    /// What about (an architecture id, `experiment N`): part of every key.
    pub subject: String,
    /// The prompt.
    pub messages: Vec<ChatMessage>,
}

impl Llm {
    /// The model of a campaign: `recorded` holds the replies its log has (empty for a new
    /// campaign), `spent` the spend they add up to. An API key no request could carry is the
    /// error ([`Endpoint::new`]).
    pub fn new(
        config: LlmConfig,
        seed: u64,
        campaign: CampaignId,
        recorded: HashMap<EventId, RecordedReply>,
        spent: LlmSpend,
    ) -> Result<Self, String> {
        let endpoint = Endpoint::new(&config)?;
        Ok(Self { config, endpoint, seed, campaign, recorded, spent: Mutex::new(spent) })
    }

    /// The config.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Whether the model plays `role` (always or for a share of decisions).
    pub fn plays(&self, role: LlmRole) -> bool {
        self.config.roles.of(role) != RoleMode::Builtin
    }

    /// See [`Endpoint::probe`].
    pub fn probe(&self) -> Result<(), String> {
        self.endpoint.probe()
    }

    /// Why no request may be sent any more: the token or money cap is reached.
    pub fn budget_spent(&self) -> Option<String> {
        let spent = *self.spent.lock().expect("no panic holds the lock");
        budget_reason(&self.config, &spent)
    }

    /// Asks for one decision. `parse` reads a reply strictly, or says in one sentence why it
    /// cannot be used (that sentence goes back to the model). `record` appends decisions and
    /// waits until they are committed. Every try is recorded before its reply is read; without
    /// a usable reply after [`LlmConfig::attempts`], the fallback is recorded.
    pub fn ask<T>(
        &self,
        question: Question,
        record: &dyn Fn(Vec<Decision>),
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Asked<T> {
        let Question { role, subject, mut messages } = question;
        let mut exchanges = Vec::new();
        let mut last_problem = String::new();
        for attempt in 1..=self.config.attempts {
            let check = |reply: &str| parse(reply).map(|_| ());
            let (reply, exchange) = match self.tries(role, &subject, attempt, &messages, record, &check) {
                Tried::Reply { reply, exchange, tried } => {
                    exchanges.extend(tried);
                    (reply, exchange)
                }
                Tried::Failed { reason, tried } => {
                    exchanges.extend(tried);
                    return self.fall_back(role, &subject, reason, exchanges, record);
                }
            };
            match parse(&reply) {
                Ok(value) => return Asked::Used { value, exchange },
                Err(problem) => {
                    // The reply goes back shortened: each attempt's event repeats the ones
                    // before, and an event must stay within the store's size limit.
                    let content = match reply.char_indices().nth(ECHOED_CHARS_MAX) {
                        Some((end, _)) => format!("{}… (cut)", &reply[..end]),
                        None => reply,
                    };
                    messages.push(ChatMessage { role: "assistant".into(), content });
                    messages.push(ChatMessage { role: "user".into(), content: retry_prompt(&problem) });
                    last_problem = problem;
                }
            }
        }
        let reason = format!(
            "{} {} could not be used; the last: {last_problem}",
            self.config.attempts,
            if self.config.attempts == 1 { "reply" } else { "replies" }
        );
        self.fall_back(role, &subject, reason, exchanges, record)
    }

    /// One attempt's tries: until a reply, a failure not worth retrying, or the last retry.
    fn tries(
        &self,
        role: LlmRole,
        subject: &str,
        attempt: u32,
        messages: &[ChatMessage],
        record: &dyn Fn(Vec<Decision>),
        parse: &dyn Fn(&str) -> Result<(), String>,
    ) -> Tried {
        let mut tried = Vec::new();
        let mut last = String::new();
        for try_number in 1..=self.config.retries + 1 {
            let key = format!("llm/{role}/{subject}/{attempt}/{try_number}");
            let id = EventId::derive(&self.campaign, &key);
            let (outcome, reply) = match self.recorded.get(&id) {
                Some(recorded) => (recorded.outcome.clone(), recorded.reply.clone()),
                None => {
                    if let Some(reason) = self.budget_spent() {
                        return Tried::Failed { reason, tried };
                    }
                    let seed = Rng::stream(self.seed, &key).next_u64();
                    let answer = self.send(messages, seed);
                    let rejected = answer.outcome.replied().then(|| parse(&answer.reply).err()).flatten();
                    let event =
                        self.exchanged(role, subject, attempt, try_number, messages, seed, answer, rejected);
                    let result = (event.outcome.clone(), event.reply.clone());
                    self.spent.lock().expect("no panic holds the lock").add(&LlmSpend::of(&event));
                    record(vec![Decision::new(key, role.name(), event)]);
                    if worth_retrying(&result.0) && try_number <= self.config.retries {
                        std::thread::sleep(backoff(&result.0, try_number));
                    }
                    result
                }
            };
            tried.push(id);
            if outcome.replied() {
                return Tried::Reply { reply, exchange: id, tried };
            }
            last = outcome.summary();
            if !worth_retrying(&outcome) {
                return Tried::Failed { reason: format!("the request failed: {last}"), tried };
            }
        }
        Tried::Failed {
            reason: format!("no reply after {} tries; the last: {last}", self.config.retries + 1),
            tried,
        }
    }

    fn send(&self, messages: &[ChatMessage], seed: u64) -> Answer {
        self.endpoint.complete(&self.config.model, messages, &self.parameters(seed))
    }

    fn parameters(&self, seed: u64) -> LlmParameters {
        LlmParameters {
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
            seed,
            json_mode: self.config.json_mode,
        }
    }

    /// The event of one try.
    #[allow(clippy::too_many_arguments)]
    fn exchanged(
        &self,
        role: LlmRole,
        subject: &str,
        attempt: u32,
        try_number: u32,
        messages: &[ChatMessage],
        seed: u64,
        answer: Answer,
        rejected: Option<String>,
    ) -> LlmExchanged {
        let reported = answer.usage.filter(|&usage| plausible_usage(usage, messages, self.config.max_tokens));
        let usage = match reported {
            Some((input_tokens, output_tokens)) => LlmUsage { input_tokens, output_tokens, reported: true },
            // No completion, nothing to charge: APIs bill the completions they return.
            None if !answer.outcome.replied() => LlmUsage::default(),
            None => LlmUsage {
                input_tokens: messages.iter().map(|m| estimate_tokens(&m.content)).sum(),
                output_tokens: estimate_tokens(&answer.reply),
                reported: false,
            },
        };
        let price = |tokens: u64, per_1k: Option<f64>| tokens as f64 / 1000.0 * per_1k.unwrap_or(0.0);
        let cost = price(usage.input_tokens, self.config.price_input_per_1k)
            + price(usage.output_tokens, self.config.price_output_per_1k);
        LlmExchanged {
            role,
            subject: subject.to_owned(),
            attempt,
            try_number,
            model: self.config.model.clone(),
            endpoint: self.config.base_url.clone(),
            parameters: self.parameters(seed),
            messages: messages.to_vec(),
            reply: answer.reply,
            outcome: answer.outcome,
            usage,
            latency_ms: answer.latency.as_millis() as u64,
            cost,
            rejected,
        }
    }

    fn fall_back<T>(
        &self,
        role: LlmRole,
        subject: &str,
        reason: String,
        exchanges: Vec<EventId>,
        record: &dyn Fn(Vec<Decision>),
    ) -> Asked<T> {
        let key = format!("llm/{role}/{subject}/fallback");
        let event = EventId::derive(&self.campaign, &key);
        let fell_back = LlmFellBack { role, subject: subject.to_owned(), reason: reason.clone(), exchanges };
        record(vec![Decision::new(key, role.name(), fell_back)]);
        Asked::FellBack { event, reason }
    }
}

enum Tried {
    Reply { reply: String, exchange: EventId, tried: Vec<EventId> },
    Failed { reason: String, tried: Vec<EventId> },
}

/// Why the campaign may not spend more on the model, if it may not.
pub fn budget_reason(config: &LlmConfig, spent: &LlmSpend) -> Option<String> {
    if let Some(max) = config.tokens_max
        && spent.tokens() >= max
    {
        return Some(format!("LLM token budget reached ({} of {max} tokens)", spent.tokens()));
    }
    if let Some(max) = config.cost_max
        && spent.cost >= max
    {
        return Some(format!("LLM cost budget reached ({:.4} of {max})", spent.cost));
    }
    None
}

/// What the model is told when its reply could not be used.
fn retry_prompt(problem: &str) -> String {
    format!(
        "Your reply could not be used: {problem}\nAnswer again with one JSON object with exactly the fields asked for, \
         and nothing else."
    )
}

/// Whether a failed request is worth sending again: no connection, a timeout, a body that was
/// not a completion, 408, 409, 429 and 5xx are; a refused key, a bad request or an unknown
/// host are not (sending them again gives the same answer).
fn worth_retrying(outcome: &LlmOutcome) -> bool {
    match outcome {
        LlmOutcome::Replied { .. } => false,
        LlmOutcome::Transport { failure, .. } => *failure != TransportFailure::Dns,
        LlmOutcome::Malformed { .. } => true,
        LlmOutcome::HttpError { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
    }
}

/// How long to wait before try `try_number + 1`: the server's `Retry-After` when it gave one,
/// else exponential backoff; at most [`BACKOFF_MAX`].
fn backoff(outcome: &LlmOutcome, try_number: u32) -> Duration {
    let asked = match outcome {
        LlmOutcome::HttpError { retry_after_s: Some(s), .. } => Some(Duration::from_secs_f64(*s)),
        _ => None,
    };
    let doubling = BACKOFF_FIRST.saturating_mul(1 << (try_number - 1).min(16));
    asked.unwrap_or(doubling).min(BACKOFF_MAX)
}

/// Prompt tokens a server may count beyond one per byte of the messages: its chat template's
/// special tokens, and a system prompt of its own.
const PROMPT_TOKENS_SLACK: u64 = 4096;
/// Reply tokens a server may count beyond the `max_tokens` asked for (an end-of-text token).
const REPLY_TOKENS_SLACK: u64 = 16;

/// Whether the token counts a server reported can be true: a token is at least one byte of
/// text (besides a template's few), and a reply stops at `max_tokens`. Counts that cannot be
/// true are estimated instead, so that a server's bug neither spends the whole token budget
/// at once nor overflows a sum.
fn plausible_usage((input, output): (u64, u64), messages: &[ChatMessage], max_tokens: u32) -> bool {
    let prompt_bytes: u64 = messages.iter().map(|m| m.content.len() as u64).sum();
    input <= prompt_bytes + PROMPT_TOKENS_SLACK && output <= u64::from(max_tokens) + REPLY_TOKENS_SLACK
}

/// A token count for servers that report none: about four characters a token.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after_s: Option<f64>) -> LlmOutcome {
        LlmOutcome::HttpError { status, message: String::new(), retry_after_s }
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        for retried in [429, 500, 502, 503, 408] {
            assert!(worth_retrying(&http(retried, None)), "{retried}");
        }
        for final_ in [400, 401, 403, 404, 422] {
            assert!(!worth_retrying(&http(final_, None)), "{final_}");
        }
        let transport = |failure| LlmOutcome::Transport { failure, message: String::new() };
        assert!(worth_retrying(&transport(TransportFailure::Refused)));
        assert!(worth_retrying(&transport(TransportFailure::Timeout)));
        assert!(!worth_retrying(&transport(TransportFailure::Dns)));
    }

    #[test]
    fn token_counts_that_cannot_be_true_are_not_taken() {
        let messages = [ChatMessage { role: "user".into(), content: "x".repeat(1000) }];
        assert!(plausible_usage((900, 2048), &messages, 2048));
        assert!(plausible_usage((1000 + PROMPT_TOKENS_SLACK, 2048 + REPLY_TOKENS_SLACK), &messages, 2048));
        assert!(
            !plausible_usage((1001 + PROMPT_TOKENS_SLACK, 10), &messages, 2048),
            "more tokens than bytes"
        );
        assert!(!plausible_usage((10, 2049 + REPLY_TOKENS_SLACK), &messages, 2048), "past max_tokens");
        assert!(!plausible_usage((u64::MAX, u64::MAX), &messages, 2048));
        let mut spend = LlmSpend { exchanges: 1, input_tokens: u64::MAX - 1, output_tokens: 5, cost: 0.0 };
        spend.add(&LlmSpend { exchanges: 1, input_tokens: 9, output_tokens: 1, cost: 0.0 });
        assert_eq!((spend.input_tokens, spend.tokens()), (u64::MAX, u64::MAX), "sums saturate");
    }

    #[test]
    fn backoff_doubles_honours_retry_after_and_is_capped() {
        assert_eq!(backoff(&http(500, None), 1), Duration::from_millis(500));
        assert_eq!(backoff(&http(500, None), 3), Duration::from_secs(2));
        assert_eq!(backoff(&http(429, Some(1.5)), 1), Duration::from_millis(1500));
        assert_eq!(backoff(&http(429, Some(3600.0)), 1), BACKOFF_MAX);
        assert_eq!(backoff(&http(500, None), 40), BACKOFF_MAX);
    }
}
