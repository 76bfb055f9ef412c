//! The leases of runs trained by workers (`lineage worker`): a worker claims a run with a
//! `TrainingStarted` that carries a lease, keeps it with `LeaseRenewed` (or progress), and
//! anyone who sees it silent for longer than the lease records `LeaseExpired`, after which the
//! run may start again. A result counts only from the run's current, unexpired start.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::ids::{ArchId, RunId};

/// A worker still holds its claim on a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRenewed {
    /// The run.
    pub run: RunId,
    /// What it trains.
    pub arch: ArchId,
    /// Which start of the run the lease belongs to (0 for its first `TrainingStarted`).
    pub start: u32,
    /// The worker holding it.
    pub worker: CompactString,
}

/// A worker's claim on a run lapsed: no sign of life for longer than its lease. The run may
/// start again; a result from the lapsed start does not count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseExpired {
    /// The run.
    pub run: RunId,
    /// What it trains.
    pub arch: ArchId,
    /// Which start of the run lapsed (0 for its first `TrainingStarted`).
    pub start: u32,
    /// The worker that held it.
    pub worker: CompactString,
    /// Its lease.
    pub lease_ms: u64,
    /// How long the observer that records this saw no sign of life, by its own clock.
    pub silent_ms: u64,
}
