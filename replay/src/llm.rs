//! What a campaign's log says about its LLM exchanges: the spend per role (the ledger), what
//! `BudgetSpent` has accounted of it, the fallbacks, and each exchange's reply by event id — what
//! a resumed role reads instead of asking the model again.

use foldhash::{HashMap, HashSet};

use lineage_events::EventId;
use lineage_events::payload::{
    LlmConfig, LlmExchanged, LlmFellBack, LlmLedger, LlmOutcome, LlmRole, LlmSpend, ParentSelected, RoleMode,
};

/// A recorded reply, as a resumed role needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedReply {
    /// The role that asked.
    pub role: LlmRole,
    /// What about.
    pub subject: String,
    /// Whether the reply was recorded as rejected (did not parse).
    pub rejected: bool,
    /// What the request came to.
    pub outcome: LlmOutcome,
    /// The reply's text.
    pub reply: String,
}

/// The LLM part of a campaign's state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmState {
    /// Spend per role, summed over every `LlmExchanged`.
    pub spent: LlmLedger,
    /// Spend per role that `BudgetSpent` events have accounted for.
    pub accounted: LlmLedger,
    /// Each exchange's outcome and reply, by event id.
    pub replies: HashMap<EventId, RecordedReply>,
    /// The role and subject of each decision whose role fell back to the built-in rules.
    pub fell_back: HashSet<(LlmRole, String)>,
}

impl LlmState {
    pub(crate) fn exchanged(&mut self, id: EventId, exchange: LlmExchanged) {
        self.spent.entry(exchange.role).or_default().add(&LlmSpend::of(&exchange));
        let reply = RecordedReply {
            role: exchange.role,
            subject: exchange.subject,
            rejected: exchange.rejected.is_some(),
            outcome: exchange.outcome,
            reply: exchange.reply,
        };
        self.replies.insert(id, reply);
    }

    pub(crate) fn fell_back(&mut self, fallback: &LlmFellBack) {
        self.fell_back.insert((fallback.role, fallback.subject.clone()));
    }

    pub(crate) fn accounted(&mut self, ledger: &LlmLedger) {
        for (role, spend) in ledger {
            self.accounted.entry(*role).or_default().add(spend);
        }
    }

    /// The spend of every role together.
    pub fn total(&self) -> LlmSpend {
        let mut total = LlmSpend::default();
        for spend in self.spent.values() {
            total.add(spend);
        }
        total
    }

    /// What no `BudgetSpent` has accounted for yet, per role (what the next one records).
    pub fn unaccounted(&self) -> LlmLedger {
        self.spent
            .iter()
            .map(|(role, spend)| (*role, spend.since(&self.accounted.get(role).copied().unwrap_or_default())))
            .filter(|(_, spend)| spend.exchanges > 0)
            .collect()
    }
}

/// Whether the model proposes in the experiment of `selection`: always, never, or as a mixed
/// researcher's recorded draw says. The researcher decides with it, and verify checks with it.
pub fn model_proposes(config: &LlmConfig, selection: Option<&ParentSelected>) -> bool {
    match config.roles.researcher {
        RoleMode::Builtin => false,
        RoleMode::Llm => true,
        RoleMode::Mixed => selection.and_then(|s| s.proposer_draw.as_ref()).is_some_and(|d| d.llm),
    }
}
