//! Decisions a model made, re-read from the replies they cite: the reply must be an earlier
//! `LlmExchanged` of the role and subject the decision is about, one the campaign used (it
//! parsed; not rejected), and it must say what the decision records — the judge's sub-scores
//! and rationale (and the score, their weighted sum), the analysis text, the motivation of a
//! proposal, the diagnosis of a repair. A rewritten decision, or one citing another reply,
//! disagrees. That a proposal's or repair's program is the reply's needs the language: `lineage
//! verify` checks it in the binary.

use lineage_events::EventId;
use lineage_events::payload::{LlmRole, Payload, Proposer, RoleMode, Stage};
use lineage_replay::CampaignState;
use lineage_replay::llm::{RecordedReply, model_proposes};
use lineage_replay::replies;

/// Checks the decision `payload` against the reply it cites; `Ok(true)` when it cites one. A
/// decision of a role the config gives the model that cites no reply must follow that role's
/// recorded fallback for it: the model was asked, or the log says why not.
pub(crate) fn check(state: &CampaignState, payload: &Payload) -> Result<bool, String> {
    if let Some((role, subject)) = unasked(state, payload) {
        let fell_back = state.llm.fell_back.contains(&(role, subject.clone()));
        return if fell_back {
            Ok(false)
        } else {
            Err(format!(
                "the {role} is the model's, but this decision about {subject} cites no reply and no fallback"
            ))
        };
    }
    match payload {
        Payload::ArchitectureProposed(p) => {
            let Proposer::Llm { exchange, .. } = &p.proposer else { return Ok(false) };
            let reply = cited(state, exchange, LlmRole::Researcher, p.arch.as_str())?;
            let proposal = replies::proposal(&reply.reply).map_err(|e| unreadable(exchange, e))?;
            agree(p.motivation.ends_with(proposal.motivation.trim()), "the proposal's motivation", exchange)
        }
        Payload::RepairAttempted(p) => {
            let Some(exchange) = &p.exchange else { return Ok(false) };
            let subject = format!("{}/repair-{}", p.arch, p.attempt);
            let reply = cited(state, exchange, LlmRole::Debugger, &subject)?;
            let patch = replies::patch(&reply.reply).map_err(|e| unreadable(exchange, e))?;
            agree(p.diagnosis == patch.diagnosis, "the repair's diagnosis", exchange)
        }
        Payload::AnalysisRecorded(p) => {
            let Some(exchange) = &p.exchange else { return Ok(false) };
            let reply = cited(state, exchange, LlmRole::Analyst, p.arch.as_str())?;
            let written = replies::written(&reply.reply).map_err(|e| unreadable(exchange, e))?;
            let same = p.summary == written.summary && p.findings == written.findings;
            agree(same && p.cites.contains(exchange), "the analysis text", exchange)
        }
        Payload::FitnessAssigned(p) => {
            let Some(exchange) = &p.judge.exchange else { return Ok(false) };
            let reply = cited(state, exchange, LlmRole::Judge, p.arch.as_str())?;
            let scores = replies::scores(&reply.reply).map_err(|e| unreadable(exchange, e))?;
            let j = &p.judge;
            let same = [
                (j.performance, scores.performance),
                (j.innovation, scores.innovation),
                (j.complexity, scores.complexity),
                (j.score, scores.score()),
            ]
            .iter()
            .all(|(recorded, derived)| recorded.to_bits() == derived.to_bits());
            agree(same && j.rationale == scores.rationale, "the judge's scores and rationale", exchange)
        }
        _ => Ok(false),
    }
}

/// The role and subject of a decision the config gives the model that cites no reply: a
/// proposal (when the researcher is the model's, or a mixed researcher drew it), a repair, the
/// analyst's analysis, a judged fitness (not the reference's: it is never asked).
fn unasked(state: &CampaignState, payload: &Payload) -> Option<(LlmRole, String)> {
    let llm = state.started.as_ref()?.config.llm.as_ref()?;
    let plays = |role: LlmRole| llm.roles.of(role) != RoleMode::Builtin;
    match payload {
        Payload::ArchitectureProposed(p)
            if !matches!(p.proposer, Proposer::Llm { .. } | Proposer::Baseline { .. }) =>
        {
            let selection = state.selections.get(&p.experiment).map(|(s, _)| s);
            model_proposes(llm, selection).then(|| (LlmRole::Researcher, p.arch.to_string()))
        }
        Payload::RepairAttempted(p) if p.exchange.is_none() && plays(LlmRole::Debugger) => {
            Some((LlmRole::Debugger, format!("{}/repair-{}", p.arch, p.attempt)))
        }
        Payload::AnalysisRecorded(p)
            if p.exchange.is_none() && p.analyst == "analyst" && plays(LlmRole::Analyst) =>
        {
            Some((LlmRole::Analyst, p.arch.to_string()))
        }
        Payload::FitnessAssigned(p)
            if p.judge.exchange.is_none()
                && plays(LlmRole::Judge)
                && p.arch != p.reference
                && p.stage == Stage::Exploration =>
        {
            Some((LlmRole::Judge, p.arch.to_string()))
        }
        _ => None,
    }
}

/// The reply `exchange` names: an earlier exchange of `role` about `subject` that was used.
fn cited<'s>(
    state: &'s CampaignState,
    exchange: &EventId,
    role: LlmRole,
    subject: &str,
) -> Result<&'s RecordedReply, String> {
    let reply = state
        .llm
        .replies
        .get(exchange)
        .ok_or_else(|| format!("cites {exchange}, which is no earlier LlmExchanged"))?;
    if reply.role != role || reply.subject != subject {
        return Err(format!(
            "cites {exchange}, the {} exchange about {}, not a {role} exchange about {subject}",
            reply.role, reply.subject
        ));
    }
    if !reply.outcome.replied() || reply.rejected {
        return Err(format!("cites {exchange}, a reply that was not used ({})", reply.outcome.summary()));
    }
    Ok(reply)
}

fn unreadable(exchange: &EventId, error: String) -> String {
    format!("cites {exchange}, whose reply does not read as the role's answer: {error}")
}

fn agree(holds: bool, what: &str, exchange: &EventId) -> Result<bool, String> {
    if holds { Ok(true) } else { Err(format!("{what} is not what the reply it cites ({exchange}) says")) }
}
