//! Reading a campaign's log from a store and folding it: the one place replay touches IO (the
//! projections themselves stay pure).
//!
//! A long log is folded as a pipeline, so that a million events replay in seconds: while the
//! store reads batch k+1, batch k is chain-checked and decoded in parallel and batch k−1 is
//! applied. The chain link (position, prev hash, body hash) is checked in order; each body is
//! parsed once, for its placement check and its decoding together ([`StoredEvent::decode_lean`]).
//! Errors still come out in log order: the first bad event is the one reported.

use std::mem;

use lineage_events::{
    CampaignId, ChainVerifier, EventStore, LeanEvent, Seq, StoreError, StoredEvent, Upcasters,
};
use rayon::prelude::*;

use crate::state::CampaignState;

/// Events read per round trip.
const READ_BATCH: u32 = 1000;

/// Folds the campaign's log from the start while `keep` says so (it sees each decoded event
/// before it is applied; the first one it refuses ends the fold). Every event read is checked
/// against the hash chain first: an edited log fails at the first bad event.
pub async fn fold_log(
    store: &dyn EventStore,
    campaign: &CampaignId,
    keep: impl FnMut(&LeanEvent) -> bool + Send,
) -> Result<CampaignState, StoreError> {
    let upcasters = Upcasters::standard();
    let mut chain = ChainVerifier::new(campaign.clone());
    let mut fold = Fold { state: CampaignState::default(), keep, stopped: false };
    let mut decoded: Vec<Result<LeanEvent, StoreError>> = Vec::new();
    let mut batch = store.read(campaign, Seq(0), READ_BATCH).await?;
    while !batch.is_empty() {
        let from = batch.last().expect("not empty").seq.next();
        let work = async {
            let previous = mem::take(&mut decoded);
            let (applied, checked) = rayon::join(
                || fold.apply_all(previous),
                || check_and_decode(&mut chain, campaign, &batch, &upcasters),
            );
            (applied, checked)
        };
        // The read is polled first, so the store starts on it before this task turns to the
        // CPU work (`join` polls in argument order).
        let (next, (applied, checked)) =
            futures_util::future::join(store.read(campaign, from, READ_BATCH), work).await;
        applied?;
        if fold.stopped {
            return Ok(fold.state);
        }
        decoded = checked;
        if decoded.iter().any(Result::is_err) {
            break;
        }
        batch = match next {
            Ok(next) => next,
            Err(e) => {
                fold.apply_all(decoded)?;
                return if fold.stopped { Ok(fold.state) } else { Err(e) };
            }
        };
    }
    fold.apply_all(decoded)?;
    Ok(fold.state)
}

/// The state being folded and the caller's stopping rule.
struct Fold<K> {
    state: CampaignState,
    keep: K,
    stopped: bool,
}

impl<K: FnMut(&LeanEvent) -> bool> Fold<K> {
    /// Applies decoded events in order, up to the first error (returned) or the first event
    /// `keep` refuses.
    fn apply_all(&mut self, events: Vec<Result<LeanEvent, StoreError>>) -> Result<(), StoreError> {
        for event in events {
            if self.stopped {
                return Ok(());
            }
            let event = event?;
            if !(self.keep)(&event) {
                self.stopped = true;
                return Ok(());
            }
            self.state.apply_payload(event.seq, event.id, event.payload);
        }
        Ok(())
    }
}

/// Checks the chain links of a batch in order, then parses, places and decodes the linked
/// events in parallel. A broken link becomes the last entry, after the events before it.
fn check_and_decode(
    chain: &mut ChainVerifier,
    campaign: &CampaignId,
    batch: &[StoredEvent],
    upcasters: &Upcasters,
) -> Vec<Result<LeanEvent, StoreError>> {
    let mut broken = None;
    let mut linked = batch.len();
    for (i, stored) in batch.iter().enumerate() {
        if let Err(e) = chain.check_link(stored) {
            broken = Some(e);
            linked = i;
            break;
        }
    }
    let mut decoded: Vec<_> =
        batch[..linked].par_iter().map(|stored| stored.decode_lean(campaign, upcasters)).collect();
    decoded.extend(broken.map(|e| Err(e.into())));
    decoded
}
