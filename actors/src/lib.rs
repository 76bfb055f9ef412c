//! `lineage-actors`: the actix actors and the campaign loop.
//!
//! Researcher, Engineer, Debugger, Trainer pool, Analyst and Orchestrator, one file each, plus
//! the Recorder (the one writer of the log) and a Monitor for observers. Actors coordinate
//! through committed events: a decision is recorded before anyone acts on it, and every actor
//! that keeps state keeps a [`lineage_replay::CampaignState`] folded from the log.
//!
//! What happens next is decided by a pure function, [`planner::plan`], that the orchestrator
//! only carries out; the insight protocol the analysts and the researcher share is
//! [`insights`]; training a recorded program is [`training`], shared with reproduction.
//!
//! **Architecture invariant**: only this crate reads the wall clock or spawns tasks on behalf of
//! a campaign. CPU-bound work (checks, repairs, training, analysis, proposals) runs on
//! `SyncArbiter` threads, never on the async arbiter that carries messages and log writes.

#![warn(missing_docs)]

pub mod analyst;
pub mod attach;
pub mod campaign;
pub mod config;
pub mod debugger;
pub mod engineer;
pub mod error;
pub mod fitness;
pub mod horizon;
pub mod host;
pub mod insights;
pub mod llm;
pub mod messages;
pub mod monitor;
pub mod mutate;
pub mod novelty;
pub mod orchestrator;
pub mod planner;
pub mod recorder;
pub mod repair;
pub mod researcher;
pub mod shared;
pub mod syntax;
#[cfg(test)]
mod testkit;
pub mod trainer;
pub mod training;
pub mod worker;

pub use campaign::{CampaignError, NewCampaign, Outcome, Start, run};
pub use error::ActorError;
pub use host::host;
