//! The prompts of the four roles, built from the campaign's state: what the model is told and
//! the exact JSON it must answer with ([`super::replies`] reads it). docs/llm.md shows them in
//! full. Everything here is a pure function of the state, so a prompt is the same however
//! often it is built.

use lineage_events::ArchId;
use lineage_events::payload::{
    ChatMessage, CheckOutcome, Comparison, FitnessComponents, InsightRecorded, TrainingMetrics,
};
use lineage_replay::{CampaignState, InsightRef};

use super::cognition::{self, Entry};

/// Insights shown to the researcher: the latest ones.
pub const INSIGHTS_SHOWN: usize = 5;
/// Cognition entries shown to the researcher.
pub const COGNITION_SHOWN: usize = 3;

const SYSTEM: &str = "You are part of lineage, an autonomous research campaign that discovers new \
linear-attention token mixers, in the manner of ASI-Arch. Programs are written in lineage's \
architecture language. Every program is checked (shapes, causality: no position may read a \
later one, sub-quadratic cost), then trained at a small size on associative recall, reasoning \
and language-modelling tasks, and scored against baselines. Answer with one JSON object with \
exactly the fields asked for, and nothing else.";

fn system() -> ChatMessage {
    message("system", SYSTEM.to_owned())
}

fn message(role: &str, content: String) -> ChatMessage {
    ChatMessage { role: role.into(), content }
}

/// A program with line numbers, so diagnostics can point into it.
fn numbered(program: &str) -> String {
    program.lines().enumerate().map(|(i, line)| format!("{:>3} | {line}\n", i + 1)).collect()
}

/// An architecture's measured results, one line.
pub fn results(metrics: &TrainingMetrics) -> String {
    let tasks: Vec<String> = metrics
        .tasks
        .iter()
        .map(|(task, m)| match (m.accuracy, m.loss) {
            (Some(a), _) => format!("{task} accuracy {a:.3}"),
            (None, Some(l)) => format!("{task} loss {l:.3}"),
            (None, None) => task.clone(),
        })
        .collect();
    format!(
        "{}; mean accuracy {:.3}, held-out loss {:.3}, {} parameters",
        tasks.join(", "),
        metrics.benchmark_mean,
        metrics.loss_val_final,
        metrics.params
    )
}

/// What the state knows of one architecture: fitness, results, program, motivation, analysis.
fn brief(state: &CampaignState, id: &ArchId, with_program: bool) -> String {
    let record = &state.archs[id];
    let mut text = format!("### {id}\n");
    if let Some((fitness, _)) = &record.fitness {
        text.push_str(&format!("Fitness {:.3}.\n", fitness.total));
    }
    if let Some(metrics) = state.metrics(id) {
        text.push_str(&format!("Results: {}.\n", results(metrics)));
    }
    if !record.is_baseline() {
        text.push_str(&format!("Motivation: {}\n", record.proposal.motivation));
    }
    if let Some((_, summary)) = record.analyses.last() {
        text.push_str(&format!("Analysis: {summary}\n"));
    }
    if with_program {
        text.push_str(&format!("```\n{}```\n", record.program()));
    }
    text
}

fn insight_line(insight: &InsightRecorded) -> String {
    format!("- {} ({}): {}", insight.analyst, insight.kind, insight.text)
}

/// The researcher's prompt for proposal `arch` from `parent`, with `references` and the latest
/// of `insights` (those the experiment sees, in log order); `duplicate` names an earlier
/// proposal of this experiment that duplicated another architecture. Returns the messages and
/// the cognition entries they include.
pub fn researcher(
    state: &CampaignState,
    insights: &[InsightRef],
    arch: &ArchId,
    parent: &ArchId,
    references: &[ArchId],
    duplicate: Option<(&ArchId, &ArchId)>,
) -> (Vec<ChatMessage>, Vec<&'static Entry>) {
    let parent_record = &state.archs[parent];
    let analysis = parent_record.analyses.last().map_or("", |(_, s)| s.as_str());
    // The parent's own mechanisms outweigh its analysis in a keyword count (a program names
    // its operations many times), so the analysis gets a place of its own: what it found may
    // point at a mechanism the parent lacks.
    let mut ranked = cognition::relevant(parent_record.program(), analysis, COGNITION_SHOWN);
    let mut entries: Vec<&Entry> = ranked.drain(..ranked.len().min(COGNITION_SHOWN - 1)).collect();
    let from_analysis = cognition::relevant("", analysis, COGNITION_SHOWN);
    let extra = from_analysis.into_iter().chain(ranked).find(|e| !entries.iter().any(|x| x.id == e.id));
    entries.extend(extra);
    let mut user = String::new();
    user.push_str("## The architecture language\n\n");
    user.push_str(cognition::LANGUAGE_REFERENCE);
    user.push_str("\n\n## The parent\n\n");
    user.push_str(&brief(state, parent, true));
    if !references.is_empty() {
        user.push_str("\n## References: other architectures of the campaign\n\n");
        for reference in references {
            user.push_str(&brief(state, reference, true));
        }
    }
    let insights: Vec<String> =
        insights.iter().rev().take(INSIGHTS_SHOWN).map(|i| insight_line(&i.insight)).collect();
    if !insights.is_empty() {
        user.push_str("\n## What the campaign's analysts found (latest first)\n\n");
        user.push_str(&insights.join("\n"));
        user.push('\n');
    }
    if !entries.is_empty() {
        user.push_str("\n## Related research\n\n");
        for entry in &entries {
            user.push_str(&entry.render());
            user.push('\n');
        }
    }
    if let Some((earlier, original)) = duplicate {
        user.push_str(&format!(
            "\nYour earlier proposal {earlier} in this experiment was a duplicate of {original}: propose \
             something that differs in mechanism, not only in layout.\n"
        ));
    }
    user.push_str(&format!(
        "\n## Your task\n\nPropose architecture {arch}: change the parent's token mixer in one idea that \
         the evidence above suggests will raise recall accuracy or lower language-modelling loss, \
         keeping it causal and sub-quadratic. Reply with one JSON object:\n\
         {{\"motivation\": \"what you change and why it should help, citing the evidence (at most 150 words)\", \
         \"program\": \"the complete new program, in the architecture language\"}}\n"
    ));
    (vec![system(), message("user", user)], entries)
}

/// The debugger's prompt: the failing program with line numbers and its located diagnostics.
pub fn debugger(arch: &ArchId, program: &str, failures: &[CheckOutcome]) -> Vec<ChatMessage> {
    let mut diagnostics = String::new();
    for failure in failures {
        for d in &failure.diagnostics {
            diagnostics.push_str(&format!(
                "- check {} failed at line {}, column {}: {} [{}]{}\n",
                failure.check,
                d.line,
                d.column,
                d.message,
                d.class,
                d.suggestion.as_ref().map_or(String::new(), |s| format!(" (suggestion: {s})"))
            ));
        }
        if failure.diagnostics.is_empty() {
            diagnostics.push_str(&format!("- check {} failed\n", failure.check));
        }
    }
    let user = format!(
        "## The architecture language\n\n{}\n\n## The failing program of {arch}\n\n```\n{}```\n\n\
         ## What the checks found\n\n{diagnostics}\n## Your task\n\nRepair the program so that every check \
         passes, changing as little as possible and keeping its idea. Reply with one JSON object:\n\
         {{\"diagnosis\": \"what is wrong and what you change (at most 80 words)\", \"program\": \"the complete \
         repaired program\"}}\n",
        cognition::LANGUAGE_REFERENCE,
        numbered(program),
    );
    vec![system(), message("user", user)]
}

/// What the analyst and the judge are shown of a trained architecture.
pub struct Trained<'a> {
    /// The architecture.
    pub arch: &'a ArchId,
    /// Its results.
    pub metrics: &'a TrainingMetrics,
    /// Comparisons with parent, grandparent, siblings and baselines, as computed.
    pub comparisons: &'a [Comparison],
    /// The reference baseline and its results.
    pub reference: (&'a ArchId, &'a TrainingMetrics),
    /// Structural distance from the nearest seed baseline (0..1).
    pub distance_from_baselines: f64,
}

fn comparisons(compared: &[Comparison]) -> String {
    compared
        .iter()
        .map(|c| {
            let tasks: Vec<String> = c.task_deltas.iter().map(|(t, d)| format!("{t} {d:+.3}")).collect();
            format!(
                "- vs {:?} {}: held-out loss {:+.3}; {}\n",
                c.relation,
                c.against,
                c.loss_delta,
                tasks.join(", ")
            )
            .to_lowercase()
        })
        .collect()
}

fn trained_brief(state: &CampaignState, t: &Trained<'_>) -> String {
    let record = &state.archs[t.arch];
    format!(
        "## {arch}\n\nMotivation: {motivation}\n\n```\n{program}```\n\nResults: {results}.\n\n\
         Reference baseline {reference}: {reference_results}.\n\nStructural distance from the nearest seed \
         baseline: {distance:.2} (0 = the same structure, 1 = nothing shared).\n\n\
         Differences (this architecture minus the other): held-out loss (lower is better), then per task \
         the accuracy difference (higher is better; for lm, the loss difference: lower is better):\n{compared}",
        arch = t.arch,
        motivation = if record.is_baseline() { "a seed baseline" } else { &record.proposal.motivation },
        program = record.program(),
        results = results(t.metrics),
        reference = t.reference.0,
        reference_results = results(t.reference.1),
        distance = t.distance_from_baselines,
        compared = comparisons(t.comparisons),
    )
}

/// The analyst's prompt.
pub fn analyst(
    state: &CampaignState,
    trained: &Trained<'_>,
    fitness: (f64, &FitnessComponents),
) -> Vec<ChatMessage> {
    let user = format!(
        "{}\nFitness {:.3} (loss term {:.3}, benchmark term {:.3}, judge term {:.3}).\n\n## Your task\n\n\
         Analyse this result for the researcher who proposes the next architectures: what the change did, \
         on which tasks, against the parent, siblings and baselines, and what to try or avoid next. Reply with \
         one JSON object:\n{{\"summary\": \"one paragraph (at most 120 words)\", \"findings\": [\"one finding per \
         string, at most 6\"]}}\n",
        trained_brief(state, trained),
        fitness.0,
        fitness.1.loss_term,
        fitness.1.benchmark_term,
        fitness.1.judge_term,
    );
    vec![system(), message("user", user)]
}

/// The judge's prompt: ASI-Arch's qualitative score, three criteria on 1-10 with the
/// reference baseline at 5 on each.
pub fn judge(state: &CampaignState, trained: &Trained<'_>) -> Vec<ChatMessage> {
    let user = format!(
        "{}\n## Your task\n\nJudge {arch} against the reference baseline {reference}, which scores 5 on every \
         criterion. Score from 1 to 10:\n\
         - performance (weight 0.3): its results against the reference;\n\
         - innovation (weight 0.25): how new and well-founded the mechanism is, not how different the text is;\n\
         - complexity (weight 0.45): simplicity and efficiency, 10 for the simplest.\n\
         Reply with one JSON object:\n{{\"performance\": number, \"innovation\": number, \"complexity\": number, \
         \"rationale\": \"why, at most 80 words\"}}\n",
        trained_brief(state, trained),
        arch = trained.arch,
        reference = trained.reference.0,
    );
    vec![system(), message("user", user)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_match_diagnostics() {
        assert_eq!(numbered("a\nb"), "  1 | a\n  2 | b\n");
    }
}
