//! Part of consistency: who held each run when. A run is the campaign process's or a worker's
//! from its `TrainingStarted`; a worker keeps it by renewing its lease, and loses it when anyone
//! records `LeaseExpired`. Checked against the state before each event, so a log is consistent
//! only if:
//!
//! - a run starts only when it is not done and no worker's unexpired lease holds it;
//! - a renewal names the run's current start, by the worker that holds it, before it expired;
//! - an expiry names the current, leased, unexpired start of a run not done;
//! - a run has one result, and it comes from a start whose lease had not expired.
//!
//! The last rule is what "a result is never counted twice" rests on: a worker stopped past its
//! lease finds its start expired when it wakes, and records nothing.

use lineage_events::RunId;
use lineage_events::payload::Payload;
use lineage_replay::{CampaignState, Claim, RunRecord};

/// Checks an event about a run's claims and results; `Ok(true)` for a lease event (a leased
/// start, a renewal, an expiry), `Ok(false)` for anything else, checked or not.
pub(crate) fn check(state: &CampaignState, payload: &Payload) -> Result<bool, String> {
    let run = |id: &RunId| state.runs.get(id).map(|r| &**r);
    match payload {
        Payload::TrainingStarted(p) => {
            let Some(r) = run(&p.run) else { return Ok(false) };
            not_done(r, &p.run, "started")?;
            if let Some(claim) = r.leased() {
                return Err(format!(
                    "run {} started by {} while {} held it (start {}, lease not expired)",
                    p.run, p.trainer, claim.holder, claim.start
                ));
            }
            Ok(p.lease_ms.is_some())
        }
        Payload::LeaseRenewed(p) => {
            let Some(r) = run(&p.run) else { return Ok(true) };
            not_done(r, &p.run, "renewed")?;
            let claim = current(r, &p.run, p.start, "a renewal")?;
            if claim.holder != p.worker {
                return Err(format!(
                    "{} renews start {} of run {}, held by {}",
                    p.worker, p.start, p.run, claim.holder
                ));
            }
            if claim.expired {
                return Err(format!(
                    "{} renews start {} of run {} after it expired",
                    p.worker, p.start, p.run
                ));
            }
            Ok(true)
        }
        Payload::LeaseExpired(p) => {
            let Some(r) = run(&p.run) else { return Ok(true) };
            not_done(r, &p.run, "released")?;
            let claim = current(r, &p.run, p.start, "an expiry")?;
            if claim.lease_ms.is_none() || claim.expired {
                let why = if claim.expired { "already expired" } else { "not leased" };
                return Err(format!("expires start {} of run {}, which is {why}", p.start, p.run));
            }
            Ok(true)
        }
        Payload::TrainingFinished(p) => result(run(&p.run), &p.run).map(|_| false),
        Payload::TrainingFailed(p) => result(run(&p.run), &p.run).map(|_| false),
        _ => Ok(false),
    }
}

fn not_done(r: &RunRecord, run: &RunId, what: &str) -> Result<(), String> {
    if r.is_done() { Err(format!("run {run} {what} after its result")) } else { Ok(()) }
}

fn current<'a>(r: &'a RunRecord, run: &RunId, start: u32, what: &str) -> Result<&'a Claim, String> {
    r.claim.as_ref().filter(|c| c.start == start).ok_or_else(|| {
        let latest = r.claim.as_ref().map_or("none".to_owned(), |c| c.start.to_string());
        format!("{what} of start {start} of run {run}, whose latest start is {latest}")
    })
}

fn result(r: Option<&RunRecord>, run: &RunId) -> Result<(), String> {
    let Some(r) = r else { return Ok(()) };
    not_done(r, run, "has a second result:")?;
    match &r.claim {
        Some(claim) if claim.expired => Err(format!(
            "a result for run {run} from start {} by {}, whose lease had expired: it must not count",
            claim.start, claim.holder
        )),
        _ => Ok(()),
    }
}
