//! Reading a campaign's log from a store and folding it: the one place replay touches IO (the
//! projections themselves stay pure).
//!
//! A long log is folded as a pipeline, so that a million events replay in seconds: while the
//! store reads batch k+1, batch k is prepared in parallel — each body hashed for the chain check
//! and decoded, in one parse ([`lineage_events::StoredEvent::prepare`]) — and batch k−1 is checked
//! link by link and applied, in log order. Errors still come out in log order: an event's link is
//! checked before its decoding is looked at, and the first bad event is the one reported.

use std::mem;

use lineage_events::limits::READ_BATCH_EVENTS;
use lineage_events::{
    CampaignId, ChainVerifier, EventStore, Head, LeanEvent, LogEnd, PreparedEvent, Seq, StoreError,
    StoredEvent, Upcasters,
};
use rayon::prelude::*;

use crate::state::CampaignState;

/// Folds the campaign's log from the start while `keep` says so (it sees each decoded event
/// before it is applied; the first one it refuses ends the fold). Every event read is checked
/// against the hash chain first, and a log read to its end against the store's head: an edited
/// log fails at the first bad event, and a log missing events at its end, or with events past
/// the head, fails too (as in [`lineage_events::read_verified`]).
pub async fn fold_log(
    store: &dyn EventStore,
    campaign: &CampaignId,
    keep: impl FnMut(&LeanEvent) -> bool + Send,
) -> Result<CampaignState, StoreError> {
    fold_log_to_head(store, campaign, keep).await.map(|folded| folded.state)
}

/// A folded log and the head it was folded to.
#[derive(Clone, Debug)]
pub struct Folded {
    /// The state.
    pub state: CampaignState,
    /// The last event applied: `next` is its position + 1, `hash` its chain hash
    /// ([`Head::EMPTY`] when none was).
    pub head: Head,
}

/// [`fold_log`], with the head the state was folded to: the point `lineage run` and `replay`
/// print, and `verify --head` checks a log still extends.
pub async fn fold_log_to_head(
    store: &dyn EventStore,
    campaign: &CampaignId,
    keep: impl FnMut(&LeanEvent) -> bool + Send,
) -> Result<Folded, StoreError> {
    let upcasters = Upcasters::standard();
    let prepare = |stored: &StoredEvent| stored.prepare(campaign, &upcasters);
    let mut fold = Fold {
        location: format!("campaign {campaign} in {}", store.location()),
        chain: ChainVerifier::new(campaign.clone()),
        state: CampaignState::default(),
        head: Head::EMPTY,
        keep,
        stopped: false,
    };
    let mut end = LogEnd::default();
    loop {
        let from = fold.chain.next_seq();
        fold_from(store, campaign, &prepare, &mut fold, from).await?;
        // A fold that `keep` stopped read no further; one that read everything ends at the head.
        if fold.stopped || end.reached(store, &fold.chain).await?.is_some() {
            return Ok(fold.folded());
        }
    }
}

/// Folds the events at `from..` that the store holds now, pipelined: while batch k+1 is read,
/// batch k is prepared and batch k−1 applied.
async fn fold_from<K: FnMut(&LeanEvent) -> bool + Send>(
    store: &dyn EventStore,
    campaign: &CampaignId,
    prepare: &(impl Fn(&StoredEvent) -> PreparedEvent + Sync),
    fold: &mut Fold<K>,
    from: Seq,
) -> Result<(), StoreError> {
    let mut prepared: Vec<PreparedEvent> = Vec::new();
    let mut batch = store.read(campaign, from, READ_BATCH_EVENTS).await?;
    while !batch.is_empty() {
        let from = batch.last().expect("not empty").seq.next();
        let work = async {
            let previous = mem::take(&mut prepared);
            rayon::join(|| fold.apply_all(previous), || batch.par_iter().map(prepare).collect())
        };
        // The read is polled first, so the store starts on it before this task turns to the
        // CPU work (`join` polls in argument order).
        let (next, (applied, next_prepared)) =
            futures_util::future::join(store.read(campaign, from, READ_BATCH_EVENTS), work).await;
        applied?;
        if fold.stopped {
            return Ok(());
        }
        prepared = next_prepared;
        batch = match next {
            Ok(next) => next,
            Err(e) => {
                fold.apply_all(prepared)?;
                return if fold.stopped { Ok(()) } else { Err(e) };
            }
        };
    }
    fold.apply_all(prepared)
}

/// The state being folded, the chain check and the caller's stopping rule.
struct Fold<K> {
    /// The store's and campaign's name, for errors.
    location: String,
    chain: ChainVerifier,
    state: CampaignState,
    /// The last event applied.
    head: Head,
    keep: K,
    stopped: bool,
}

impl<K: FnMut(&LeanEvent) -> bool> Fold<K> {
    fn folded(self) -> Folded {
        Folded { state: self.state, head: self.head }
    }

    /// Checks and applies prepared events in order, up to the first error (returned) or the
    /// first event `keep` refuses.
    fn apply_all(&mut self, events: Vec<PreparedEvent>) -> Result<(), StoreError> {
        for prepared in events {
            if self.stopped {
                return Ok(());
            }
            self.chain.check_link(&prepared.link)?;
            let hash = prepared.link.hash;
            let event = prepared.event?;
            if !(self.keep)(&event) {
                self.stopped = true;
                return Ok(());
            }
            if let Err(unknown) = self.state.check_subject(event.seq, event.id, &event.payload) {
                let location = self.location.clone();
                return Err(StoreError::Corrupt { location, message: unknown.to_string() });
            }
            self.head = Head { next: event.seq.next(), hash };
            self.state.apply_payload(event.seq, event.id, event.payload);
        }
        Ok(())
    }
}
