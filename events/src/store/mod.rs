//! The [`EventStore`] trait, its errors, and what every store shares: turning new events into
//! hashed rows, subscriptions, whole-log verification and opening a store from a URL.

#[cfg(feature = "kurrentdb")]
mod kurrentdb;
mod memory;
mod postgres;
mod sqlite;
mod subscription;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;

#[cfg(feature = "kurrentdb")]
pub use self::kurrentdb::KurrentDbStore;
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use subscription::{Subscription, chain_from};

use crate::chain::{ChainError, ChainVerifier};
use crate::envelope::{NewEvent, StoredEvent};
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};
use crate::limits::{APPEND_EVENTS_MAX, EVENT_BYTES_MAX, READ_BATCH_EVENTS};
use crate::payload::DecodeError;

/// Everything that can go wrong talking to a store. Each variant says how to handle it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Optimistic-concurrency conflict: someone else appended first, or a different event holds
    /// the position. Retry: re-read the log, rebuild state, decide again.
    #[error(
        "concurrency conflict on campaign {campaign}: expected to append at seq {expected}, \
         but the log holds {actual} events{detail}"
    )]
    Conflict {
        /// The campaign.
        campaign: CampaignId,
        /// The position the writer expected to append at.
        expected: Seq,
        /// Number of events actually in the log.
        actual: Seq,
        /// Extra detail (which event differs).
        detail: String,
    },
    /// The store URL is malformed or names an unsupported store. Tell the user.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and what would work.
        reason: String,
    },
    /// The database exists but is not a lineage event store; it was left untouched. Tell the user.
    #[error("{location} is not a lineage event store: {reason}; it was left untouched")]
    Foreign {
        /// Where.
        location: String,
        /// What was found instead.
        reason: String,
    },
    /// The store was written by a newer lineage. Tell the user to upgrade.
    #[error(
        "{location} uses store schema {found}, but this lineage knows schemas up to {supported}: \
         upgrade lineage to open it (it was left untouched)"
    )]
    NewerSchema {
        /// Where.
        location: String,
        /// Schema found.
        found: u32,
        /// Newest schema this build knows.
        supported: u32,
    },
    /// The store cannot be reached (server down, file not readable; a connection lost once
    /// established is [`StoreError::ConnectionLost`]). Log; retry later.
    #[error("cannot reach {location}: {message}")]
    Unavailable {
        /// Where.
        location: String,
        /// The underlying error.
        message: String,
    },
    /// The connection broke and could not be re-established within the store's reconnect
    /// window (PostgreSQL: `POSTGRES_RECONNECT_WINDOW_S` in `limits.rs`). Whether an append in
    /// flight committed is unknown; the handle tries again on its next call. Tell the user, or
    /// retry later: re-read the log, and an append retried at the position it expected is
    /// recognised if it did commit.
    #[error("lost the connection to the event store {location} ({message})")]
    ConnectionLost {
        /// Where (never includes a password).
        location: String,
        /// The underlying error.
        message: String,
    },
    /// The store cannot do this at all (KurrentDB: deleting a campaign). Tell the user what to
    /// use instead; nothing was changed.
    #[error("{location}: {what}")]
    Unsupported {
        /// Where.
        location: String,
        /// What cannot be done, and what to do instead.
        what: String,
    },
    /// An append through a handle opened with [`open_store_read_only`]: nothing was written.
    /// A bug in the caller: a command that records events opens the store with [`open_store`].
    #[error("cannot append to {location}: the store was opened read-only; nothing was written")]
    ReadOnly {
        /// Where.
        location: String,
    },
    /// Opened read-only, the database exists but holds no lineage store yet (nothing was ever
    /// recorded there); it was left untouched. Tell the user to check the URL, or to record a
    /// campaign there first.
    #[error(
        "no lineage event store at {location}: nothing has been recorded there yet; it was left untouched"
    )]
    Missing {
        /// Where.
        location: String,
    },
    /// The database file is damaged. Tell the user; restore from a copy.
    #[error("{location} is damaged: {message}")]
    Corrupt {
        /// Where.
        location: String,
        /// The database's own message.
        message: String,
    },
    /// Any other error reported by the database. Log.
    #[error("{location}: {message}")]
    Backend {
        /// Where.
        location: String,
        /// The underlying error.
        message: String,
    },
    /// The append breaks a limit or an event is malformed. A bug in the caller.
    #[error("rejected append to campaign {campaign}: {reason}")]
    InvalidAppend {
        /// The campaign.
        campaign: CampaignId,
        /// Which limit or rule.
        reason: String,
    },
    /// No such campaign. Tell the user.
    #[error("unknown campaign {0} (see `lineage campaigns`)")]
    UnknownCampaign(CampaignId),
    /// A read found an event that breaks the hash chain. Tell the user; run verification.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// An event could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl StoreError {
    /// Whether the error is damage to what the store holds (a broken chain, an undecodable
    /// body, a head that disagrees with the events, a damaged database) rather than a failure
    /// to reach or use the store: a listing names such a campaign as damaged and lists the
    /// others, where a store that fails fails the whole listing.
    pub fn is_damage(&self) -> bool {
        matches!(self, StoreError::Chain(_) | StoreError::Decode(_) | StoreError::Corrupt { .. })
    }
}

/// The end of a campaign's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Number of events = the position of the next one.
    pub next: Seq,
    /// Hash of the last event ([`Hash::GENESIS`] when empty).
    pub hash: Hash,
}

impl Head {
    /// The head of a campaign with no events.
    pub const EMPTY: Head = Head { next: Seq(0), hash: Hash::GENESIS };
}

/// Result of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Position of the first event of the batch.
    pub first: Seq,
    /// The campaign's head after the append.
    pub head: Head,
    /// Leading events of the batch that were already in the log (a retried append).
    pub already_present: u32,
}

/// One line of `lineage campaigns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignSummary {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its head: event count and last hash.
    pub head: Head,
    /// When the store first saw it.
    pub created_at: DateTime<Utc>,
    /// When it last appended.
    pub updated_at: DateTime<Utc>,
}

/// An append-only, hash-chained store of campaign logs.
///
/// Every store passes the same conformance suite (`tests/store_conformance.rs`). Guarantees:
///
/// - per campaign, positions are dense from 0 and an append is atomic (all of a batch or none);
/// - an append at the wrong expected position is a [`StoreError::Conflict`], except that events
///   already present with the same ids are recognised (idempotent retry after a crash);
/// - an append is durable before it returns;
/// - [`EventStore::changes`] ticks after appends by this or any other process, so that a
///   [`Subscription`] wakes without polling the log itself.
///
/// ```no_run
/// # async fn demo() -> Result<(), lineage_events::StoreError> {
/// use lineage_events::{open_store, synthetic, ActorRef, CampaignId, EventId, NewEvent, Seq};
///
/// let store = open_store("sqlite://lineage.db").await?;
/// let campaign = CampaignId::new("demo").unwrap();
/// let payload = &synthetic::one_of_each()[0];
/// let event = NewEvent::new(EventId::derive(&campaign, "start"), ActorRef::new("operator", "me"), payload);
/// store.append(&campaign, Seq(0), vec![event]).await?;
/// let mut follow = lineage_events::Subscription::new(store.clone(), campaign, Seq(0));
/// let first = follow.next().await?;
/// assert_eq!(first.seq, Seq(0));
/// # Ok(()) }
/// ```
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Where the store is, for messages (never includes a password).
    fn location(&self) -> String;

    /// Appends `events` at position `expected` of `campaign`, atomically and durably.
    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError>;

    /// Up to `limit` events from position `from` on, in order, exactly as stored. Rows are not
    /// checked here; [`Subscription`] and [`verify_campaign`] check the chain.
    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The campaign's head, or `None` if the campaign has no events.
    async fn head(&self, campaign: &CampaignId) -> Result<Option<Head>, StoreError>;

    /// Every campaign in the store, oldest first.
    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError>;

    /// Destroys `campaign`'s record — every event, atomically — and returns how many it held:
    /// afterwards nothing can verify, replay or recover it, and its id is free again. The one
    /// operation that removes events; `lineage campaigns delete` asks for confirmation first.
    /// An unknown campaign is [`StoreError::UnknownCampaign`]; a read-only handle refuses.
    async fn delete_campaign(&self, campaign: &CampaignId) -> Result<u64, StoreError>;

    /// A counter that changes after appends (by any process). Take it before reading, then wait
    /// on `changed()`: no append between the read and the wait is missed.
    fn changes(&self) -> watch::Receiver<u64>;
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Appends allowed; a missing store is created.
    ReadWrite,
    /// Reads only: nothing is created or written, appends are [`StoreError::ReadOnly`].
    ReadOnly,
}

/// Opens the store a URL names: `sqlite://PATH`, `postgres://…` (or `postgresql://…`),
/// `memory://` (in-process, for tests), or — in a build with the `kurrentdb` feature —
/// `kurrentdb://…` (also `kurrentdb+discover://`, `esdb://`, `esdb+discover://`; see
/// docs/kurrentdb.md). A missing SQLite file or missing PostgreSQL tables are created, as is a
/// KurrentDB server's campaign index.
pub async fn open_store(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    open_store_with(url, Access::ReadWrite).await
}

/// Opens the store a URL names for reading only, as the audit commands do: nothing is created,
/// no setting is changed and nothing is written, so a store the caller may not write (a
/// read-only file, a read-only database role, a replica) can be read and verified. Every append
/// through the handle is a [`StoreError::ReadOnly`].
///
/// - SQLite opens the file with `SQLITE_OPEN_READONLY` and leaves its journal mode alone. A
///   missing file, or one without lineage's tables, is [`StoreError::Missing`]. When no `-wal`
///   file exists and the file's directory cannot be written, the file is read as immutable (a
///   snapshot; without a `-wal` file no writer has it open), so no `-wal`/`-shm` file is needed.
///   When a `-wal` file exists (a writer has the store open), reading needs its `-shm` index,
///   which SQLite creates if the directory allows it.
/// - PostgreSQL runs every session with `default_transaction_read_only = on`, and does not
///   create tables: a database without lineage's tables is [`StoreError::Missing`].
/// - `memory://` gives an empty store that refuses appends.
/// - KurrentDB (with the `kurrentdb` feature) writes nothing; a server without lineage's
///   campaign index is [`StoreError::Missing`].
pub async fn open_store_read_only(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    open_store_with(url, Access::ReadOnly).await
}

async fn open_store_with(url: &str, access: Access) -> Result<Arc<dyn EventStore>, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl { url: url.to_owned(), reason: reason.to_owned() };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("expected SCHEME://…, e.g. sqlite://lineage.db or postgres://user@host/db"));
    };
    match scheme {
        "sqlite" => {
            if rest.is_empty() {
                return Err(invalid("no file path after sqlite://"));
            }
            Ok(Arc::new(match access {
                Access::ReadWrite => SqliteStore::open(rest).await?,
                Access::ReadOnly => SqliteStore::open_read_only(rest).await?,
            }))
        }
        "postgres" | "postgresql" => Ok(Arc::new(match access {
            Access::ReadWrite => PostgresStore::connect(url).await?,
            Access::ReadOnly => PostgresStore::connect_read_only(url).await?,
        })),
        "memory" => match access {
            Access::ReadWrite => Ok(Arc::new(MemoryStore::new())),
            Access::ReadOnly => Ok(read_only(Arc::new(MemoryStore::new()))),
        },
        #[cfg(feature = "kurrentdb")]
        "kurrentdb" | "kurrentdb+discover" | "esdb" | "esdb+discover" => Ok(Arc::new(match access {
            Access::ReadWrite => KurrentDbStore::connect(url).await?,
            Access::ReadOnly => KurrentDbStore::connect_read_only(url).await?,
        })),
        #[cfg(not(feature = "kurrentdb"))]
        "kurrentdb" | "kurrentdb+discover" | "esdb" | "esdb+discover" => Err(invalid(
            "KurrentDB / EventStoreDB stores are not available in this build (build with \
             `--features kurrentdb`, see docs/kurrentdb.md); use sqlite:// or postgres://",
        )),
        other => {
            Err(invalid(&format!("unknown scheme {other:?}; use sqlite://PATH, postgres://… or memory://")))
        }
    }
}

/// A handle on `store` that reads through to it and refuses every append with
/// [`StoreError::ReadOnly`] (nothing reaches `store`). The SQLite and PostgreSQL stores are
/// made read-only by the database itself ([`open_store_read_only`]); this is the same guarantee
/// for a store that has no such mode, such as a shared [`MemoryStore`].
pub fn read_only(store: Arc<dyn EventStore>) -> Arc<dyn EventStore> {
    Arc::new(ReadOnlyView(store))
}

struct ReadOnlyView(Arc<dyn EventStore>);

#[async_trait]
impl EventStore for ReadOnlyView {
    fn location(&self) -> String {
        self.0.location()
    }

    async fn append(&self, _: &CampaignId, _: Seq, _: Vec<NewEvent>) -> Result<Appended, StoreError> {
        Err(StoreError::ReadOnly { location: self.0.location() })
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

    async fn delete_campaign(&self, _: &CampaignId) -> Result<u64, StoreError> {
        Err(StoreError::ReadOnly { location: self.0.location() })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.0.changes()
    }
}

/// Reads a whole campaign and checks its hash chain against the store's head. Returns the
/// verified head, or names the first bad event.
pub async fn verify_campaign(store: &dyn EventStore, campaign: &CampaignId) -> Result<Head, StoreError> {
    read_verified(store, campaign, |_| {}).await
}

/// Reads a whole campaign in order, checking each event against the hash chain before handing
/// it to `visit`, and the end against the store's head. Returns the verified head, or names the
/// first bad event.
///
/// The head is read after the events, so a campaign still being written verifies too: an append
/// puts its events and the new head in one transaction, so a head read later is never behind the
/// events read before it. A head ahead of them means appends landed in between, and the reading
/// goes on; events beyond the head can only have been put there around the store, and fail.
pub async fn read_verified(
    store: &dyn EventStore,
    campaign: &CampaignId,
    mut visit: impl FnMut(StoredEvent),
) -> Result<Head, StoreError> {
    store.head(campaign).await?.ok_or_else(|| StoreError::UnknownCampaign(campaign.clone()))?;
    let mut verifier = ChainVerifier::new(campaign.clone());
    let mut end = LogEnd::default();
    loop {
        loop {
            let batch = store.read(campaign, verifier.next_seq(), READ_BATCH_EVENTS).await?;
            if batch.is_empty() {
                break;
            }
            for event in batch {
                verifier.check(&event)?;
                visit(event);
            }
        }
        if let Some(head) = end.reached(store, &verifier).await? {
            return Ok(head);
        }
    }
}

/// Where a reader of a whole log stands once it has read all the store held: the one rule of
/// [`read_verified`], replay's fold and [`Subscription::at_head`].
///
/// The head is read after the events. An append commits its events and the new head together,
/// so a head ahead of them promises events appended meanwhile: read on. Once a reading that
/// started after such a promise still falls short of it, the events are missing. Events past
/// the head can only have been put there around the store.
#[derive(Debug, Default)]
pub struct LogEnd {
    /// The head's count at the last head read that was ahead of the events.
    promised: Option<Seq>,
}

impl LogEnd {
    /// The head, once the events checked by `chain` end where it says; `None` when appends
    /// landed since (read on, then ask again). A chain that disagrees with the head fails,
    /// naming the first event; a campaign whose head vanished after its events were read was
    /// deleted meanwhile.
    pub async fn reached(
        &mut self,
        store: &dyn EventStore,
        chain: &ChainVerifier,
    ) -> Result<Option<Head>, StoreError> {
        let reached = chain.next_seq();
        let head = match store.head(chain.campaign()).await? {
            Some(head) => head,
            None if reached == Seq(0) => Head::EMPTY,
            None => return Err(StoreError::UnknownCampaign(chain.campaign().clone())),
        };
        if head.next > reached && self.promised.is_none_or(|promised| promised <= reached) {
            self.promised = Some(head.next);
            return Ok(None);
        }
        chain.finish(head.next, head.hash)?;
        Ok(Some(head))
    }
}

/// One event ready to insert: the body and hashes computed once, identically for every store.
#[derive(Debug)]
pub(crate) struct Row {
    pub seq: Seq,
    pub id: EventId,
    pub type_name: String,
    pub recorded_at: String,
    pub body: String,
    pub prev_hash: Hash,
    pub hash: Hash,
}

/// Decides what an append writes, given the current head and the ids already stored at
/// `expected..` (only needed when `expected` is behind the head).
///
/// A batch whose leading events are already present with the same ids is a retry: those are
/// skipped and the rest chained after the head. Any other mismatch is a conflict. Fewer ids
/// than the head promises means events the head counts are missing: the store at `location` is
/// damaged, and nothing is appended.
pub(crate) fn plan_append(
    location: &str,
    campaign: &CampaignId,
    expected: Seq,
    head: Head,
    existing_ids: &[EventId],
    events: &[NewEvent],
) -> Result<(Vec<Row>, u32), StoreError> {
    check_append(campaign, events)?;
    let conflict = |detail: String| StoreError::Conflict {
        campaign: campaign.clone(),
        expected,
        actual: head.next,
        detail,
    };
    if expected > head.next {
        return Err(conflict(String::new()));
    }
    let overlap = (head.next.0 - expected.0).min(events.len() as u64) as usize;
    if existing_ids.len() != overlap {
        return Err(StoreError::Corrupt {
            location: location.to_owned(),
            message: format!(
                "campaign {campaign}: its head says {} events, but events {expected}..{} are not all there (see `lineage verify`)",
                head.next,
                expected.0 + overlap as u64
            ),
        });
    }
    for (i, (stored, new)) in existing_ids.iter().zip(events).enumerate() {
        if *stored != new.id {
            return Err(conflict(format!(
                " (seq {} is event {stored}, not {})",
                expected.0 + i as u64,
                new.id
            )));
        }
    }
    let mut rows = Vec::with_capacity(events.len() - overlap);
    let mut prev = head.hash;
    for (i, event) in events[overlap..].iter().enumerate() {
        let seq = Seq(head.next.0 + i as u64);
        let body = event.body(campaign, seq)?;
        if body.len() > EVENT_BYTES_MAX {
            return Err(StoreError::InvalidAppend {
                campaign: campaign.clone(),
                reason: format!("event {} is {} bytes; the limit is {EVENT_BYTES_MAX}", event.id, body.len()),
            });
        }
        let hash = Hash::chain(&prev, body.as_bytes());
        rows.push(Row {
            seq,
            id: event.id,
            type_name: event.payload.type_name.clone(),
            recorded_at: event.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            body,
            prev_hash: prev,
            hash,
        });
        prev = hash;
    }
    Ok((rows, overlap as u32))
}

fn check_append(campaign: &CampaignId, events: &[NewEvent]) -> Result<(), StoreError> {
    let reject = |reason: String| Err(StoreError::InvalidAppend { campaign: campaign.clone(), reason });
    if events.is_empty() {
        return reject("no events".into());
    }
    if events.len() > APPEND_EVENTS_MAX {
        return reject(format!("{} events in one append; the limit is {APPEND_EVENTS_MAX}", events.len()));
    }
    let mut ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return reject("the batch contains the same event id twice".into());
    }
    Ok(())
}

/// The head after appending `rows` to `head`.
pub(crate) fn head_after(head: Head, rows: &[Row]) -> Head {
    rows.last().map_or(head, |last| Head { next: last.seq.next(), hash: last.hash })
}

/// Current time as stored in the campaigns table.
pub(crate) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a time stored by [`now_text`].
pub(crate) fn parse_time(text: &str, location: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("bad timestamp {text:?}: {e}"),
    })
}
