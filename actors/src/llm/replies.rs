//! Reading a model's reply, strictly: one JSON object with exactly the fields a role asks for
//! (a ```json fence around it is taken off), every program parsed by the language's own parser,
//! every score inside its range. Anything else is an error in one sentence, which goes back to
//! the model. These are pure functions of the reply text, so replay and audit re-derive what a
//! recorded reply meant.

use lineage_arch::lang::{self, Program};
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

/// The JSON object of a reply: the whole text, or the one ```json block it consists of.
fn object<T: DeserializeOwned>(reply: &str) -> Result<T, String> {
    let text = reply.trim();
    let text = match text.strip_prefix("```json").or_else(|| text.strip_prefix("```")) {
        Some(fenced) => fenced.strip_suffix("```").ok_or("a code fence is not closed")?.trim(),
        None => text,
    };
    if text.is_empty() {
        return Err("the reply is empty".into());
    }
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

/// A program of a reply, parsed; a syntax error is rendered with its line and column.
pub fn program(text: &str) -> Result<Program, String> {
    lang::parse(text).map_err(|diagnostics| {
        let first = diagnostics.first().map(|d| d.render(text, "program")).unwrap_or_default();
        format!("the program does not parse:\n{first}")
    })
}

/// The researcher's reply and its program.
pub fn proposal(reply: &str) -> Result<(Proposal, Program), String> {
    let proposal: Proposal = object(reply)?;
    text_field("motivation", &proposal.motivation)?;
    let parsed = program(&proposal.program)?;
    Ok((proposal, parsed))
}

/// The debugger's reply and its program.
pub fn patch(reply: &str) -> Result<(Patch, Program), String> {
    let patch: Patch = object(reply)?;
    text_field("diagnosis", &patch.diagnosis)?;
    let parsed = program(&patch.program)?;
    Ok((patch, parsed))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn deltanet() -> &'static str {
        lineage_arch::baselines::get("deltanet").expect("a baseline").source
    }

    fn reply(motivation: &str, program: &str) -> String {
        serde_json::json!({"motivation": motivation, "program": program}).to_string()
    }

    #[test]
    fn a_proposal_needs_both_fields_and_a_program_that_parses() {
        let (p, _) = proposal(&reply("gate the update", deltanet())).unwrap();
        assert_eq!(p.motivation, "gate the update");
        let fenced = format!("```json\n{}\n```", reply("m", deltanet()));
        assert!(proposal(&fenced).is_ok(), "one fenced JSON block is read");
        let errors = [
            ("", "empty"),
            ("Here is my idea: gate it.", "not the JSON object"),
            (r#"{"motivation": "m"}"#, "missing field `program`"),
            (&reply("  ", deltanet()), "`motivation` is empty"),
            (&reply("m", "mixer {"), "does not parse"),
            (r#"{"motivation": "m", "program": "x", "extra": 1}"#, "unknown field"),
            ("```json\n{}", "not closed"),
        ];
        for (text, why) in errors {
            let error = proposal(text).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }

    #[test]
    fn scores_must_lie_in_one_to_ten() {
        let ok = r#"{"performance": 7, "innovation": 5.5, "complexity": 3, "rationale": "r"}"#;
        assert_eq!(scores(ok).unwrap().innovation, 5.5);
        let high = r#"{"performance": 11, "innovation": 5, "complexity": 3, "rationale": "r"}"#;
        assert!(scores(high).unwrap_err().contains("`performance` is 11"));
        let text = r#"{"performance": "high", "innovation": 5, "complexity": 3, "rationale": "r"}"#;
        assert!(scores(text).is_err());
    }

    #[test]
    fn an_analysis_needs_a_summary() {
        assert!(written(r#"{"summary": "s", "findings": ["a", "b"]}"#).is_ok());
        assert!(written(r#"{"summary": "", "findings": []}"#).unwrap_err().contains("`summary` is empty"));
    }
}
