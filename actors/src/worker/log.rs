//! A worker's view of one campaign: the log read so far, folded into the same
//! [`CampaignState`] the campaign process keeps, and the one way a worker writes — an append
//! that holds only if a condition on the state still holds at the position it lands on.
//!
//! The append carries the position it expects, so no event can come between the state the
//! condition was checked against and the append: on a conflict the log is read again and the
//! condition checked again. That is what makes a claim, a renewal and a result decided by
//! construction rather than by timing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use foldhash::HashMap;
use lineage_events::limits::READ_BATCH_EVENTS;
use lineage_events::{
    Appended, CampaignId, EventId, EventStore, NewEvent, RunId, Seq, StoreError, Upcasters,
};
use lineage_replay::CampaignState;

use super::claims::{Stalls, sign_of_life};
use crate::messages::Decision;

/// Whether the events an append returned were written by this writer: the store takes events
/// already present at the expected position for a retry, which they are when this writer's
/// earlier try committed unacknowledged (the server restarted) — or not, when another writer
/// appended the same decision there first (two workers claiming one start, by the same key).
/// The writer tells them apart: an event is ours if its actor is.
pub(crate) async fn ours(
    store: &dyn EventStore,
    campaign: &CampaignId,
    upcasters: &Upcasters,
    done: Appended,
    events: &[NewEvent],
) -> Result<bool, StoreError> {
    if done.already_present == 0 {
        return Ok(true);
    }
    let present = store.read(campaign, done.first, done.already_present).await?;
    for (stored, event) in present.iter().zip(events) {
        if stored.decode(upcasters)?.actor != event.actor {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One campaign as a worker follows it.
pub struct CampaignLog {
    store: Arc<dyn EventStore>,
    /// The campaign.
    pub campaign: CampaignId,
    next: Seq,
    ids: HashSet<EventId>,
    upcasters: Upcasters,
    /// The fold of everything read.
    pub state: CampaignState,
    /// When this worker last saw a sign of life of each run (a start, a renewal, progress), by
    /// its own clock: a lease is judged by how long its holder has been silent to the observer,
    /// never by comparing two machines' clocks.
    pub seen: HashMap<RunId, Instant>,
    /// When this worker's reads of the store last stalled.
    pub stalls: Stalls,
}

impl CampaignLog {
    /// A campaign not read yet.
    pub fn new(store: Arc<dyn EventStore>, campaign: CampaignId) -> Self {
        Self {
            store,
            campaign,
            next: Seq(0),
            ids: HashSet::new(),
            upcasters: Upcasters::standard(),
            state: CampaignState::default(),
            seen: HashMap::default(),
            stalls: Stalls::default(),
        }
    }

    /// Reads and folds everything appended since the last read.
    pub async fn catch_up(&mut self) -> Result<(), StoreError> {
        loop {
            let started = self.stalls.begin();
            let batch = self.store.read(&self.campaign, self.next, READ_BATCH_EVENTS).await;
            self.stalls.read(started, batch.is_ok());
            let batch = batch?;
            if batch.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            for stored in batch {
                let event = stored.decode(&self.upcasters)?;
                self.next = event.seq.next();
                self.ids.insert(event.id);
                if let Some(run) = event.payload.known().and_then(sign_of_life) {
                    self.seen.insert(run.clone(), now);
                }
                self.state.apply(&event);
            }
        }
    }

    /// Appends `decisions` if `holds` is true of the state at the head they land on; whether
    /// they were appended (false: the condition failed, or the log already holds them — another
    /// writer recorded the same decision first).
    pub async fn append_if(
        &mut self,
        decisions: Vec<Decision>,
        holds: impl Fn(&CampaignState) -> bool,
    ) -> Result<bool, StoreError> {
        let events: Vec<NewEvent> = decisions.into_iter().map(|d| d.into_event(&self.campaign)).collect();
        loop {
            self.catch_up().await?;
            if !holds(&self.state) || events.iter().any(|e| self.ids.contains(&e.id)) {
                return Ok(false);
            }
            match self.store.append(&self.campaign, self.next, events.clone()).await {
                // Present already: another writer appended the same decision at this position
                // first (two workers claiming one start), which the store takes for a retry.
                Ok(done) => {
                    let ours = ours(&*self.store, &self.campaign, &self.upcasters, done, &events).await?;
                    self.catch_up().await?;
                    return Ok(ours);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
    }
}
