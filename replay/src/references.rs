//! What an event refers to that an earlier event must have recorded: its cause, the events it
//! cites, the architectures and the run it names. Defined once: replay checks an event's
//! subject before applying it ([`crate::CampaignState::check_subject`]), verify checks every
//! reference ([`crate::CampaignState::check_references`]).

use std::fmt;

use lineage_events::payload::{Payload, Proposer};
use lineage_events::{ArchId, DecodedPayload, EventId, RunId};

/// One thing an event refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference<'a> {
    /// The event it reacts to.
    Cause(EventId),
    /// An event it cites as evidence.
    Cited(&'a EventId),
    /// An architecture it is about or builds on.
    Arch(&'a ArchId),
    /// A training run it is about.
    Run(&'a RunId),
}

impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Cause(id) => write!(f, "cause {id}"),
            Reference::Cited(id) => write!(f, "cited event {id}"),
            Reference::Arch(arch) => write!(f, "architecture {arch}"),
            Reference::Run(run) => write!(f, "run {run}"),
        }
    }
}

/// The event's subject: the run or architecture that applying it looks up. A proposal has
/// none (it records its architecture); an event about a run looks up the run only.
pub fn subject(payload: &Payload) -> Option<Reference<'_>> {
    match (payload.run(), payload) {
        (Some(run), _) => Some(Reference::Run(run)),
        (None, Payload::ArchitectureProposed(_)) => None,
        (None, other) => other.arch().map(Reference::Arch),
    }
}

/// Everything an event refers to, in the order a check reports the first one missing: its
/// cause, the events it cites, the architectures it names (a proposal's or selection's parent
/// and references; otherwise the architecture it is about), its run. Includes [`subject`].
pub fn references(causation: Option<EventId>, payload: &DecodedPayload) -> Vec<Reference<'_>> {
    let mut out: Vec<Reference<'_>> = causation.map(Reference::Cause).into_iter().collect();
    let DecodedPayload::Known(payload) = payload else { return out };
    let cited = match payload {
        Payload::ArchitectureProposed(p) => p.evidence.as_slice(),
        Payload::AnalysisRecorded(p) => &p.cites,
        Payload::InsightRecorded(p) => &p.cites,
        Payload::LlmFellBack(p) => &p.exchanges,
        _ => &[],
    };
    out.extend(cited.iter().map(Reference::Cited));
    // The model's reply a decision used.
    let exchange = match payload {
        Payload::ArchitectureProposed(p) => match &p.proposer {
            Proposer::Llm { exchange, .. } => Some(exchange),
            _ => None,
        },
        Payload::RepairAttempted(p) => p.exchange.as_ref(),
        Payload::AnalysisRecorded(p) => p.exchange.as_ref(),
        Payload::FitnessAssigned(p) => p.judge.exchange.as_ref(),
        _ => None,
    };
    out.extend(exchange.map(Reference::Cited));
    match payload {
        Payload::ArchitectureProposed(p) => {
            out.extend(p.parent.iter().chain(&p.references).map(Reference::Arch))
        }
        Payload::ParentSelected(p) => {
            out.extend(std::iter::once(&p.parent).chain(&p.references).map(Reference::Arch))
        }
        other => out.extend(other.arch().map(Reference::Arch)),
    }
    out.extend(payload.run().map(Reference::Run));
    out
}

#[cfg(test)]
mod tests {
    use lineage_events::synthetic;

    use super::*;

    #[test]
    fn the_subject_is_among_the_references() {
        for payload in synthetic::one_of_each() {
            let decoded = DecodedPayload::Known(payload.clone());
            let all = references(Some(EventId::random()), &decoded);
            assert!(matches!(all[0], Reference::Cause(_)));
            if let Some(subject) = subject(&payload) {
                assert!(all.contains(&subject), "{}: {subject} not among {all:?}", payload.type_name());
            }
        }
    }

    #[test]
    fn a_proposal_refers_to_its_parent_and_references_not_to_itself() {
        let proposal = synthetic::experiment(3).remove(1);
        let Payload::ArchitectureProposed(p) = &proposal else { panic!("{}", proposal.type_name()) };
        assert_eq!(subject(&proposal), None);
        let decoded = DecodedPayload::Known(proposal.clone());
        let names: Vec<String> = references(None, &decoded).iter().map(ToString::to_string).collect();
        assert_eq!(names, ["architecture gated-deltanet", "architecture a-0011"]);
        assert!(!names.contains(&format!("architecture {}", p.arch)));
    }
}
