//! Live pages: one follower per campaign, fanned out to every open page.
//!
//! The first page that goes live on a campaign starts a follower on the server's runtime: the
//! same [`Subscription`] `lineage events -f` uses, which wakes on the store's change signal.
//! Each committed event is broadcast once to all the campaign's open pages, so a hundred pages
//! cost the store what one does. A page's [`Feed`] also reads from the store itself, to catch up
//! from where the page was rendered and to fill any gap the broadcast left (a page that fell
//! behind, or events committed before the follower started).

use std::collections::VecDeque;
use std::sync::Arc;

use dashmap::DashMap;
use lineage_events::{CampaignId, EventStore, RecordedEvent, Seq, Subscription, Upcasters};
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::broadcast;

/// Events a page may fall behind by before it catches up from the store instead.
const BACKLOG: usize = 1024;
/// Events read from the store at a time when catching up.
const READ_BATCH: u32 = 512;

/// One event as the feed shows it.
#[derive(Clone, Debug, Serialize)]
pub struct FeedItem {
    /// Position in the log.
    pub seq: u64,
    /// When it was recorded (RFC 3339, seconds).
    pub at: String,
    /// The event type.
    pub kind: String,
    /// Who decided: `kind/name`.
    pub actor: String,
    /// The architecture it is about, if any.
    pub arch: Option<String>,
}

impl FeedItem {
    /// The feed line of a decoded event.
    pub fn of(event: &RecordedEvent) -> Self {
        Self {
            seq: event.seq.0,
            at: event.recorded_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            kind: crate::html::event_type(event).to_owned(),
            actor: format!("{}/{}", event.actor.kind, event.actor.name),
            arch: event.correlation.as_ref().map(|a| a.as_str().to_owned()),
        }
    }
}

/// What a follower broadcasts.
#[derive(Clone, Debug)]
enum Pushed {
    Event(Arc<FeedItem>),
    /// The follower stopped: the store failed or went away.
    Failed(String),
}

/// The followers, one per campaign some page watched.
pub struct Live {
    store: Arc<dyn EventStore>,
    runtime: Handle,
    followers: DashMap<CampaignId, broadcast::Sender<Pushed>>,
}

impl Live {
    /// Followers of `store`'s campaigns, run on `runtime`.
    pub fn new(store: Arc<dyn EventStore>, runtime: Handle) -> Self {
        Self { store, runtime, followers: DashMap::new() }
    }

    /// The events of `campaign` from `from` on, as they are committed.
    pub fn feed(&self, campaign: &CampaignId, from: Seq) -> Feed {
        let receiver = {
            let sender = self.followers.entry(campaign.clone()).or_insert_with(|| {
                let (sender, _) = broadcast::channel(BACKLOG);
                self.runtime.spawn(follow(self.store.clone(), campaign.clone(), sender.clone()));
                sender
            });
            sender.subscribe()
        };
        Feed {
            store: self.store.clone(),
            campaign: campaign.clone(),
            receiver,
            next: from,
            caught_up: false,
            pending: VecDeque::new(),
            upcasters: Upcasters::standard(),
        }
    }
}

/// Follows `campaign` from its head for as long as the server runs.
async fn follow(store: Arc<dyn EventStore>, campaign: CampaignId, sender: broadcast::Sender<Pushed>) {
    let upcasters = Upcasters::standard();
    let from = match store.head(&campaign).await {
        Ok(head) => head.map_or(Seq(0), |h| h.next),
        Err(e) => {
            let _ = sender.send(Pushed::Failed(e.to_string()));
            return;
        }
    };
    let mut subscription = Subscription::new(store, campaign, from);
    loop {
        let pushed = match subscription.next().await {
            Ok(stored) => match stored.decode(&upcasters) {
                Ok(event) => Pushed::Event(Arc::new(FeedItem::of(&event))),
                Err(e) => Pushed::Failed(e.to_string()),
            },
            Err(e) => Pushed::Failed(e.to_string()),
        };
        let failed = matches!(pushed, Pushed::Failed(_));
        // No page open is no error: the next one subscribes to the same sender.
        let _ = sender.send(pushed);
        if failed {
            return;
        }
    }
}

/// One page's view of the live log: every event from its starting point, in order, each once.
pub struct Feed {
    store: Arc<dyn EventStore>,
    campaign: CampaignId,
    receiver: broadcast::Receiver<Pushed>,
    next: Seq,
    caught_up: bool,
    pending: VecDeque<FeedItem>,
    upcasters: Upcasters,
}

impl Feed {
    /// The next event, waiting for it to be committed; an error ends the feed.
    pub async fn next(&mut self) -> Result<FeedItem, String> {
        if !self.caught_up {
            // Subscribed before reading, so nothing committed in between is missed.
            self.read_until(None).await?;
            self.caught_up = true;
        }
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(item);
            }
            match self.receiver.recv().await {
                Ok(Pushed::Event(item)) if item.seq < self.next.0 => {}
                Ok(Pushed::Event(item)) => {
                    self.read_until(Some(Seq(item.seq))).await?;
                    self.next = Seq(item.seq + 1);
                    self.pending.push_back((*item).clone());
                }
                Ok(Pushed::Failed(message)) => return Err(message),
                Err(broadcast::error::RecvError::Lagged(_)) => self.read_until(None).await?,
                Err(broadcast::error::RecvError::Closed) => return Err("the live feed stopped".into()),
            }
        }
    }

    /// Reads from the store what lies between the feed's position and `end` (exclusive; the
    /// head when `None`) into the pending events.
    async fn read_until(&mut self, end: Option<Seq>) -> Result<(), String> {
        loop {
            if end.is_some_and(|end| self.next >= end) {
                return Ok(());
            }
            let read =
                self.store.read(&self.campaign, self.next, READ_BATCH).await.map_err(|e| e.to_string())?;
            let Some(last) = read.last() else { return Ok(()) };
            let last = last.seq;
            for stored in read {
                if end.is_some_and(|end| stored.seq >= end) {
                    break;
                }
                let event = stored.decode(&self.upcasters).map_err(|e| e.to_string())?;
                self.pending.push_back(FeedItem::of(&event));
                self.next = Seq(stored.seq.0 + 1);
            }
            if end.is_some_and(|end| last >= end) {
                return Ok(());
            }
        }
    }
}
