//! `lineage-replay`: projections (pure folds of a campaign's event log), replay, provenance and
//! verification.
//!
//! Not built yet: the projections arrive with the campaign (issue "The discovery campaign"), the
//! replay, provenance and audit commands after it. Until then the hash-chain verification lives
//! in `lineage_events::verify_campaign`. **Architecture invariant**: projections do no IO; they
//! are the same code the live actors use to hold their state.
