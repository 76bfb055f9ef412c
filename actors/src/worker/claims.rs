//! Who may train which run, as pure functions of the state: what a worker may claim, whether a
//! claim still holds, and which leases have lapsed. The worker and the campaign's orchestrator
//! decide with the same functions; the log's positions decide races between them.

use std::time::{Duration, Instant};

use lineage_events::RunId;
use lineage_events::payload::{LeaseExpired, Payload, Stage};
use lineage_replay::CampaignState;

/// A read of the store slower than this is an outage (the store reconnecting, a server
/// restarting): no one could renew meanwhile, so silence is counted from its end.
pub const STALL: Duration = Duration::from_secs(1);

/// When the observer's last outage ended — or now, while a read has been waiting longer than
/// [`STALL`]: leases are judged by silence since the later of a run's last sign of life and
/// this. Shared by the task that reads the store and the one that judges.
#[derive(Clone, Debug, Default)]
pub struct Stalls(std::sync::Arc<std::sync::Mutex<StallState>>);

#[derive(Debug, Default)]
struct StallState {
    /// When the last slow or failed read returned.
    ended: Option<Instant>,
    /// When the read in progress started.
    reading_since: Option<Instant>,
}

impl Stalls {
    /// Notes that a read starts; pass what it returns to [`Stalls::read`].
    pub fn begin(&self) -> Instant {
        let now = Instant::now();
        self.0.lock().expect("never poisoned").reading_since = Some(now);
        now
    }

    /// Notes a read that started at `started` and just returned (successfully or not: a failed
    /// read is an outage too).
    pub fn read(&self, started: Instant, ok: bool) {
        let mut state = self.0.lock().expect("never poisoned");
        state.reading_since = None;
        if !ok || started.elapsed() > STALL {
            state.ended = Some(Instant::now());
        }
    }

    /// When the last outage ended; now, during one.
    pub fn last(&self) -> Option<Instant> {
        let state = self.0.lock().expect("never poisoned");
        match state.reading_since {
            Some(since) if since.elapsed() > STALL => Some(Instant::now()),
            _ => state.ended,
        }
    }
}

/// The run an event shows alive: a start, a renewal or progress.
pub fn sign_of_life(payload: &Payload) -> Option<&RunId> {
    match payload {
        Payload::TrainingStarted(p) => Some(&p.run),
        Payload::LeaseRenewed(p) => Some(&p.run),
        Payload::TrainingProgress(p) => Some(&p.run),
        _ => None,
    }
}

/// The runs a worker may claim, in the order it tries them: exploration before verification
/// (an experiment waits on its one run; verification comes once exploration is over anyway),
/// then by run id, the order the planner dispatches in.
pub fn claimable(state: &CampaignState) -> Vec<&RunId> {
    if state.finished.is_some() {
        return Vec::new();
    }
    let mut runs: Vec<(Stage, &RunId)> =
        state.runs.iter().filter(|(_, r)| r.claimable()).map(|(id, r)| (r.scheduled.stage, id)).collect();
    runs.sort();
    runs.into_iter().map(|(_, id)| id).collect()
}

/// Whether `worker`'s start `start` of `run` still holds the run: it is the run's latest start,
/// by that worker, not expired, and the run has no result.
pub fn holds(state: &CampaignState, run: &RunId, start: u32, worker: &str) -> bool {
    state.runs.get(run).and_then(|r| r.leased()).is_some_and(|c| c.start == start && c.holder == worker)
}

/// The workers' leases silent for longer than their lease, as `LeaseExpired` events.
/// `last_seen` says when the observer last saw each run alive (it may note a run first seen now
/// and answer now: a lease is never judged from before the observer was there); `skip` leaves
/// out the observer's own claims.
pub fn lapsed(
    state: &CampaignState,
    now: Instant,
    mut last_seen: impl FnMut(&RunId) -> Instant,
    skip: impl Fn(&RunId) -> bool,
) -> Vec<LeaseExpired> {
    let mut out: Vec<LeaseExpired> = state
        .runs
        .iter()
        .filter(|(id, _)| !skip(id))
        .filter_map(|(id, run)| {
            let claim = run.leased()?;
            let lease_ms = claim.lease_ms?;
            let silent = now.saturating_duration_since(last_seen(id));
            (silent > Duration::from_millis(lease_ms)).then(|| LeaseExpired {
                run: id.clone(),
                arch: run.scheduled.arch.clone(),
                start: claim.start,
                worker: claim.holder.clone(),
                lease_ms,
                silent_ms: silent.as_millis() as u64,
            })
        })
        .collect();
    out.sort_by(|a, b| a.run.cmp(&b.run));
    out
}

/// The key of an expiry: the run and its start, so two observers recording the same expiry
/// write one event.
pub fn expiry_key(expired: &LeaseExpired) -> String {
    format!("expire/{}/{}", expired.run, expired.start)
}

#[cfg(test)]
mod tests;
