//! What every actor of one campaign shares: the resolved config and seed, the compute device,
//! the recorder's address and the novelty fingerprint cache.

use std::sync::Arc;

use actix::prelude::*;
use burn::tensor::Device;
use lineage_events::CampaignId;
use lineage_events::payload::{CampaignConfig, Stage, StageConfig};

use crate::error::{ActorError, FirstFailure};
use crate::llm::Llm;
use crate::messages::{Decision, Record};
use crate::novelty::Fingerprints;
use crate::recorder::Recorder;

/// Shared, read-only campaign context.
#[derive(Clone)]
pub struct Shared {
    /// The resolved config.
    pub config: CampaignConfig,
    /// The campaign seed.
    pub seed: u64,
    /// Where models run.
    pub device: Device,
    /// The log writer.
    pub recorder: Addr<Recorder>,
    /// Behavioural fingerprints by program.
    pub fingerprints: Fingerprints,
    /// The campaign.
    pub campaign: CampaignId,
    /// The first fatal error (the log could not be written); the campaign stops on it.
    pub failure: FirstFailure,
    /// The actor system, to stop it on a fatal error.
    pub system: System,
    /// What every program must fit before it is checked or trained: training at both stages'
    /// sizes within the memory one run may use ([`crate::config::Resources::per_run`]). Worked
    /// out once per campaign ([`crate::training::budget`] builds the stages' tasks).
    pub budget: Arc<lineage_arch::checks::Budget>,
    /// The model the LLM roles ask, when the config names one.
    pub llm: Option<Arc<Llm>>,
    /// When the recorder's reads of the store last stalled (leases are judged from then).
    pub stalls: crate::worker::claims::Stalls,
}

impl Shared {
    /// The config of a stage.
    pub fn stage(&self, stage: Stage) -> &StageConfig {
        match stage {
            Stage::Exploration => &self.config.exploration,
            Stage::Verification => &self.config.verification,
        }
    }

    /// Records decisions from a worker thread (sync actors), waiting until they are committed.
    /// A failure to write the log is fatal for the campaign: nothing may act on an unrecorded
    /// decision, so the process stops and `lineage resume` continues from what was committed.
    pub fn record_blocking(&self, decisions: Vec<Decision>) {
        self.record_new_blocking(decisions);
    }

    /// [`Shared::record_blocking`], saying whether every decision was new: `false` when the log
    /// already held one (a worker appended the same start first: the run is its) or the log
    /// could not be written.
    pub fn record_new_blocking(&self, decisions: Vec<Decision>) -> bool {
        let answer = futures_executor::block_on(self.recorder.send(Record(decisions)));
        match ActorError::recorded(answer) {
            Ok(recorded) => recorded.present == 0,
            Err(error) => {
                self.fail(error);
                false
            }
        }
    }

    /// Runs an actor's work; a panic stops the campaign with an error (what was recorded stays,
    /// `lineage resume` continues) instead of leaving the orchestrator waiting forever.
    pub fn guard(&self, actor: &str, work: impl FnOnce()) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            let message = lineage_arch::backend::panic_message(panic.as_ref()).to_owned();
            self.fail(ActorError::Panicked { actor: actor.to_owned(), message });
        }
    }

    /// Stops the campaign on an error that leaves nothing safe to do.
    pub fn fail(&self, error: ActorError) {
        self.failure.set(error);
        self.system.stop_with_code(1);
    }
}
