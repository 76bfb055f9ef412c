//! The model as the analyst's [`Voice`]: its judge scores the three sub-scores of ASI-Arch's
//! judge prompt, combined with the prompt's weights ([`crate::llm::replies::Scores::score`]: by construction, not by
//! the model),
//! and it writes the analysis text; each reply recorded, each failure a recorded fallback.

use lineage_events::EventId;
use lineage_events::payload::{FitnessComponents, JudgeScore, LlmRole};
use lineage_replay::CampaignState;

use super::{Trained, Voice};
use crate::llm::replies::{self, Written};
use crate::llm::{Asked, Llm, Question, prompts};
use crate::shared::Shared;

/// The campaign's model, speaking for the analyst where the config gives it the role.
pub struct Model<'a> {
    /// The model.
    pub llm: &'a Llm,
    /// Where its exchanges are recorded.
    pub shared: &'a Shared,
}

impl Model<'_> {
    fn ask<T>(
        &self,
        question: Question,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<(T, EventId), String> {
        let record = |decisions| self.shared.record_blocking(decisions);
        match self.llm.ask(question, &record, parse) {
            Asked::Used { value, exchange } => Ok((value, exchange)),
            Asked::FellBack { event, reason } => {
                Err(format!("the model gave no usable reply [{event}]: {reason}"))
            }
        }
    }
}

impl Voice for Model<'_> {
    fn judge(&self, state: &CampaignState, trained: &Trained<'_>) -> Option<Result<JudgeScore, String>> {
        if !self.llm.plays(LlmRole::Judge) {
            return None;
        }
        let question = Question {
            role: LlmRole::Judge,
            subject: trained.arch.to_string(),
            messages: prompts::judge(state, trained),
        };
        let (scores, exchange) = match self.ask(question, replies::scores) {
            Ok(asked) => asked,
            Err(why) => return Some(Err(why)),
        };
        Some(Ok(JudgeScore {
            score: scores.score(),
            performance: scores.performance,
            innovation: scores.innovation,
            complexity: scores.complexity,
            rationale: scores.rationale,
            exchange: Some(exchange),
        }))
    }

    fn write(
        &self,
        state: &CampaignState,
        trained: &Trained<'_>,
        fitness: (f64, &FitnessComponents),
    ) -> Option<Result<(Written, EventId), String>> {
        if !self.llm.plays(LlmRole::Analyst) {
            return None;
        }
        let question = Question {
            role: LlmRole::Analyst,
            subject: trained.arch.to_string(),
            messages: prompts::analyst(state, trained, fitness),
        };
        Some(self.ask(question, replies::written))
    }
}
