//! Reading a campaign's log from a store and folding it: the one place replay touches IO (the
//! projections themselves stay pure).

use lineage_events::{CampaignId, ChainVerifier, EventStore, RecordedEvent, Seq, StoreError, Upcasters};

use crate::state::CampaignState;

/// Events read per round trip.
const READ_BATCH: u32 = 1000;

/// Folds the campaign's log from the start while `keep` says so (it sees each decoded event
/// before it is applied; the first one it refuses ends the fold). Every event read is checked
/// against the hash chain first: an edited log fails at the first bad event.
pub async fn fold_log(
    store: &dyn EventStore,
    campaign: &CampaignId,
    mut keep: impl FnMut(&RecordedEvent) -> bool,
) -> Result<CampaignState, StoreError> {
    let upcasters = Upcasters::standard();
    let mut state = CampaignState::default();
    let mut from = Seq(0);
    let mut chain = ChainVerifier::new(campaign.clone());
    loop {
        let batch = store.read(campaign, from, READ_BATCH).await?;
        if batch.is_empty() {
            return Ok(state);
        }
        for stored in batch {
            chain.check(&stored)?;
            let event = stored.decode(&upcasters)?;
            if !keep(&event) {
                return Ok(state);
            }
            from = event.seq.next();
            state.apply(&event);
        }
    }
}
