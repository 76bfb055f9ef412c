//! Catch-up-then-live reading of one campaign, with the hash chain checked on the way.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{EventStore, Head, LogEnd, StoreError};
use crate::chain::ChainVerifier;
use crate::envelope::StoredEvent;
use crate::hash::Hash;
use crate::ids::{CampaignId, Seq};
use crate::limits::READ_BATCH_EVENTS;

/// Follows a campaign from a position: first every stored event, then each new one as it is
/// committed, in order, with no gap and no duplicate.
///
/// The log is the source of truth: the store's change signal only says *when* to read again, so
/// a lost or spurious signal can delay an event but never skip or repeat one. Every event
/// delivered has passed the chain check ([`ChainVerifier`]), so a follower never acts on an
/// event that was edited after it was written.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    campaign: CampaignId,
    verifier: Option<ChainVerifier>,
    next: Seq,
    buffer: VecDeque<StoredEvent>,
    end: LogEnd,
}

impl Subscription {
    /// Follows `campaign` from position `from` (0 for everything).
    pub fn new(store: Arc<dyn EventStore>, campaign: CampaignId, from: Seq) -> Self {
        Self { store, campaign, verifier: None, next: from, buffer: VecDeque::new(), end: LogEnd::default() }
    }

    /// The position of the next event this subscription will deliver.
    pub fn position(&self) -> Seq {
        self.next
    }

    /// The next event, waiting for it to be committed if necessary.
    pub async fn next(&mut self) -> Result<StoredEvent, StoreError> {
        loop {
            // Take the change counter *before* reading, so an append that lands between the
            // read and the wait still wakes us.
            let mut changes = self.store.changes();
            changes.borrow_and_update();
            if let Some(event) = self.try_next().await? {
                return Ok(event);
            }
            if changes.changed().await.is_err() {
                return Err(StoreError::Unavailable {
                    location: self.store.location(),
                    message: "the store was closed".into(),
                });
            }
        }
    }

    /// The next event if one is already committed, without waiting.
    pub async fn try_next(&mut self) -> Result<Option<StoredEvent>, StoreError> {
        if self.buffer.is_empty() {
            self.fill().await?;
        }
        let Some(event) = self.buffer.pop_front() else { return Ok(None) };
        let verifier = match &mut self.verifier {
            Some(verifier) => verifier,
            None => {
                let start = self.start_verifier().await?;
                self.verifier.insert(start)
            }
        };
        verifier.check(&event)?;
        self.next = event.seq.next();
        Ok(Some(event))
    }

    /// Whether the events delivered so far reach the store's head, once [`Self::try_next`] has
    /// found nothing more: true when they end where the head says, false when events were
    /// committed since (deliver them, then ask again). A head counting events that are not there,
    /// or events past the head, fail by the rule of [`LogEnd`]. Starting past the head (`from`
    /// beyond the end) delivers nothing and is at the head.
    pub async fn at_head(&mut self) -> Result<bool, StoreError> {
        if self.verifier.is_none() {
            let head = self.store.head(&self.campaign).await?.unwrap_or(Head::EMPTY);
            if self.next > head.next {
                return Ok(true);
            }
            let start = self.start_verifier().await?;
            self.verifier = Some(start);
        }
        let verifier = self.verifier.as_ref().expect("started above");
        Ok(self.end.reached(self.store.as_ref(), verifier).await?.is_some())
    }

    /// Reads the next batch into the buffer; false when nothing new is committed.
    async fn fill(&mut self) -> Result<bool, StoreError> {
        let from = Seq(self.next.0 + self.buffer.len() as u64);
        let batch = self.store.read(&self.campaign, from, READ_BATCH_EVENTS).await?;
        let found = !batch.is_empty();
        self.buffer.extend(batch);
        Ok(found)
    }

    /// A verifier for the chain from `next`.
    async fn start_verifier(&self) -> Result<ChainVerifier, StoreError> {
        chain_from(self.store.as_ref(), &self.campaign, self.next).await
    }
}

/// A verifier for `campaign`'s chain from `from`, anchored on the stored hash of the event
/// before it (the chain before that unread): what checks a log read from the middle.
pub async fn chain_from(
    store: &dyn EventStore,
    campaign: &CampaignId,
    from: Seq,
) -> Result<ChainVerifier, StoreError> {
    if from == Seq(0) {
        return Ok(ChainVerifier::new(campaign.clone()));
    }
    let before = Seq(from.0 - 1);
    let prev = store.read(campaign, before, 1).await?;
    let prev_hash = match prev.first() {
        Some(event) if event.seq == before => event.hash,
        // The event before the start is missing: the chain check of the first event read will
        // report the break against the genesis hash.
        _ => Hash::GENESIS,
    };
    Ok(ChainVerifier::resume(campaign.clone(), from, prev_hash))
}
