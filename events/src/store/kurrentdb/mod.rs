//! The store in a KurrentDB (formerly EventStoreDB) server (`kurrentdb://…`, `esdb://…`), built
//! only with the `kurrentdb` cargo feature. See `docs/kurrentdb.md`.
//!
//! **Status.** This store has NOT been run against a live server in this project's CI: no
//! KurrentDB server can be installed from the registries CI reaches. It is compiled, linted and
//! unit-tested (the mapping of positions, ids, metadata, errors and URLs, in this module's
//! tests). The store conformance suite (`tests/store_conformance.rs`) runs against a server
//! when `LINEAGE_TEST_KURRENTDB` names one, and skips with a printed line otherwise:
//!
//! ```text
//! docker run -d -p 2113:2113 docker.kurrent.io/kurrent-latest/kurrentdb --insecure
//! LINEAGE_TEST_KURRENTDB='kurrentdb://admin:changeit@localhost:2113?tls=false' \
//!   cargo test --release --features kurrentdb --test store_conformance kurrentdb
//! ```
//!
//! **Layout.** One stream per campaign, `{prefix}-{campaign}` (the prefix is `lineage`, or the
//! URL's `streamPrefix` parameter). Event number n of that stream is the campaign's seq n.
//! Each event's data is the stored body, byte for byte, with content type
//! `application/octet-stream` (so the server never re-serialises it); its event id is the
//! lineage [`EventId`] as a UUID (the same 16 bytes); its event type is the payload's type name;
//! its custom metadata is a small JSON object holding the hash chain (`prev_hash`, `hash`) and the
//! time of the append ([`EventMeta`]). The hashes are stored, not recomputed on read: a reader
//! of events `k..` needs `prev_hash` of event `k` without hashing `0..k`, and verification then
//! compares the stored hashes with the bodies, as it does for the SQL stores.
//!
//! **Campaign index.** A stream `{prefix}_campaigns` (no `-`, so it is outside the campaigns'
//! namespace) starts with a `StoreCreated` event carrying the store schema version, written
//! when a writer first opens the server (the counterpart of PostgreSQL's `lineage_meta`), and
//! gets a `CampaignIndexed` event before the first event of each campaign. The index is written
//! *before* the campaign's stream, so a crash in between leaves an index entry without events,
//! which [`EventStore::campaigns`] skips, never a campaign the listing misses. Two writers
//! creating the same campaign may both index it; the listing keeps the first entry. This works on
//! a default server: it needs neither the system projections (`$streams`, `$by_category`), which
//! are off by default, nor reading `$all`.
//!
//! **Appends.** An append reads the campaign's head (the last event, backwards), the ids at the
//! overlapping positions when the writer expected a position behind the head, and lets
//! [`plan_append`] decide, exactly as the other stores do. The new events are then appended with
//! the expected revision of that head (`NoStream` for an empty campaign, `n - 1` for a head at
//! n), so the server refuses the append if anyone appended in between: that
//! `WrongExpectedVersion` is re-checked against the new head (a concurrent retry of the same
//! events is recognised) and otherwise is a [`StoreError::Conflict`]. Positions are dense and
//! commit order is position order because the server serialises appends to a stream.
//!
//! **Followers.** A catch-up subscription to `$all`, filtered on the prefix of the campaigns'
//! stream names, ticks [`EventStore::changes`]; a timer ticks every [`SAFETY_POLL_MS`] as well,
//! so a dropped subscription (or a user not allowed to read `$all`) delays a follower but cannot
//! stall it.
//!
//! **Read-only** ([`KurrentDbStore::connect_read_only`]): nothing is written (not even the
//! index's first event), a server without the index is [`StoreError::Missing`], and appends are
//! refused before they reach the server.
//!
//! **Errors.** A lost connection during an operation is [`StoreError::ConnectionLost`], naming
//! the store without its password; the client reconnects by itself on the next operation.
//!
//! [`EventId`]: crate::ids::EventId
//! [`EventMeta`]: mapping::EventMeta

mod follow;
mod index;
mod mapping;
mod read;
mod url;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use ::kurrentdb::{AppendToStreamOptions, Client, EventData};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::{oneshot, watch};

use self::follow::{SAFETY_POLL_MS, follow, spawn_safety_tick};
use self::index::{CAMPAIGN_INDEXED, IndexEntry};
use self::mapping::{Phase, append_error, event_data, expected_state, stored_event};
use self::url::{Streams, parse_target};
use super::{
    Access, Appended, CampaignSummary, EventStore, Head, Row, StoreError, head_after, now_text, parse_time,
    plan_append,
};
use crate::envelope::{NewEvent, StoredEvent};
use crate::ids::{CampaignId, Seq};
use crate::limits::READ_BATCH_EVENTS;

/// Store schema version this build writes (the `StoreCreated` event of the index stream, and
/// the `lineage` field of every event's metadata).
const SCHEMA_VERSION: u32 = 1;

/// How long to wait for the server when opening the store before reporting it unreachable, and
/// for the subscription's confirmation before following by polling alone.
const CONNECT_TIMEOUT_S: u64 = 5;

/// Campaign heads read at once by [`EventStore::campaigns`] (one read per campaign).
const LISTING_CONCURRENCY: usize = 16;

/// An event store in a KurrentDB (EventStoreDB) server, one stream per campaign.
///
/// Open it with [`open_store`](super::open_store) and a `kurrentdb://` or `esdb://` URL, or with
/// [`KurrentDbStore::connect`]. The module documentation describes the stream layout.
pub struct KurrentDbStore {
    location: String,
    client: Client,
    streams: Streams,
    access: Access,
    changes: Arc<watch::Sender<u64>>,
    _tasks: Tasks,
}

/// Background tasks that end with the store.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl KurrentDbStore {
    /// Connects to the server a `kurrentdb://`, `kurrentdb+discover://`, `esdb://` or
    /// `esdb+discover://` URL names (the client's connection string; see `docs/kurrentdb.md`),
    /// writing the campaign index's first event if this is the server's first lineage store.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Access::ReadWrite).await
    }

    /// Connects for reading only: nothing is written, a server that holds no lineage store (no
    /// campaign index) is [`StoreError::Missing`], and every append is a
    /// [`StoreError::ReadOnly`].
    pub async fn connect_read_only(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Access::ReadOnly).await
    }

    async fn connect_with(url: &str, access: Access) -> Result<Self, StoreError> {
        let target = parse_target(url)?;
        let location = target.location;
        let client = Client::new(target.settings).map_err(|e| StoreError::Backend {
            location: location.clone(),
            message: format!("cannot set up the KurrentDB client: {e}"),
        })?;
        let changes = Arc::new(watch::Sender::new(0u64));
        let (ready_tx, ready_rx) = oneshot::channel();
        let mut store =
            Self { location, client, streams: target.streams, access, changes, _tasks: Tasks(Vec::new()) };
        let timeout = Duration::from_secs(CONNECT_TIMEOUT_S);
        match tokio::time::timeout(timeout, store.open_index()).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(StoreError::Unavailable {
                    location: store.location.clone(),
                    message: format!("no answer within {CONNECT_TIMEOUT_S} s"),
                });
            }
        }
        let follower = tokio::spawn(follow(
            store.client.clone(),
            store.streams.campaign_prefix(),
            store.location.clone(),
            Arc::downgrade(&store.changes),
            ready_tx,
        ));
        store._tasks.0.push(follower);
        store._tasks.0.push(spawn_safety_tick(Arc::downgrade(&store.changes)));
        match tokio::time::timeout(timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(message))) => tracing::warn!(
                location = %store.location,
                error = %message,
                "cannot subscribe to $all; followers re-read every {SAFETY_POLL_MS} ms instead \
                 (until a retry succeeds, or for good if access was denied)"
            ),
            _ => tracing::warn!(
                location = %store.location,
                "the subscription to $all was not confirmed within {CONNECT_TIMEOUT_S} s; \
                 followers poll every {SAFETY_POLL_MS} ms until it is"
            ),
        }
        Ok(store)
    }

    /// The head and ids `plan_append` needs, and its plan.
    async fn plan(
        &self,
        stream: &str,
        campaign: &CampaignId,
        expected: Seq,
        events: &[NewEvent],
    ) -> Result<(Head, Vec<Row>, u32), StoreError> {
        let head = self.head_of(stream).await?.map_or(Head::EMPTY, |(head, _)| head);
        let existing = self.overlapping_ids(stream, expected, head, events.len()).await?;
        let (rows, already_present) =
            plan_append(&self.location, campaign, expected, head, &existing, events)?;
        Ok((head, rows, already_present))
    }
}

#[async_trait]
impl EventStore for KurrentDbStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        if self.access == Access::ReadOnly {
            return Err(StoreError::ReadOnly { location: self.location.clone() });
        }
        let stream = self.streams.campaign(campaign);
        let (head, rows, already_present) = self.plan(&stream, campaign, expected, &events).await?;
        if rows.is_empty() {
            return Ok(Appended { first: expected, head, already_present });
        }
        if head.next == Seq(0) {
            self.index_campaign(campaign).await?;
        }
        let new_head = head_after(head, &rows);
        let appended_at = now_text();
        let data: Vec<EventData> = rows.into_iter().map(|row| event_data(row, &appended_at)).collect();
        let options = AppendToStreamOptions::default().stream_state(expected_state(head.next));
        match self.client.append_to_stream(stream.as_str(), &options, data).await {
            Ok(_) => {
                self.changes.send_modify(|n| *n = n.wrapping_add(1));
                Ok(Appended { first: expected, head: new_head, already_present })
            }
            Err(e) => {
                let refused = append_error(&self.location, campaign, expected, e);
                if !matches!(refused, StoreError::Conflict { .. }) {
                    return Err(refused);
                }
                // Someone appended since the head was read. If they appended these very events
                // (a concurrent retry), the append is recognised; otherwise it is a conflict.
                let (head, rows, already_present) = self.plan(&stream, campaign, expected, &events).await?;
                if rows.is_empty() {
                    Ok(Appended { first: expected, head, already_present })
                } else {
                    Err(refused)
                }
            }
        }
    }

    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let stream = self.streams.campaign(campaign);
        let events = self.read_raw(&stream, from.0, u64::from(limit), Phase::Established).await?;
        events
            .into_iter()
            .map(|e| stored_event(e.revision, e.id, &e.data, &e.metadata, &self.location, &stream))
            .collect()
    }

    async fn head(&self, campaign: &CampaignId) -> Result<Option<Head>, StoreError> {
        Ok(self.head_of(&self.streams.campaign(campaign)).await?.map(|(head, _)| head))
    }

    /// Not here: a KurrentDB stream is deleted with the server's own tools, which also decide
    /// whether the deletion is soft (its events hidden, the stream reusable) or a tombstone.
    async fn delete_campaign(&self, campaign: &CampaignId) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported {
            location: self.location.clone(),
            what: format!(
                "lineage does not delete campaigns from KurrentDB; delete the stream {} with the server's own tools (docs/kurrentdb.md)",
                self.streams.campaign(campaign)
            ),
        })
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let index = self.streams.index();
        let mut entries: Vec<(CampaignId, DateTime<Utc>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut from = 1; // event 0 is the marker
        loop {
            let batch = self.read_raw(&index, from, u64::from(READ_BATCH_EVENTS), Phase::Established).await?;
            let Some(last) = batch.last() else { break };
            from = last.revision + 1;
            for event in batch {
                if event.event_type != CAMPAIGN_INDEXED {
                    continue;
                }
                let corrupt = |message: String| StoreError::Corrupt {
                    location: self.location.clone(),
                    message: format!("event {} of stream {index}: {message}", event.revision),
                };
                let entry: IndexEntry = serde_json::from_slice(&event.data)
                    .map_err(|e| corrupt(format!("not an index entry ({e})")))?;
                let campaign = CampaignId::new(entry.campaign).map_err(|e| corrupt(e.to_string()))?;
                if seen.insert(campaign.clone()) {
                    entries.push((campaign, parse_time(&entry.created_at, &self.location)?));
                }
            }
        }
        let summaries: Vec<Option<CampaignSummary>> = futures_util::stream::iter(entries)
            .map(|(campaign, created_at)| async move {
                let stream = self.streams.campaign(&campaign);
                let Some((head, meta)) = self.head_of(&stream).await? else { return Ok(None) };
                let updated_at = parse_time(&meta.appended_at, &self.location)?;
                Ok::<_, StoreError>(Some(CampaignSummary { campaign, head, created_at, updated_at }))
            })
            .buffered(LISTING_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(summaries.into_iter().flatten().collect())
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
