//! `lineage-replay`: projections (pure folds of a campaign's event log) — the state every live
//! actor holds and that replay rebuilds, the ranking and fitness total, and an architecture's
//! lineage.
//!
//! **Architecture invariant**: projections do no IO and read no clock; they are the same code
//! the live actors use to hold their state, so live and replayed state cannot drift apart.

#![warn(missing_docs)]

mod digest;
pub mod discovery;
pub mod end;
pub mod fitness;
pub mod fold;
pub mod lineage;
pub mod llm;
pub mod policy;
pub mod references;
pub mod replies;
pub mod state;

pub use end::PastEnd;
pub use fold::{Folded, fold_log, fold_log_to_head};
pub use lineage::ResolveError;
pub use references::Reference;
pub use state::{ArchRecord, CampaignState, Claim, InsightRef, Phase, RunRecord, UnknownSubject};
