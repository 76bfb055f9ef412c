//! One HTTP request to an OpenAI-compatible chat-completions server, and what it came to, as
//! the values an `LlmExchanged` records. No retries here: [`super::exchange`] decides those, so
//! that each try is recorded.

use std::time::{Duration, Instant};

use lineage_events::payload::{ChatMessage, LlmConfig, LlmOutcome, LlmParameters, TransportFailure};
use serde_json::{Value, json};

/// Longest error message kept from a server's answer.
const MESSAGE_CHARS_MAX: usize = 300;
/// Largest answer body read. A reply is recorded in an event, which a store holds to
/// `lineage_events::limits::EVENT_BYTES_MAX` (4 MiB) with the prompt and earlier attempts; a
/// completion of the largest `max_tokens` allowed is about a quarter of this.
const BODY_BYTES_MAX: u64 = 1 << 20;

/// A chat-completions server: where it is and how to authenticate.
pub struct Endpoint {
    agent: ureq::Agent,
    base_url: String,
    api_key: Option<String>,
}

/// What one request came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The outcome, as recorded.
    pub outcome: LlmOutcome,
    /// The reply's text (empty without one).
    pub reply: String,
    /// Prompt and reply tokens, when the server reported them.
    pub usage: Option<(u64, u64)>,
    /// Time from sending to the answer.
    pub latency: Duration,
}

impl Endpoint {
    /// The endpoint of `config`, with the API key read from the environment variable it names
    /// (none when unset or blank: local servers need none), white space around it dropped. A
    /// key an HTTP header cannot carry is an error in one line: every request would fail on
    /// this machine, whatever the server.
    pub fn new(config: &LlmConfig) -> Result<Self, String> {
        let variable = &config.api_key_env;
        let api_key = match std::env::var_os(variable) {
            None => None,
            Some(key) => match key.into_string() {
                Ok(key) => Some(key.trim().to_owned()).filter(|k| !k.is_empty()),
                Err(_) => return Err(format!("the API key in {variable} is not UTF-8 text: set it again")),
            },
        };
        if let Some(key) = &api_key
            && let Some(c) = key.chars().find(|c| !c.is_ascii_graphic())
        {
            return Err(format!(
                "the API key in {variable} holds {}, which an HTTP header cannot carry (a key is visible \
                 ASCII): nothing was sent; set it again",
                c.escape_unicode()
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(config.timeout_s)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self { agent, base_url: config.base_url.trim_end_matches('/').to_owned(), api_key })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    /// Whether the server answers at all, before anything is recorded: `GET …/models`. A
    /// refused connection, an unknown host, a timeout or a refused key is an error in one
    /// sentence; any other answer (some servers have no `/models`) is taken as alive.
    pub fn probe(&self) -> Result<(), String> {
        let mut request = self.agent.get(self.url("models"));
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        match request.call() {
            Ok(response) if matches!(response.status().as_u16(), 401 | 403) => Err(format!(
                "the LLM endpoint {} refused the API key (HTTP {}); set the variable named by llm.api_key_env",
                self.base_url,
                response.status().as_u16()
            )),
            Ok(_) => Ok(()),
            Err(error) => {
                let (_, message) = transport_failure(&error);
                Err(format!("the LLM endpoint {} cannot be reached: {message}", self.base_url))
            }
        }
    }

    /// Sends one chat-completions request and reads the answer.
    pub fn complete(&self, model: &str, messages: &[ChatMessage], parameters: &LlmParameters) -> Answer {
        let mut body = json!({
            "model": model,
            "messages": messages,
            "temperature": parameters.temperature,
            "max_tokens": parameters.max_tokens,
            "seed": parameters.seed,
            "stream": false,
        });
        if parameters.json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        let mut request =
            self.agent.post(self.url("chat/completions")).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let started = Instant::now();
        let answer = match request.send(body.to_string()) {
            Err(error) => {
                let (failure, message) = transport_failure(&error);
                Answer::failed(LlmOutcome::Transport { failure, message })
            }
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0);
                match response.body_mut().with_config().limit(BODY_BYTES_MAX).read_to_string() {
                    Err(ureq::Error::BodyExceedsLimit(_)) => Answer::failed(LlmOutcome::Malformed {
                        status,
                        message: format!("the body is larger than {BODY_BYTES_MAX} bytes"),
                    }),
                    Err(error) => {
                        let (failure, message) = transport_failure(&error);
                        Answer::failed(LlmOutcome::Transport { failure, message })
                    }
                    Ok(text) if !(200..300).contains(&status) => Answer::failed(LlmOutcome::HttpError {
                        status,
                        message: error_message(&text),
                        retry_after_s: retry_after,
                    }),
                    Ok(text) => read_completion(status, &text),
                }
            }
        };
        Answer { latency: started.elapsed(), ..answer }
    }
}

impl Answer {
    fn failed(outcome: LlmOutcome) -> Self {
        Self { outcome, reply: String::new(), usage: None, latency: Duration::ZERO }
    }
}

/// A chat completion's text, finish reason and usage; anything else is `Malformed`.
fn read_completion(status: u16, text: &str) -> Answer {
    let malformed = |message: String| Answer::failed(LlmOutcome::Malformed { status, message });
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) if text.trim().is_empty() => return malformed(format!("empty body ({error})")),
        Err(error) => return malformed(format!("the body is not JSON: {error}")),
    };
    let Some(choice) = value.get("choices").and_then(Value::as_array).and_then(|c| c.first()) else {
        return malformed("no choices in the completion".into());
    };
    let Some(content) = choice.pointer("/message/content").and_then(Value::as_str) else {
        return malformed("the first choice has no message content".into());
    };
    let finish_reason = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    let usage = value
        .get("usage")
        .and_then(|u| Some((u.get("prompt_tokens")?.as_u64()?, u.get("completion_tokens")?.as_u64()?)));
    Answer {
        outcome: LlmOutcome::Replied { status, finish_reason },
        reply: content.to_owned(),
        usage,
        latency: Duration::ZERO,
    }
}

/// The `error.message` of an OpenAI-style error body, or the body itself, shortened.
fn error_message(text: &str) -> String {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.trim().to_owned());
    shorten(&message)
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Which transport failure an error of the HTTP client is, and its message.
fn transport_failure(error: &ureq::Error) -> (TransportFailure, String) {
    let failure = match error {
        ureq::Error::Timeout(_) => TransportFailure::Timeout,
        ureq::Error::HostNotFound => TransportFailure::Dns,
        ureq::Error::ConnectionFailed => TransportFailure::Refused,
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => TransportFailure::Refused,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => TransportFailure::Timeout,
            _ => TransportFailure::Other,
        },
        _ => TransportFailure::Other,
    };
    let message = match failure {
        TransportFailure::Refused => format!("connection refused ({error})"),
        TransportFailure::Dns => format!("the host name does not resolve ({error})"),
        TransportFailure::Timeout => format!("no answer within the timeout ({error})"),
        TransportFailure::Other => error.to_string(),
    };
    (failure, shorten(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_is_read_strictly() {
        let good = r#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
                       "usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
        let answer = read_completion(200, good);
        assert_eq!(answer.outcome, LlmOutcome::Replied { status: 200, finish_reason: "stop".into() });
        assert_eq!((answer.reply.as_str(), answer.usage), ("hi", Some((12, 3))));
        for (body, why) in [
            ("", "empty body"),
            ("{\"choices\": [", "not JSON"),
            ("{\"choices\": []}", "no choices"),
            ("{\"choices\": [{\"message\": {}}]}", "no message content"),
        ] {
            match read_completion(200, body).outcome {
                LlmOutcome::Malformed { message, .. } => assert!(message.contains(why), "{message}"),
                other => panic!("{body:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn no_listener_is_a_refused_connection_and_an_unknown_host_a_dns_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let roles = lineage_events::payload::LlmRoles {
            researcher: lineage_events::payload::RoleMode::Llm,
            debugger: lineage_events::payload::RoleMode::Llm,
            analyst: lineage_events::payload::RoleMode::Llm,
            judge: lineage_events::payload::RoleMode::Llm,
        };
        let config = LlmConfig {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            model: "m".into(),
            api_key_env: "LINEAGE_NO_SUCH_KEY".into(),
            temperature: 0.0,
            max_tokens: 16,
            timeout_s: 5,
            retries: 0,
            attempts: 1,
            json_mode: true,
            roles,
            mixed_share: 0.5,
            price_input_per_1k: None,
            price_output_per_1k: None,
            tokens_max: None,
            cost_max: None,
        };
        let endpoint = Endpoint::new(&config).unwrap();
        let parameters = LlmParameters { temperature: 0.0, max_tokens: 16, seed: 1, json_mode: true };
        let answer = endpoint.complete("m", &[], &parameters);
        assert!(
            matches!(&answer.outcome, LlmOutcome::Transport { failure: TransportFailure::Refused, .. }),
            "{:?}",
            answer.outcome
        );
        assert!(endpoint.probe().unwrap_err().contains("connection refused"));
        assert_eq!(transport_failure(&ureq::Error::HostNotFound).0, TransportFailure::Dns);
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(error_message(r#"{"error":{"message":"rate limited"}}"#), "rate limited");
        assert_eq!(error_message("  plain text  "), "plain text");
        assert!(error_message(&"x".repeat(1000)).chars().count() <= MESSAGE_CHARS_MAX + 1);
    }
}
