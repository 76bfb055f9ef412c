//! Proposals by the model: whether it proposes in an experiment (always, or by a recorded draw
//! when the researcher is `mixed`), and the draft it gives — or the built-in one, when it gives
//! none it could use.

use super::{Draft, ProposalContext};
use crate::horizon::Seen;
use crate::llm::{Asked, Llm, Question, prompts, replies};
use crate::shared::Shared;
use lineage_arch::rng::Rng;
use lineage_events::ArchId;
use lineage_events::payload::{CampaignConfig, Edit, LlmRole, Proposer, ProposerDraw, RandomDraw, RoleMode};

/// The draw of a mixed researcher is one value below this.
const DRAW_RANGE: u64 = 1_000_000;

/// The draw that decides whether the model proposes in `experiment`, when the researcher is
/// `mixed` (none otherwise: the mode alone decides).
pub(super) fn draw(config: &CampaignConfig, seed: u64, experiment: u32) -> Option<ProposerDraw> {
    let llm = config.llm.as_ref().filter(|l| l.roles.researcher == RoleMode::Mixed)?;
    let stream = format!("proposer/{experiment}");
    let value = Rng::stream(seed, &stream).below(DRAW_RANGE);
    Some(ProposerDraw {
        draw: RandomDraw { seed, stream: stream.into(), values: vec![value] },
        share: llm.mixed_share,
        llm: (value as f64) < llm.mixed_share * DRAW_RANGE as f64,
    })
}

/// The model's draft of `arch`; `duplicate` is an earlier proposal of the experiment and the
/// architecture it duplicated; the prompt shows what the experiment sees (`seen`). Without a
/// usable reply, the built-in draft, whose motivation says so and cites the recorded fallback.
pub(super) fn draft(
    llm: &Llm,
    shared: &Shared,
    seen: &Seen<'_>,
    context: &ProposalContext<'_>,
    arch: &ArchId,
    duplicate: Option<&(ArchId, ArchId)>,
    builtin: impl FnOnce() -> Draft,
) -> Draft {
    let selection = context.selection;
    let (messages, entries) = prompts::researcher(
        seen.state,
        seen.insights,
        arch,
        &selection.parent,
        &selection.references,
        duplicate.map(|(a, b)| (a, b)),
    );
    let question = Question { role: LlmRole::Researcher, subject: arch.to_string(), messages };
    let record = |decisions| shared.record_blocking(decisions);
    let model = &llm.config().model;
    match llm.ask(question, &record, replies::proposal) {
        Asked::Used { value: (proposal, program), exchange } => {
            let (mut motivation, mut evidence) = context.preamble(&shared.config.selection);
            motivation.push_str(&format!(" {model} proposed [{exchange}]: {}", proposal.motivation.trim()));
            let shown = seen.insights.iter().rev().take(prompts::INSIGHTS_SHOWN).map(|i| i.event);
            evidence.extend(shown);
            evidence.dedup();
            Draft {
                program,
                proposer: Proposer::Llm { model: model.clone(), exchange },
                doc: format!(
                    "Proposed in experiment {} from {} by {model}.",
                    context.experiment, selection.parent
                ),
                edits: vec![Edit { kind: "llm".into(), detail: format!("written by {model}") }],
                motivation,
                evidence,
                draw: None,
                cognition: entries.iter().map(|e| e.id.clone()).collect(),
            }
        }
        Asked::FellBack { event, reason } => {
            let mut draft = builtin();
            draft.motivation = format!(
                "The model gave no usable proposal [{event}]: {reason}. Built-in operators instead. {}",
                draft.motivation
            );
            draft.evidence.push(event);
            draft
        }
    }
}
