//! `lineage-arch`: the architecture language, its compiler to burn, the baselines, the tasks,
//! the pre-training checks and training.
//!
//! Not built yet (issue "The architecture language and real training with burn").
//! **Architecture invariant**: this crate never sees an event type.
