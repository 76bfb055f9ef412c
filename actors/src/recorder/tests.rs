//! The recorder against a store whose head disagrees with its events.

use async_trait::async_trait;
use lineage_events::payload::{CampaignNamed, Payload};
use lineage_events::{Appended, CampaignSummary, Head, MemoryStore, StoredEvent};
use tokio::sync::watch;

use super::*;

/// Refuses every append as a conflict, though no other writer appends: what a store does whose
/// head was moved around it.
struct AlwaysConflicts(MemoryStore);

#[async_trait]
impl EventStore for AlwaysConflicts {
    fn location(&self) -> String {
        "always-conflicts://".into()
    }

    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        _: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let actual = expected.next();
        Err(StoreError::Conflict { campaign: campaign.clone(), expected, actual, detail: String::new() })
    }

    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.0.read(campaign, from, limit).await
    }

    async fn head(&self, campaign: &CampaignId) -> Result<Option<Head>, StoreError> {
        self.0.head(campaign).await
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        self.0.campaigns().await
    }

    async fn delete_campaign(&self, campaign: &CampaignId) -> Result<u64, StoreError> {
        self.0.delete_campaign(campaign).await
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.0.changes()
    }
}

fn decision() -> Vec<Decision> {
    vec![Decision::new("name/0", "operator", Payload::CampaignNamed(CampaignNamed { name: "n".into() }))]
}

#[tokio::test]
async fn a_conflict_no_other_writer_explains_is_damage_not_a_retry_forever() {
    let store: Arc<dyn EventStore> = Arc::new(AlwaysConflicts(MemoryStore::new()));
    let recorder = Recorder::new(store, CampaignId::new("c").unwrap(), Vec::new());
    let mut log = recorder.log.lock().await;
    let limit = Duration::from_secs(10);

    let appended = tokio::time::timeout(limit, log.append(decision())).await.expect("returns, not spins");
    assert!(
        matches!(&appended, Err(StoreError::Corrupt { message, .. }) if message.contains("disagrees")),
        "{appended:?}"
    );

    let at = tokio::time::timeout(limit, log.append_at(decision(), Seq(0))).await.expect("returns");
    assert!(
        matches!(&at, Err(StoreError::Corrupt { message, .. }) if message.contains("disagrees")),
        "{at:?}"
    );
}
