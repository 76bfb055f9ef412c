//! The shared store for campaigns whose actors run on many machines (`postgres://…`).
//!
//! **No skipped events.** The global-position gap problem — a reader sees position 11 committed
//! while 10 is still in flight and skips 10 forever — cannot arise here: positions are per
//! campaign and dense, and every append locks the campaign's head row (`SELECT … FOR UPDATE`)
//! before choosing its positions. The transaction that writes seq n+1 therefore starts only after
//! the one that wrote seq n committed, so commit order equals seq order, and a reader that asks
//! for `seq >= n` in a campaign sees either nothing new or n.
//!
//! **Followers** are woken by `LISTEN lineage_events` / `pg_notify` (sent inside the appending
//! transaction, delivered at commit). The notification is only a hint: subscriptions re-read the
//! log, and a timer ticks every [`POSTGRES_SAFETY_POLL_MS`] so a lost notification (a dropped
//! listener connection) delays a follower but cannot stall it.
//!
//! Bodies are stored as `text`, not `jsonb`, because `jsonb` re-serialises and the hash chain
//! covers the exact bytes.
//!
//! **Read-only** ([`PostgresStore::connect_read_only`]): every session runs with
//! `default_transaction_read_only = on` and no table is created, so a role with only `SELECT`
//! can read; appends are refused before they reach the server.
//!
//! **A lost connection** (the server restarted, or the session was terminated) is
//! [`StoreError::ConnectionLost`], naming the store without its password. This handle does not
//! reconnect: open the store again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{Mutex, watch};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use super::{
    Access, Appended, CampaignSummary, EventStore, Head, StoreError, head_after, now_text, parse_time,
    plan_append,
};
use crate::envelope::{NewEvent, StoredEvent};
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};
use crate::limits::{POSTGRES_CONNECT_TIMEOUT_S, POSTGRES_SAFETY_POLL_MS};

/// Store schema version this build writes (row `schema_version` of `lineage_meta`).
pub const SCHEMA_VERSION: u32 = 1;

/// Advisory lock key that serialises schema creation across processes ("LNGE").
const SCHEMA_LOCK_KEY: i64 = 0x4C4E_4745;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lineage_campaigns (
    id         TEXT PRIMARY KEY,
    head_seq   BIGINT NOT NULL,
    head_hash  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lineage_events (
    campaign    TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (campaign, seq),
    UNIQUE (campaign, id)
);
";

/// An event store in a PostgreSQL database.
pub struct PostgresStore {
    location: String,
    /// `None` when opened read-only.
    writer: Option<Mutex<Client>>,
    reader: Client,
    read_stmt: Statement,
    _listener: Client,
    changes: Arc<watch::Sender<u64>>,
}

fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

/// The error and its causes on one line.
fn message(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An error while connecting: the server cannot be reached, or it refused the session.
fn connect_error(location: &str, error: tokio_postgres::Error) -> StoreError {
    let location = location.to_owned();
    if error.as_db_error().is_none() {
        return StoreError::Unavailable { location, message: message(&error) };
    }
    StoreError::Backend { location, message: message(&error) }
}

/// An error on an established connection: a broken connection (closed, an I/O error, or the
/// server ending the session: shutdown, termination, a connection exception) is
/// [`StoreError::ConnectionLost`].
fn pg_error(location: &str, error: tokio_postgres::Error) -> StoreError {
    let location = location.to_owned();
    let ended_by_server = error.as_db_error().is_some_and(|db| {
        let code = db.code().code();
        // 57P01 admin_shutdown (also pg_terminate_backend), 57P02 crash_shutdown,
        // 57P03 cannot_connect_now, 57P05 idle_session_timeout; class 08: connection exception.
        matches!(code, "57P01" | "57P02" | "57P03" | "57P05") || code.starts_with("08")
    });
    let io = std::error::Error::source(&error).is_some_and(|cause| cause.is::<std::io::Error>());
    if error.is_closed() || ended_by_server || (io && error.as_db_error().is_none()) {
        return StoreError::ConnectionLost { location, message: message(&error) };
    }
    if error.as_db_error().is_none() {
        return StoreError::Unavailable { location, message: message(&error) };
    }
    StoreError::Backend { location, message: message(&error) }
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names, creating lineage's tables if absent.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Access::ReadWrite).await
    }

    /// Connects to the database a `postgres://` URL names for reading only: every session runs
    /// with `default_transaction_read_only = on`, no table is created, and every append is a
    /// [`StoreError::ReadOnly`]. A database without lineage's tables is
    /// [`StoreError::Missing`].
    pub async fn connect_read_only(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Access::ReadOnly).await
    }

    async fn connect_with(url: &str, access: Access) -> Result<Self, StoreError> {
        let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: message(&e),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(POSTGRES_CONNECT_TIMEOUT_S));
        }
        let location = describe(&config);
        let writer = match access {
            Access::ReadWrite => {
                let writer = open_client(&config, &location, access).await?;
                create_schema(&writer, &location).await?;
                Some(Mutex::new(writer))
            }
            Access::ReadOnly => None,
        };
        let reader = open_client(&config, &location, access).await?;
        if writer.is_none() {
            check_schema(&reader, &location).await?;
        }
        let read_stmt = reader
            .prepare(
                "SELECT seq, id, prev_hash, hash, body FROM lineage_events
                 WHERE campaign = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
            )
            .await
            .map_err(|e| pg_error(&location, e))?;
        let changes = Arc::new(watch::Sender::new(0u64));
        let listener = listen(&config, &location, access, Arc::downgrade(&changes)).await?;
        spawn_safety_tick(Arc::downgrade(&changes));
        Ok(Self { location, writer, reader, read_stmt, _listener: listener, changes })
    }
}

async fn open_client(config: &Config, location: &str, access: Access) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| connect_error(location, e))?;
    let location_owned = location.to_owned();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            // The next operation on this connection fails with `ConnectionLost`, which says so.
            tracing::debug!(location = %location_owned, error = %message(&e), "postgres connection ended");
        }
    });
    restrict(&client, location, access).await?;
    Ok(client)
}

/// Makes every transaction of a read-only store's session read-only.
async fn restrict(client: &Client, location: &str, access: Access) -> Result<(), StoreError> {
    if access == Access::ReadOnly {
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(|e| pg_error(location, e))?;
    }
    Ok(())
}

/// The schema version a database records, or `None` when it has no lineage tables. Reads only.
async fn schema_version(client: &Client, location: &str) -> Result<Option<u32>, StoreError> {
    let err = |e| pg_error(location, e);
    let meta = client.query_one("SELECT to_regclass('lineage_meta') IS NOT NULL", &[]).await.map_err(err)?;
    if !meta.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT value FROM lineage_meta WHERE key = 'schema_version'", &[])
        .await
        .map_err(err)?;
    let found =
        row.and_then(|r| r.get::<_, String>(0).parse::<u32>().ok()).ok_or_else(|| StoreError::Foreign {
            location: location.to_owned(),
            reason: "table lineage_meta exists but records no schema_version".into(),
        })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            location: location.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(Some(found))
}

/// A read-only store's check of the database: lineage's tables must be there, in a schema
/// this build knows.
async fn check_schema(client: &Client, location: &str) -> Result<(), StoreError> {
    match schema_version(client, location).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Missing { location: location.to_owned() }),
    }
}

async fn create_schema(client: &Client, location: &str) -> Result<(), StoreError> {
    let err = |e| pg_error(location, e);
    client.batch_execute("BEGIN").await.map_err(err)?;
    let result = async {
        client.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY]).await.map_err(err)?;
        if schema_version(client, location).await?.is_none() {
            client
                .batch_execute("CREATE TABLE lineage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                .await
                .map_err(err)?;
            client
                .execute(
                    "INSERT INTO lineage_meta (key, value) VALUES ('schema_version', $1)",
                    &[&SCHEMA_VERSION.to_string()],
                )
                .await
                .map_err(err)?;
        }
        client.batch_execute(SCHEMA).await.map_err(err)
    }
    .await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    client.batch_execute(end).await.map_err(err)?;
    result
}

/// A connection that LISTENs and ticks `changes` on every notification.
async fn listen(
    config: &Config,
    location: &str,
    access: Access,
    changes: Weak<watch::Sender<u64>>,
) -> Result<Client, StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| connect_error(location, e))?;
    let location_owned = location.to_owned();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(received) = messages.next().await {
            match received {
                Ok(AsyncMessage::Notification(_)) => {
                    let Some(changes) = changes.upgrade() else { return };
                    changes.send_modify(|n| *n = n.wrapping_add(1));
                }
                Ok(_) => {}
                Err(e) => {
                    // Followers go on at the safety tick; a lost connection is reported by the
                    // next read or append, as `ConnectionLost`.
                    tracing::debug!(location = %location_owned, error = %message(&e), "postgres listener ended; following by polling");
                    return;
                }
            }
        }
    });
    restrict(&client, location, access).await?;
    client.batch_execute("LISTEN lineage_events").await.map_err(|e| pg_error(location, e))?;
    Ok(client)
}

fn spawn_safety_tick(changes: Weak<watch::Sender<u64>>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(POSTGRES_SAFETY_POLL_MS));
        loop {
            interval.tick().await;
            let Some(changes) = changes.upgrade() else { return };
            if changes.receiver_count() > 0 {
                changes.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    });
}

fn parse_hash(text: &str, seq: i64, location: &str) -> Result<Hash, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("event {seq}: malformed hash {text:?}"),
    })
}

fn head_from(row: Option<tokio_postgres::Row>, location: &str) -> Result<Option<Head>, StoreError> {
    row.map(|r| {
        let seq: i64 = r.get(0);
        Ok(Head { next: Seq(seq as u64), hash: parse_hash(r.get(1), seq, location)? })
    })
    .transpose()
}

#[async_trait]
impl EventStore for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let location = &self.location;
        let err = |e| pg_error(location, e);
        let Some(writer) = &self.writer else {
            return Err(StoreError::ReadOnly { location: location.clone() });
        };
        let mut client = writer.lock().await;
        let tx = client.transaction().await.map_err(err)?;
        let lock_head = "SELECT head_seq, head_hash FROM lineage_campaigns WHERE id = $1 FOR UPDATE";
        let mut head_row = tx.query_opt(lock_head, &[&campaign.as_str()]).await.map_err(err)?;
        if head_row.is_none() {
            let now = now_text();
            tx.execute(
                "INSERT INTO lineage_campaigns (id, head_seq, head_hash, created_at, updated_at)
                 VALUES ($1, 0, $2, $3, $3) ON CONFLICT (id) DO NOTHING",
                &[&campaign.as_str(), &Hash::GENESIS.to_hex(), &now],
            )
            .await
            .map_err(err)?;
            head_row = tx.query_opt(lock_head, &[&campaign.as_str()]).await.map_err(err)?;
        }
        let head = head_from(head_row, location)?.unwrap_or(Head::EMPTY);
        let existing = if expected < head.next {
            let end = head.next.0.min(expected.0 + events.len() as u64);
            let rows = tx
                .query(
                    "SELECT id FROM lineage_events WHERE campaign = $1 AND seq >= $2 AND seq < $3 ORDER BY seq",
                    &[&campaign.as_str(), &(expected.0 as i64), &(end as i64)],
                )
                .await
                .map_err(err)?;
            rows.iter()
                .map(|r| {
                    let id: &str = r.get(0);
                    id.parse::<EventId>().map_err(|_| StoreError::Corrupt {
                        location: location.clone(),
                        message: format!("malformed event id {id:?}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let (rows, already_present) = plan_append(campaign, expected, head, &existing, &events)?;
        let new_head = head_after(head, &rows);
        if !rows.is_empty() {
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq.0 as i64).collect();
            let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
            let types: Vec<&str> = rows.iter().map(|r| r.type_name.as_str()).collect();
            let times: Vec<&str> = rows.iter().map(|r| r.recorded_at.as_str()).collect();
            let prevs: Vec<String> = rows.iter().map(|r| r.prev_hash.to_hex()).collect();
            let hashes: Vec<String> = rows.iter().map(|r| r.hash.to_hex()).collect();
            let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
            tx.execute(
                "INSERT INTO lineage_events (campaign, seq, id, type, recorded_at, prev_hash, hash, body)
                 SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])",
                &[&campaign.as_str(), &seqs, &ids, &types, &times, &prevs, &hashes, &bodies],
            )
            .await
            .map_err(err)?;
            tx.execute(
                "UPDATE lineage_campaigns SET head_seq = $2, head_hash = $3, updated_at = $4 WHERE id = $1",
                &[&campaign.as_str(), &(new_head.next.0 as i64), &new_head.hash.to_hex(), &now_text()],
            )
            .await
            .map_err(err)?;
            tx.execute("SELECT pg_notify('lineage_events', $1)", &[&campaign.as_str()]).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(Appended { first: expected, head: new_head, already_present })
    }

    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let location = &self.location;
        let rows = self
            .reader
            .query(&self.read_stmt, &[&campaign.as_str(), &(from.0 as i64), &(limit as i64)])
            .await
            .map_err(|e| pg_error(location, e))?;
        rows.into_iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let id: &str = r.get(1);
                let corrupt = |what: &str| StoreError::Corrupt {
                    location: location.clone(),
                    message: format!("event {seq}: malformed {what}"),
                };
                Ok(StoredEvent {
                    seq: Seq(u64::try_from(seq).map_err(|_| corrupt("seq"))?),
                    id: id.parse().map_err(|_| corrupt("id"))?,
                    prev_hash: parse_hash(r.get(2), seq, location)?,
                    hash: parse_hash(r.get(3), seq, location)?,
                    body: r.get(4),
                })
            })
            .collect()
    }

    async fn head(&self, campaign: &CampaignId) -> Result<Option<Head>, StoreError> {
        let row = self
            .reader
            .query_opt(
                "SELECT head_seq, head_hash FROM lineage_campaigns WHERE id = $1 AND head_seq > 0",
                &[&campaign.as_str()],
            )
            .await
            .map_err(|e| pg_error(&self.location, e))?;
        head_from(row, &self.location)
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let location = &self.location;
        let rows = self
            .reader
            .query(
                "SELECT id, head_seq, head_hash, created_at, updated_at FROM lineage_campaigns
                 WHERE head_seq > 0 ORDER BY created_at, id",
                &[],
            )
            .await
            .map_err(|e| pg_error(location, e))?;
        rows.into_iter()
            .map(|r| {
                let seq: i64 = r.get(1);
                Ok(CampaignSummary {
                    campaign: CampaignId::new(r.get::<_, String>(0)).map_err(|e| StoreError::Corrupt {
                        location: location.clone(),
                        message: e.to_string(),
                    })?,
                    head: Head { next: Seq(seq as u64), hash: parse_hash(r.get(2), seq, location)? },
                    created_at: parse_time(r.get(3), location)?,
                    updated_at: parse_time(r.get(4), location)?,
                })
            })
            .collect()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
