//! `lineage-actors`: the actix actors (researcher, engineer, debugger, trainers, analysts,
//! orchestrator) and the campaign loop.
//!
//! Not built yet (issue "The discovery campaign on actix actors"). **Architecture invariant**:
//! only this crate reads the wall clock or spawns tasks on behalf of a campaign.
