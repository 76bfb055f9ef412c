//! The replies of a campaign's model, read strictly: one JSON object with exactly the fields a
//! role asks for (a ```json fence around it is taken off), every score inside its range, every
//! text within its length. Anything else is an error in one sentence, which goes back to the
//! model. Pure functions of the reply text, so the analyst that used a reply and `verify`
//! re-deriving what it meant read it the same way. Parsing the programs in replies belongs to
//! the language (`lineage_actors::llm::replies`).

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The researcher's reply.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Why the change should help.
    pub motivation: String,
    /// The program text.
    pub program: String,
}

/// The debugger's reply.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// What is wrong and what the patch changes.
    pub diagnosis: String,
    /// The patched program.
    pub program: String,
}

/// The analyst's reply.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Written {
    /// One paragraph.
    pub summary: String,
    /// Individual findings.
    pub findings: Vec<String>,
}

/// The judge's reply: three sub-scores on 1-10 and why.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// Performance against the reference.
    pub performance: f64,
    /// Novelty of the mechanism.
    pub innovation: f64,
    /// Simplicity (10: simplest).
    pub complexity: f64,
    /// Why.
    pub rationale: String,
}

/// Longest motivation, diagnosis, summary or rationale kept, in characters.
const TEXT_CHARS_MAX: usize = 4000;

/// The text of a reply's JSON: the whole reply, or the one ```json block it consists of.
fn unfenced(reply: &str) -> Result<&str, String> {
    let text = reply.trim();
    let text = match text.strip_prefix("```json").or_else(|| text.strip_prefix("```")) {
        Some(fenced) => fenced.strip_suffix("```").ok_or("a code fence is not closed")?.trim(),
        None => text,
    };
    if text.is_empty() {
        return Err("the reply is empty".into());
    }
    Ok(text)
}

/// The JSON object of a reply.
fn object<T: DeserializeOwned>(reply: &str) -> Result<T, String> {
    let text = unfenced(reply)?;
    serde_json::from_str(text).map_err(|e| format!("the reply is not the JSON object asked for: {e}"))
}

fn text_field(name: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("the field `{name}` is empty"));
    }
    if value.chars().count() > TEXT_CHARS_MAX {
        return Err(format!("the field `{name}` is longer than {TEXT_CHARS_MAX} characters"));
    }
    Ok(())
}

/// What a fresh reply must also be, beyond what its role's reading asks: these rules came after
/// campaigns were recorded, so the model's live roles apply them and `verify` (which re-reads
/// recorded replies with the functions below) does not. The reply is a JSON object — serde
/// would also read a struct from an array of its fields in order — and none of its texts shows
/// nothing: white space, control, zero-width and bidirectional characters alone are empty.
pub fn admissible(reply: &str) -> Result<(), String> {
    let text = unfenced(reply)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the reply is not the JSON object asked for: {e}"))?;
    let serde_json::Value::Object(fields) = value else {
        return Err("the reply is not the JSON object asked for: it is not an object".into());
    };
    for (name, value) in &fields {
        let texts: Vec<&str> = match value {
            serde_json::Value::String(text) => vec![text],
            serde_json::Value::Array(items) => items.iter().filter_map(serde_json::Value::as_str).collect(),
            _ => continue,
        };
        if texts.iter().any(|t| !t.is_empty() && t.chars().all(blank)) {
            return Err(format!("the field `{name}` is empty: it shows nothing"));
        }
    }
    Ok(())
}

/// A character that shows nothing: white space, or one `lineage_events::visible::invisible`
/// names (control, zero-width and bidirectional characters).
fn blank(c: char) -> bool {
    c.is_whitespace() || lineage_events::visible::invisible(c)
}

/// The analyst's reply.
pub fn written(reply: &str) -> Result<Written, String> {
    let written: Written = object(reply)?;
    text_field("summary", &written.summary)?;
    if written.findings.len() > 20 {
        return Err("more than 20 findings".into());
    }
    for finding in &written.findings {
        text_field("findings", finding)?;
    }
    Ok(written)
}

/// The judge's reply, every sub-score a number in [1, 10].
pub fn scores(reply: &str) -> Result<Scores, String> {
    let scores: Scores = object(reply)?;
    for (name, value) in [
        ("performance", scores.performance),
        ("innovation", scores.innovation),
        ("complexity", scores.complexity),
    ] {
        if !(1.0..=10.0).contains(&value) {
            return Err(format!("`{name}` is {value}; every score is a number from 1 to 10"));
        }
    }
    text_field("rationale", &scores.rationale)?;
    Ok(scores)
}

/// The weights of performance, innovation and complexity in the judge's score: ASI-Arch's
/// judge prompt.
pub const JUDGE_WEIGHTS: (f64, f64, f64) = (0.3, 0.25, 0.45);

impl Scores {
    /// The judge's score: the sub-scores weighted by [`JUDGE_WEIGHTS`], by construction.
    pub fn score(&self) -> f64 {
        let (wp, wi, wc) = JUDGE_WEIGHTS;
        wp * self.performance + wi * self.innovation + wc * self.complexity
    }
}

/// The researcher's reply, its program not yet parsed.
pub fn proposal(reply: &str) -> Result<Proposal, String> {
    let proposal: Proposal = object(reply)?;
    text_field("motivation", &proposal.motivation)?;
    Ok(proposal)
}

/// The debugger's reply, its program not yet parsed.
pub fn patch(reply: &str) -> Result<Patch, String> {
    let patch: Patch = object(reply)?;
    text_field("diagnosis", &patch.diagnosis)?;
    Ok(patch)
}
