//! An architecture's lineage, as projections of the state and the log: which architecture a
//! name means, its ancestors back to a seed baseline, and the events about it.

use std::collections::HashSet;

use lineage_events::payload::Payload;
use lineage_events::{ArchId, EventId, RecordedEvent};

use crate::state::CampaignState;

/// A name that does not pick out one architecture. Tell the user: the message says which
/// names would.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No architecture has this id or an id starting with it.
    #[error("no architecture {name:?} in this campaign")]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// Several architectures have ids starting with it, and none is exactly it.
    #[error("{name:?} is ambiguous: {}", join(candidates))]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The architectures it could mean, in proposal order.
        candidates: Vec<ArchId>,
    },
}

fn join(ids: &[ArchId]) -> String {
    ids.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
}

impl CampaignState {
    /// The architecture a name means: the one with exactly this id, else the only one whose id
    /// starts with it.
    pub fn resolve_arch(&self, name: &str) -> Result<&ArchId, ResolveError> {
        if let Some(id) = self.order.iter().find(|a| a.as_str() == name) {
            return Ok(id);
        }
        // An empty name begins every id: it names none.
        let mut matches = self.order.iter().filter(|a| !name.is_empty() && a.as_str().starts_with(name));
        match (matches.next(), matches.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => Err(ResolveError::Unknown { name: name.to_owned() }),
            (Some(_), Some(_)) => Err(ResolveError::Ambiguous {
                name: name.to_owned(),
                candidates: self.order.iter().filter(|a| a.as_str().starts_with(name)).cloned().collect(),
            }),
        }
    }

    /// The architecture and its ancestors, seed baseline first (panics if `arch` is not
    /// recorded: resolve a name first).
    pub fn ancestors(&self, arch: &ArchId) -> Vec<ArchId> {
        let mut chain = vec![arch.clone()];
        while let Some(parent) = self.archs[chain.last().expect("non-empty")].proposal.parent.clone() {
            chain.push(parent);
        }
        chain.reverse();
        chain
    }

    /// Positions in `events` (a whole log, in order) of the events about `arch`: those that
    /// correlate with it, the parent selection of its experiment (unless it is a seed baseline),
    /// the evidence its proposal cites, and every insight caused by an event that correlates
    /// with it (whether or not the insight steered a proposal; an insight that only cites it,
    /// as a running tally of every score does, is about the campaign, not this architecture).
    pub fn events_about(&self, events: &[RecordedEvent], arch: &ArchId) -> Vec<usize> {
        let proposal = &self.archs[arch].proposal;
        let selection_matters = proposal.parent.is_some();
        let mut correlated: HashSet<&EventId> = HashSet::new();
        (0..events.len())
            .filter(|&i| {
                let event = &events[i];
                if event.correlation.as_ref() == Some(arch) {
                    correlated.insert(&event.id);
                    return true;
                }
                // An insight comes after its cause.
                let insight_about_it = matches!(event.payload.known(), Some(Payload::InsightRecorded(_)))
                    && event.causation.as_ref().is_some_and(|id| correlated.contains(id));
                insight_about_it
                    || proposal.evidence.contains(&event.id)
                    || selection_matters
                        && matches!(event.payload.known(), Some(Payload::ParentSelected(p))
                            if p.experiment == proposal.experiment)
                    || llm_subject(event.payload.known()).is_some_and(|s| is_about(s, arch))
            })
            .collect()
    }
}

/// What a model's exchange or fallback is about: `e0004`, or `e0004/repair-1` for a repair.
fn llm_subject(payload: Option<&Payload>) -> Option<&str> {
    match payload? {
        Payload::LlmExchanged(p) => Some(&p.subject),
        Payload::LlmFellBack(p) => Some(&p.subject),
        _ => None,
    }
}

fn is_about(subject: &str, arch: &ArchId) -> bool {
    subject.strip_prefix(arch.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use lineage_events::{DecodedPayload, EventId, Seq, synthetic};

    use super::*;

    /// A state with the given architectures proposed, each from the one before it.
    fn state_of(names: &[&str]) -> CampaignState {
        let mut state = CampaignState::default();
        for (i, name) in names.iter().enumerate() {
            let mut proposal = synthetic::experiment(1).remove(1);
            let Payload::ArchitectureProposed(p) = &mut proposal else { panic!("{}", proposal.type_name()) };
            p.arch = ArchId::new(*name).unwrap();
            p.parent = i.checked_sub(1).map(|parent| ArchId::new(names[parent]).unwrap());
            state.apply_payload(Seq(i as u64), EventId::random(), DecodedPayload::Known(proposal));
        }
        state
    }

    #[test]
    fn a_name_resolves_exactly_then_by_unique_prefix() {
        let state = state_of(&["deltanet", "gated", "gated-deltanet", "mamba2"]);
        // Exact, even where it is also a prefix of another id.
        assert_eq!(state.resolve_arch("gated").unwrap().as_str(), "gated");
        assert_eq!(state.resolve_arch("gated-d").unwrap().as_str(), "gated-deltanet");
        assert_eq!(state.resolve_arch("m").unwrap().as_str(), "mamba2");
        let ambiguous = state.resolve_arch("g").unwrap_err();
        assert_eq!(
            ambiguous,
            ResolveError::Ambiguous {
                name: "g".into(),
                candidates: vec![ArchId::new("gated").unwrap(), ArchId::new("gated-deltanet").unwrap()]
            }
        );
        assert_eq!(ambiguous.to_string(), "\"g\" is ambiguous: gated, gated-deltanet");
        let unknown = state.resolve_arch("rwkv").unwrap_err();
        assert_eq!(unknown.to_string(), "no architecture \"rwkv\" in this campaign");
    }

    #[test]
    fn the_ancestors_run_from_the_seed_baseline() {
        let state = state_of(&["deltanet", "a-0001", "a-0002"]);
        let chain = state.ancestors(&ArchId::new("a-0002").unwrap());
        assert_eq!(chain.iter().map(ArchId::as_str).collect::<Vec<_>>(), ["deltanet", "a-0001", "a-0002"]);
        assert_eq!(state.ancestors(&ArchId::new("deltanet").unwrap()).len(), 1);
    }
}
