//! The embedded default store: one SQLite file (`sqlite://PATH`), WAL mode.
//!
//! **Durability**: `synchronous = FULL`. In WAL mode that syncs the WAL on every commit, so an
//! append has reached the disk when it returns, and survives power loss, not only a crash of the
//! process. `NORMAL` would be faster for single appends but could lose the last commits on power
//! loss, which would break the rule that nobody acts on an event that can disappear. Batched
//! appends amortise the sync.
//!
//! **Followers in other processes**: a background thread polls `PRAGMA data_version` (which
//! changes whenever *another* connection commits) every
//! [`SQLITE_POLL_INTERVAL_MS`](crate::limits::SQLITE_POLL_INTERVAL_MS) and ticks
//! [`EventStore::changes`]. Appends made through this handle tick it directly.
//!
//! **Identity**: the file carries `PRAGMA application_id` = [`APPLICATION_ID`] and
//! `PRAGMA user_version` = the store schema. A file that is not SQLite, a SQLite file of another
//! application, or a newer schema is refused before anything is written to it.
//!
//! **Read-only** ([`SqliteStore::open_read_only`]): the file is opened with
//! `SQLITE_OPEN_READONLY`; no table is created and the journal mode is left alone. A WAL
//! database is read through its `-shm` index, which SQLite creates next to the file when a
//! `-wal` file exists or the directory is writable. When there is no `-wal` file (every
//! connection closed cleanly, so the main file holds every commit) and the directory cannot be
//! written, the file is opened `immutable=1` instead: read as a snapshot, with no lock and no
//! file created, and not followed (no other writer can be running without a `-wal` file).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;

mod open;

use open::{
    connect, directory_is_read_only, open_reader, prepare_schema, refuse_non_sqlite, sibling, sql_error,
};

use super::{
    Appended, CampaignSummary, EventStore, Head, StoreError, head_after, now_text, parse_time, plan_append,
};
use crate::envelope::{NewEvent, StoredEvent};
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};
use crate::limits::SQLITE_POLL_INTERVAL_MS;

/// `PRAGMA application_id` of a lineage database: "LNGE".
pub const APPLICATION_ID: i32 = 0x4C4E_4745;

/// Store schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// Rows reserved up front by one read (a caller may pass a huge limit and get a few rows).
const READ_CAPACITY_MAX: u32 = 4096;

/// An event store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    location: String,
    /// `None` when opened read-only.
    writer: Option<Mutex<Connection>>,
    reader: Mutex<Connection>,
    /// Read as an immutable snapshot: nothing can change, nothing to watch.
    snapshot: bool,
    changes: watch::Sender<u64>,
    poller: Once,
}

impl SqliteStore {
    /// Opens (creating if absent) the store at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path)).await.expect("open task panicked")
    }

    /// Opens the existing store at `path` for reading only: nothing is created or written, and
    /// every append is a [`StoreError::ReadOnly`]. A missing file, or a SQLite file without
    /// lineage's tables, is [`StoreError::Missing`]. See the module documentation for how a
    /// WAL database in a directory this process cannot write is read.
    pub async fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_read_only_blocking(&path))
            .await
            .expect("open task panicked")
    }

    fn open_blocking(path: &Path) -> Result<Self, StoreError> {
        let location = format!("sqlite://{}", path.display());
        refuse_non_sqlite(path, &location)?;
        let writer = connect(path, &location)?;
        prepare_schema(&writer, &location)?;
        let reader = connect(path, &location)?;
        Ok(Self::from_parts(path, location, Some(writer), reader, false))
    }

    fn open_read_only_blocking(path: &Path) -> Result<Self, StoreError> {
        let location = format!("sqlite://{}", path.display());
        if let Err(e) = std::fs::metadata(path)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return Err(StoreError::Missing { location });
        }
        refuse_non_sqlite(path, &location)?;
        let no_wal = !sibling(path, "-wal").exists();
        let snapshot = no_wal && directory_is_read_only(path);
        let (reader, snapshot) = match open_reader(path, &location, snapshot) {
            // The directory is not writable for this process although its mode says it is (it
            // belongs to someone else): without a -wal file, read the file as a snapshot.
            Err(StoreError::Unavailable { .. }) if no_wal && !snapshot => {
                (open_reader(path, &location, true)?, true)
            }
            other => (other?, snapshot),
        };
        Ok(Self::from_parts(path, location, None, reader, snapshot))
    }

    fn from_parts(
        path: &Path,
        location: String,
        writer: Option<Connection>,
        reader: Connection,
        snapshot: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                location,
                writer: writer.map(Mutex::new),
                reader: Mutex::new(reader),
                snapshot,
                changes: watch::Sender::new(0),
                poller: Once::new(),
            }),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.expect("store task panicked")
    }
}

fn parse_hash(text: &str, seq: i64, location: &str) -> Result<Hash, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("event {seq}: malformed hash {text:?}"),
    })
}

fn read_head(conn: &Connection, campaign: &CampaignId, location: &str) -> Result<Option<Head>, StoreError> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT head_seq, head_hash FROM lineage_campaigns WHERE id = ?1",
            [campaign.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| sql_error(location, e))?;
    row.map(|(seq, hash)| Ok(Head { next: Seq(seq as u64), hash: parse_hash(&hash, seq, location)? }))
        .transpose()
}

impl Inner {
    /// The writing connection, held; a read-only handle has none.
    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        let writer =
            self.writer.as_ref().ok_or_else(|| StoreError::ReadOnly { location: self.location.clone() })?;
        Ok(writer.lock().expect("sqlite writer lock"))
    }

    fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        let location = &self.location;
        let err = |e| sql_error(location, e);
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let head = read_head(&tx, campaign, location)?.unwrap_or(Head::EMPTY);
        let existing = if expected < head.next {
            let end = head.next.0.min(expected.0 + events.len() as u64);
            let mut stmt = tx
                .prepare_cached("SELECT id FROM lineage_events WHERE campaign = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq")
                .map_err(err)?;
            let ids = stmt
                .query_map(params![campaign.as_str(), expected.0 as i64, end as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(err)?;
            ids.map(|id| {
                let id = id.map_err(err)?;
                id.parse::<EventId>().map_err(|_| StoreError::Corrupt {
                    location: location.clone(),
                    message: format!("malformed event id {id:?}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let (rows, already_present) = plan_append(location, campaign, expected, head, &existing, events)?;
        let new_head = head_after(head, &rows);
        if !rows.is_empty() {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO lineage_events (campaign, seq, id, type, recorded_at, prev_hash, hash, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for row in &rows {
                insert
                    .execute(params![
                        campaign.as_str(),
                        row.seq.0 as i64,
                        row.id.to_string(),
                        row.type_name,
                        row.recorded_at,
                        row.prev_hash.to_hex(),
                        row.hash.to_hex(),
                        row.body,
                    ])
                    .map_err(err)?;
            }
            drop(insert);
            let now = now_text();
            tx.execute(
                "INSERT INTO lineage_campaigns (id, head_seq, head_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (id) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash,
                                                updated_at = excluded.updated_at",
                params![campaign.as_str(), new_head.next.0 as i64, new_head.hash.to_hex(), now],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Appended { first: expected, head: new_head, already_present })
    }

    /// Deletes the campaign's events and its row in one transaction.
    fn delete(&self, campaign: &CampaignId) -> Result<u64, StoreError> {
        let err = |e| sql_error(&self.location, e);
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let events =
            tx.execute("DELETE FROM lineage_events WHERE campaign = ?1", [campaign.as_str()]).map_err(err)?;
        let rows =
            tx.execute("DELETE FROM lineage_campaigns WHERE id = ?1", [campaign.as_str()]).map_err(err)?;
        if rows == 0 {
            return Err(StoreError::UnknownCampaign(campaign.clone()));
        }
        tx.commit().map_err(err)?;
        Ok(events as u64)
    }

    fn read(&self, campaign: &CampaignId, from: Seq, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let location = &self.location;
        let err = |e| sql_error(location, e);
        let conn = self.reader.lock().expect("sqlite reader lock");
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, id, prev_hash, hash, body FROM lineage_events
                 WHERE campaign = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![campaign.as_str(), from.0 as i64, limit as i64]).map_err(err)?;
        let mut events = Vec::with_capacity(limit.min(READ_CAPACITY_MAX) as usize);
        while let Some(row) = rows.next().map_err(err)? {
            let seq: i64 = row.get(0).map_err(err)?;
            let corrupt = |what: &str| StoreError::Corrupt {
                location: location.clone(),
                message: format!("event {seq}: malformed {what}"),
            };
            // Borrowed reads: the hex columns are parsed in place, not copied first.
            let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(err);
            events.push(StoredEvent {
                seq: Seq(u64::try_from(seq).map_err(|_| corrupt("seq"))?),
                id: text(1)?.parse().map_err(|_| corrupt("id"))?,
                prev_hash: parse_hash(text(2)?, seq, location)?,
                hash: parse_hash(text(3)?, seq, location)?,
                body: text(4)?.to_owned(),
            });
        }
        Ok(events)
    }

    fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let location = &self.location;
        let err = |e| sql_error(location, e);
        let conn = self.reader.lock().expect("sqlite reader lock");
        let mut stmt = conn
            .prepare_cached("SELECT id, head_seq, head_hash, created_at, updated_at FROM lineage_campaigns ORDER BY created_at, id")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(err)?;
        rows.map(|row| {
            let (id, seq, hash, created, updated) = row.map_err(err)?;
            Ok(CampaignSummary {
                campaign: CampaignId::new(id).map_err(|e| StoreError::Corrupt {
                    location: location.clone(),
                    message: e.to_string(),
                })?,
                head: Head { next: Seq(seq as u64), hash: parse_hash(&hash, seq, location)? },
                created_at: parse_time(&created, location)?,
                updated_at: parse_time(&updated, location)?,
            })
        })
        .collect()
    }
}

/// Ticks `changes` whenever another connection commits, until the store is dropped.
fn poll_data_version(inner: Weak<Inner>, path: PathBuf) {
    let Ok(conn) = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        tracing::warn!(path = %path.display(), "cannot open a connection to watch for other writers");
        return;
    };
    let version = |conn: &Connection| conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)).ok();
    let mut last = version(&conn);
    loop {
        std::thread::sleep(Duration::from_millis(SQLITE_POLL_INTERVAL_MS));
        let Some(inner) = inner.upgrade() else { return };
        let now = version(&conn);
        if now != last {
            last = now;
            inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    fn location(&self) -> String {
        self.inner.location.clone()
    }

    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let campaign = campaign.clone();
        let appended = self.blocking(move |inner| inner.append(&campaign, expected, &events)).await?;
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(appended)
    }

    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let campaign = campaign.clone();
        self.blocking(move |inner| inner.read(&campaign, from, limit)).await
    }

    async fn head(&self, campaign: &CampaignId) -> Result<Option<Head>, StoreError> {
        let campaign = campaign.clone();
        self.blocking(move |inner| {
            let conn = inner.reader.lock().expect("sqlite reader lock");
            read_head(&conn, &campaign, &inner.location)
        })
        .await
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        self.blocking(|inner| inner.campaigns()).await
    }

    async fn delete_campaign(&self, campaign: &CampaignId) -> Result<u64, StoreError> {
        let campaign = campaign.clone();
        let deleted = self.blocking(move |inner| inner.delete(&campaign)).await?;
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(deleted)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        if self.inner.snapshot {
            // An immutable snapshot never changes.
            return self.inner.changes.subscribe();
        }
        self.inner.poller.call_once(|| {
            let weak = Arc::downgrade(&self.inner);
            let path = self.inner.path.clone();
            std::thread::Builder::new()
                .name("lineage-sqlite-watch".into())
                .spawn(move || poll_data_version(weak, path))
                .expect("spawn the sqlite watcher thread");
        });
        self.inner.changes.subscribe()
    }
}
