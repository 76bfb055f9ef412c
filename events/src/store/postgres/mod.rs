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
//! **A lost connection** — the server restarted, crashed or failed over, or ended the session:
//! the connection closed or was refused, an I/O error, SQLSTATE 57P01 admin_shutdown, 57P02
//! crash_shutdown, 57P03 cannot_connect_now, 57P05 or class 08 — is reconnected, each of the
//! store's three connections on its own: the writer and the reader when an operation finds
//! theirs broken, the LISTEN connection as soon as it breaks. Attempts wait
//! [`POSTGRES_RECONNECT_FIRST_DELAY_MS`] after the first, doubling up to
//! [`POSTGRES_RECONNECT_MAX_DELAY_MS`]. An operation waits at most
//! [`POSTGRES_RECONNECT_WINDOW_S`] (plus one connect timeout) for its connection and then fails
//! with [`StoreError::ConnectionLost`], naming the store without its password; a later
//! operation tries again. One warning is logged when a connection is lost and one line when it
//! is back, not one per attempt. Any other error (a conflict, a constraint, bad SQL, a login the
//! restarted server refuses) is returned at once, never retried.
//!
//! - A new session is set up like the first: a read-only store's session is read-only again,
//!   and the read statement is prepared again on it.
//! - An append whose connection broke may or may not have committed. It is retried at the same
//!   expected position with the same events: the idempotent retry every store recognises
//!   (`plan_append`). Had it committed, its events are found in place (`already_present`) and
//!   nothing is written twice; had it not, it commits once; had another writer appended first,
//!   it is a [`StoreError::Conflict`], as it would have been anyway.
//! - The LISTEN connection LISTENs again and ticks `changes` once, since notifications sent
//!   while it was down are lost: followers re-read. While it is down, followers go on at the
//!   safety tick; it keeps trying, at the longest interval, for as long as the store is open.
//! - Opening a store does not wait: a server that cannot be reached then is
//!   [`StoreError::Unavailable`].
//!
//! [`POSTGRES_SAFETY_POLL_MS`]: crate::limits::POSTGRES_SAFETY_POLL_MS
//! [`POSTGRES_RECONNECT_FIRST_DELAY_MS`]: crate::limits::POSTGRES_RECONNECT_FIRST_DELAY_MS
//! [`POSTGRES_RECONNECT_MAX_DELAY_MS`]: crate::limits::POSTGRES_RECONNECT_MAX_DELAY_MS
//! [`POSTGRES_RECONNECT_WINDOW_S`]: crate::limits::POSTGRES_RECONNECT_WINDOW_S

mod errors;
mod listen;
mod reconnect;
mod schema;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, watch};
use tokio_postgres::{Client, Config, Statement};

use self::errors::{OpenError, describe, message, pg_error};
use self::listen::{AbortOnDrop, keep_listening, listen, spawn_safety_tick};
use self::reconnect::{Link, Outage, Retry, Role};
use self::schema::{check_schema, create_schema};
use super::{
    Access, Appended, CampaignSummary, EventStore, Head, StoreError, head_after, now_text, parse_time,
    plan_append,
};
use crate::envelope::{NewEvent, StoredEvent};
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};
use crate::limits::POSTGRES_CONNECT_TIMEOUT_S;

/// An event store in a PostgreSQL database.
///
/// A lost connection (the server restarted, say) is reconnected with backoff: an operation
/// waits up to [`POSTGRES_RECONNECT_WINDOW_S`] for it before failing with
/// [`StoreError::ConnectionLost`], and an append cut off by it is retried at the same position,
/// so it is written once whether or not it had committed.
///
/// [`POSTGRES_RECONNECT_WINDOW_S`]: crate::limits::POSTGRES_RECONNECT_WINDOW_S
pub struct PostgresStore {
    link: Arc<Link>,
    /// `None` when opened read-only. An append holds the lock for its whole transaction,
    /// reconnecting included, so appends through one handle run one at a time.
    writer: Option<Mutex<WriterSlot>>,
    /// Shared by concurrent reads; locked only to take the session, or to replace it.
    reader: Mutex<ReaderSlot>,
    changes: Arc<watch::Sender<u64>>,
    /// The task that keeps the LISTEN connection; it ends with the store.
    _listener: AbortOnDrop,
}

/// The store's writer connection.
struct WriterSlot {
    /// `None` once lost, until an append reconnects.
    client: Option<Client>,
    outage: Outage,
}

/// The store's reader connection.
struct ReaderSlot {
    /// `None` once lost, until a read reconnects.
    session: Option<Arc<ReaderSession>>,
    /// Counts sessions, so that a read that failed on an old session does not discard a new one.
    generation: u64,
    outage: Outage,
}

/// A reader connection with the statement prepared on it.
struct ReaderSession {
    client: Client,
    read_stmt: Statement,
}

const READ_SQL: &str = "SELECT seq, id, prev_hash, hash, body FROM lineage_events
                 WHERE campaign = $1 AND seq >= $2 ORDER BY seq LIMIT $3";

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
        // libpq reads a missing host from the environment; lineage names its database in the URL.
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            return Err(StoreError::InvalidUrl {
                url: url.to_owned(),
                reason: "it names no host: postgres://USER@HOST:PORT/DB".into(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(POSTGRES_CONNECT_TIMEOUT_S));
        }
        let location = describe(&config);
        let link = Arc::new(Link { config, location, access });
        let location = &link.location;
        let failed = |e: OpenError| e.into_store(location);
        let writer = match access {
            Access::ReadWrite => {
                let client = link.session(Role::Writer).await.map_err(failed)?;
                create_schema(&client, location).await?;
                Some(Mutex::new(WriterSlot { client: Some(client), outage: Outage::default() }))
            }
            Access::ReadOnly => None,
        };
        let reader = link.session(Role::Reader).await.map_err(failed)?;
        if writer.is_none() {
            check_schema(&reader, location).await?;
        }
        let reader = prepare_reader(reader).await.map_err(failed)?;
        let changes = Arc::new(watch::Sender::new(0u64));
        let listening = listen(&link, Arc::downgrade(&changes)).await.map_err(failed)?;
        let listener = tokio::spawn(keep_listening(link.clone(), listening, Arc::downgrade(&changes)));
        spawn_safety_tick(Arc::downgrade(&changes));
        Ok(Self {
            writer,
            reader: Mutex::new(ReaderSlot {
                session: Some(Arc::new(reader)),
                generation: 0,
                outage: Outage::default(),
            }),
            changes,
            _listener: AbortOnDrop(listener.abort_handle()),
            link,
        })
    }

    /// The writer's client, reconnecting first when it is down.
    async fn writer_client<'a>(
        &self,
        slot: &'a mut WriterSlot,
        retry: &Retry,
    ) -> Result<&'a mut Client, StoreError> {
        let location = &self.link.location;
        if slot.client.as_ref().is_some_and(|client| client.is_closed()) {
            slot.client = None;
            slot.outage.begin(Role::Writer, location, "connection closed");
        }
        if slot.client.is_none() {
            let client = self
                .link
                .reconnect(Role::Writer, retry.deadline(), || self.link.session(Role::Writer))
                .await?;
            slot.outage.end(Role::Writer, location);
            slot.client = Some(client);
        }
        Ok(slot.client.as_mut().expect("connected above"))
    }

    /// The reader's session and its generation, reconnecting first when it is down.
    async fn reader_session(&self, retry: &Retry) -> Result<(u64, Arc<ReaderSession>), StoreError> {
        let location = &self.link.location;
        let mut slot = self.reader.lock().await;
        if let Some(session) = &slot.session {
            if !session.client.is_closed() {
                return Ok((slot.generation, session.clone()));
            }
            slot.session = None;
            slot.outage.begin(Role::Reader, location, "connection closed");
        }
        let session =
            self.link.reconnect(Role::Reader, retry.deadline(), || self.link.reader_session()).await?;
        slot.outage.end(Role::Reader, location);
        let session = Arc::new(session);
        slot.session = Some(session.clone());
        slot.generation += 1;
        Ok((slot.generation, session))
    }

    /// Runs `query` on the reader; when the connection is lost, reconnects and runs it again.
    async fn on_reader<T, F, Fut>(&self, query: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<ReaderSession>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let mut retry = Retry::new();
        loop {
            let (generation, session) = self.reader_session(&retry).await?;
            let error = match query(session).await {
                Ok(found) => return Ok(found),
                Err(e) => pg_error(&self.link.location, e),
            };
            let StoreError::ConnectionLost { message, .. } = &error else { return Err(error) };
            retry.lost();
            let mut slot = self.reader.lock().await;
            if slot.generation == generation && slot.session.is_some() {
                slot.session = None;
                slot.outage.begin(Role::Reader, &self.link.location, message);
            }
            if retry.expired() {
                return Err(error);
            }
        }
    }
}

async fn prepare_reader(client: Client) -> Result<ReaderSession, OpenError> {
    let read_stmt = client.prepare(READ_SQL).await.map_err(OpenError::Session)?;
    Ok(ReaderSession { client, read_stmt })
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

/// One attempt at an append, in one transaction on `client`.
async fn append_once(
    client: &mut Client,
    location: &str,
    campaign: &CampaignId,
    expected: Seq,
    events: &[NewEvent],
) -> Result<Appended, StoreError> {
    let err = |e| pg_error(location, e);
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
                    location: location.to_owned(),
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
    Ok(Appended { first: expected, head: new_head, already_present })
}

#[async_trait]
impl EventStore for PostgresStore {
    fn location(&self) -> String {
        self.link.location.clone()
    }

    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let location = &self.link.location;
        let Some(writer) = &self.writer else {
            return Err(StoreError::ReadOnly { location: location.clone() });
        };
        let mut retry = Retry::new();
        let mut slot = writer.lock().await;
        loop {
            let client = self.writer_client(&mut slot, &retry).await?;
            let error = match append_once(client, location, campaign, expected, &events).await {
                Ok(appended) => {
                    if retry.was_lost() && appended.already_present > 0 {
                        tracing::info!(
                            "campaign {campaign}: {} of the events of an append cut off by the lost connection \
                             had committed; none was written twice",
                            appended.already_present
                        );
                    }
                    self.changes.send_modify(|n| *n = n.wrapping_add(1));
                    return Ok(appended);
                }
                Err(e) => e,
            };
            let StoreError::ConnectionLost { message, .. } = &error else { return Err(error) };
            // Whether it committed is unknown. The same events at the same position again are
            // the idempotent retry: found in place if they committed, written once if not.
            slot.client = None;
            slot.outage.begin(Role::Writer, location, message);
            retry.lost();
            if retry.expired() {
                return Err(error);
            }
        }
    }

    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let location = &self.link.location;
        let (from, limit) = (from.0 as i64, limit as i64);
        let rows = self
            .on_reader(|session| async move {
                session.client.query(&session.read_stmt, &[&campaign.as_str(), &from, &limit]).await
            })
            .await?;
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
            .on_reader(|session| async move {
                session
                    .client
                    .query_opt(
                        "SELECT head_seq, head_hash FROM lineage_campaigns WHERE id = $1 AND head_seq > 0",
                        &[&campaign.as_str()],
                    )
                    .await
            })
            .await?;
        head_from(row, &self.link.location)
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let location = &self.link.location;
        let rows = self
            .on_reader(|session| async move {
                session
                    .client
                    .query(
                        "SELECT id, head_seq, head_hash, created_at, updated_at FROM lineage_campaigns
                         WHERE head_seq > 0 ORDER BY created_at, id",
                        &[],
                    )
                    .await
            })
            .await?;
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

    async fn delete_campaign(&self, campaign: &CampaignId) -> Result<u64, StoreError> {
        let location = &self.link.location;
        let Some(writer) = &self.writer else {
            return Err(StoreError::ReadOnly { location: location.clone() });
        };
        let err = |e| pg_error(location, e);
        let mut slot = writer.lock().await;
        let client = self.writer_client(&mut slot, &Retry::new()).await?;
        let tx = client.transaction().await.map_err(err)?;
        // The campaign's row first, as an append locks it: a concurrent append waits, then
        // finds no row and starts a new campaign of that id.
        tx.execute("DELETE FROM lineage_campaigns WHERE id = $1", &[&campaign.as_str()])
            .await
            .map_err(err)?;
        let events = tx
            .execute("DELETE FROM lineage_events WHERE campaign = $1", &[&campaign.as_str()])
            .await
            .map_err(err)?;
        if events == 0 {
            // Dropped unfinished: rolled back.
            return Err(StoreError::UnknownCampaign(campaign.clone()));
        }
        tx.execute("SELECT pg_notify('lineage_events', $1)", &[&campaign.as_str()]).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(events)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
