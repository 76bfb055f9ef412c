//! Reading a model's reply: the JSON object and its fields as `lineage_replay::replies` reads
//! them (so `verify` re-derives what a recorded reply meant with the same functions), and every
//! program in it parsed by the language's own parser. A fresh reply must also be
//! [`lineage_replay::replies::admissible`]; `verify` reads recorded ones with the `recorded_`
//! functions, as the build that recorded them did. Anything else is an error in one sentence,
//! which goes back to the model.

use lineage_arch::lang::{self, Program};
use lineage_replay::replies::admissible;
pub use lineage_replay::replies::{Patch, Proposal, Scores, Written};

/// The judge's reply.
pub fn scores(reply: &str) -> Result<Scores, String> {
    admissible(reply)?;
    lineage_replay::replies::scores(reply)
}

/// The analyst's reply.
pub fn written(reply: &str) -> Result<Written, String> {
    admissible(reply)?;
    lineage_replay::replies::written(reply)
}

/// A program of a reply, parsed; a syntax error is rendered with its line and column.
pub fn program(text: &str) -> Result<Program, String> {
    let parsed = lang::parse(text).map_err(|diagnostics| {
        let first = diagnostics.first().map(|d| d.render(text, "program")).unwrap_or_default();
        format!("the program does not parse:\n{first}")
    })?;
    // The campaign records the program printed canonically; one that does not read back
    // (which would be a bug of the printer) is refused here rather than trusted later.
    lang::parse(&lang::print(&parsed)).map_err(|_| {
        "the program does not read back from its canonical layout; write it differently".to_owned()
    })
}

/// The researcher's reply and its program.
pub fn proposal(reply: &str) -> Result<(Proposal, Program), String> {
    admissible(reply)?;
    recorded_proposal(reply)
}

/// A recorded researcher's reply and its program, read as the build that used it did.
pub fn recorded_proposal(reply: &str) -> Result<(Proposal, Program), String> {
    let proposal = lineage_replay::replies::proposal(reply)?;
    let parsed = program(&proposal.program)?;
    Ok((proposal, parsed))
}

/// The debugger's reply and its program.
pub fn patch(reply: &str) -> Result<(Patch, Program), String> {
    admissible(reply)?;
    recorded_patch(reply)
}

/// A recorded debugger's reply and its program, read as the build that used it did.
pub fn recorded_patch(reply: &str) -> Result<(Patch, Program), String> {
    let patch = lineage_replay::replies::patch(reply)?;
    let parsed = program(&patch.program)?;
    Ok((patch, parsed))
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
            // serde reads a struct from an array of its fields too; the reply is an object.
            (&serde_json::json!(["m", deltanet()]).to_string(), "it is not an object"),
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
        assert!(scores(r#"[7, 5.5, 6, "array form"]"#).unwrap_err().contains("it is not an object"));
        // verify reads a recorded reply as the build that used it did.
        assert!(lineage_replay::replies::scores(r#"[7, 5.5, 6, "array form"]"#).is_ok());
    }

    #[test]
    fn an_analysis_needs_a_summary() {
        assert!(written(r#"{"summary": "s", "findings": ["a", "b"]}"#).is_ok());
        assert!(written(r#"{"summary": "", "findings": []}"#).unwrap_err().contains("`summary` is empty"));
        let invisible = r#"{"summary": "\u200b\u200b \u202e", "findings": []}"#;
        assert!(written(invisible).unwrap_err().contains("`summary` is empty"), "shows nothing");
        let finding = r#"{"summary": "s", "findings": ["a", "\u200b"]}"#;
        assert!(written(finding).unwrap_err().contains("`findings` is empty"));
        assert!(written(r#"["summary", ["finding"]]"#).unwrap_err().contains("it is not an object"));
    }
}
