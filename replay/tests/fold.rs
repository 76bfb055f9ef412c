//! `fold_log` over several read batches: the pipelined fold equals the plain one, stops where
//! asked, and reports the first bad event of a log edited in its middle, not a later one.

use std::sync::Arc;

use async_trait::async_trait;
use lineage_events::{
    ActorRef, Appended, CampaignId, CampaignSummary, EventId, EventStore, Head, MemoryStore, NewEvent, Seq,
    StoreError, StoredEvent, Upcasters, synthetic,
};
use lineage_replay::{CampaignState, fold_log};
use tokio::sync::watch;

/// A store that hands out edited copies of some events, as if their rows had been changed.
struct Edited {
    inner: MemoryStore,
    edit: fn(&mut StoredEvent),
    /// Reads from this position on fail, as if the connection were lost there.
    fail_from: Seq,
}

#[async_trait]
impl EventStore for Edited {
    fn location(&self) -> String {
        "edited".into()
    }
    async fn append(&self, c: &CampaignId, e: Seq, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
        self.inner.append(c, e, events).await
    }
    async fn read(&self, c: &CampaignId, from: Seq, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        if from >= self.fail_from {
            return Err(StoreError::Unavailable {
                location: "edited".into(),
                message: "connection lost".into(),
            });
        }
        let mut events = self.inner.read(c, from, limit).await?;
        events.iter_mut().for_each(self.edit);
        Ok(events)
    }
    async fn head(&self, c: &CampaignId) -> Result<Option<Head>, StoreError> {
        self.inner.head(c).await
    }
    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        self.inner.campaigns().await
    }
    async fn delete_campaign(&self, c: &CampaignId) -> Result<u64, StoreError> {
        self.inner.delete_campaign(c).await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes()
    }
}

/// 2,550 events (170 synthetic experiments): three read batches.
async fn log(edit: fn(&mut StoredEvent)) -> (Arc<dyn EventStore>, CampaignId) {
    log_of(170, edit, Seq(u64::MAX)).await
}

/// `experiments` synthetic experiments of 15 events each.
async fn log_of(
    experiments: u64,
    edit: fn(&mut StoredEvent),
    fail_from: Seq,
) -> (Arc<dyn EventStore>, CampaignId) {
    let store = Arc::new(Edited { inner: MemoryStore::new(), edit, fail_from });
    let campaign = CampaignId::new("fold").unwrap();
    let actor = ActorRef::new("test", "test");
    let events: Vec<NewEvent> = (1..=experiments)
        .flat_map(synthetic::experiment)
        .map(|p| NewEvent::new(EventId::random(), actor.clone(), &p))
        .collect();
    store.append(&campaign, Seq(0), events).await.unwrap();
    (store, campaign)
}

#[tokio::test]
async fn the_pipelined_fold_equals_the_plain_fold() {
    let (store, campaign) = log(|_| {}).await;
    assert_folds_like_the_plain_fold(&store, &campaign, 2550).await;
}

/// Many batches, on a threaded runtime like the command line's (the other tests run on a
/// single thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_folds_like_the_plain_fold_on_a_threaded_runtime() {
    let (store, campaign) = log_of(600, |_| {}, Seq(u64::MAX)).await;
    assert_folds_like_the_plain_fold(&store, &campaign, 9000).await;
}

async fn assert_folds_like_the_plain_fold(store: &Arc<dyn EventStore>, campaign: &CampaignId, events: u64) {
    let folded = fold_log(store.as_ref(), campaign, |_| true).await.unwrap();
    let upcasters = Upcasters::standard();
    let stored: Vec<_> = store.read(campaign, Seq(0), 10_000).await.unwrap();
    let decoded: Vec<_> = stored.iter().map(|e| e.decode(&upcasters).unwrap()).collect();
    let plain = CampaignState::from_events(&decoded).unwrap();
    assert_eq!(folded.events, events);
    assert_eq!(folded, plain);
    assert_eq!(folded.state_hash(), plain.state_hash());

    let until = fold_log(store.as_ref(), campaign, |e| e.seq <= Seq(1733)).await.unwrap();
    assert_eq!(until, CampaignState::from_events(&decoded[..=1733]).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_is_reported_after_the_events_read_before_it() {
    // Reads fail from position 5,000 on: the events before it are still checked first, so an
    // edit at 4,321 is what the fold reports; without the edit, the failed read is.
    let (store, campaign) = log_of(
        600,
        |e| {
            if e.seq == Seq(4321) {
                e.body.push(' ');
            }
        },
        Seq(5000),
    )
    .await;
    let error = fold_log(store.as_ref(), &campaign, |_| true).await.unwrap_err().to_string();
    assert!(error.contains("event 4321"), "{error}");

    let (store, campaign) = log_of(600, |_| {}, Seq(5000)).await;
    let error = fold_log(store.as_ref(), &campaign, |_| true).await.unwrap_err().to_string();
    assert!(error.contains("connection lost"), "{error}");

    // A fold that stops before the failed read never needs it.
    let state = fold_log(store.as_ref(), &campaign, |e| e.seq < Seq(4999)).await.unwrap();
    assert_eq!(state.events, 4999);
}

#[tokio::test]
async fn an_edit_in_a_later_batch_is_reported_at_its_event() {
    // A body edited at 1,500 (second batch) and another at 2,400 (third): the first is named.
    let (store, campaign) = log(|e| {
        if e.seq == Seq(1500) || e.seq == Seq(2400) {
            e.body = e.body.replacen("\"seq\"", "\"seq\" ", 1);
        }
    })
    .await;
    let error = fold_log(store.as_ref(), &campaign, |_| true).await.unwrap_err().to_string();
    assert!(error.contains("event 1500"), "{error}");

    // An event stored at the wrong position (its body says 1,201) fails there too.
    let (store, campaign) = log(|e| {
        if e.seq == Seq(1200) {
            e.seq = Seq(1201);
        }
    })
    .await;
    let error = fold_log(store.as_ref(), &campaign, |_| true).await.unwrap_err().to_string();
    assert!(error.contains("event 1200"), "{error}");

    // A row whose id column was changed: the body still hashes, its placement check fails.
    let (store, campaign) = log(|e| {
        if e.seq == Seq(2100) {
            e.id = EventId::derive(&CampaignId::new("elsewhere").unwrap(), "moved");
        }
    })
    .await;
    let error = fold_log(store.as_ref(), &campaign, |_| true).await.unwrap_err().to_string();
    assert!(error.contains("event 2100") && error.contains("id"), "{error}");

    // A stop before the edit never sees it.
    let (store, campaign) = log(|e| {
        if e.seq == Seq(1500) {
            e.body.push('x');
        }
    })
    .await;
    let state = fold_log(store.as_ref(), &campaign, |e| e.seq < Seq(1400)).await.unwrap();
    assert_eq!(state.events, 1400);
}
