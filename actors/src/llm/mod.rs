//! The LLM roles: a researcher, debugger, analyst and judge played by a model behind an
//! OpenAI-compatible chat-completions API (docs/llm.md).
//!
//! - `client.rs`: one HTTP request and what it came to.
//! - `exchange.rs`: asking for one decision — retries, strict replies sent back with their
//!   error, every try recorded before it is used, the budget, the fallback.
//! - `prompts.rs` and `replies.rs`: what each role is told and how its reply is read.
//! - `cognition.rs`: the cognition base of mechanism summaries and the language reference the
//!   researcher's prompt includes.
//!
//! **Invariant**: a reply is an `LlmExchanged` event before anything acts on it, under a key
//! known before the request is sent; replay, resume and audit read replies from the log and
//! never call the model.

pub mod client;
pub mod cognition;
pub mod exchange;
pub mod prompts;
pub mod replies;

pub use exchange::{Asked, Llm, Question};
