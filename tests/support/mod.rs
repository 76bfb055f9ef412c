//! Test harness: the stores under test, a throwaway PostgreSQL cluster, event factories and the
//! `lineage` binary.
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod chat_server;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lineage_events::{ActorRef, CampaignId, EventStore, NewEvent, Payload, Seq, open_store, synthetic};
use tempfile::TempDir;

/// Which store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Sqlite,
    Postgres,
}

/// One store under test: how to (re)open it, and raw SQL access for tampering.
pub struct Backend {
    pub kind: Kind,
    pub url: String,
    memory: Option<Arc<dyn EventStore>>,
    _dir: Option<TempDir>,
}

impl Backend {
    pub async fn new(kind: Kind) -> Backend {
        match kind {
            Kind::Memory => Backend {
                kind,
                url: "memory://".into(),
                memory: Some(open_store("memory://").await.unwrap()),
                _dir: None,
            },
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("lineage.db").display());
                Backend { kind, url, memory: None, _dir: Some(dir) }
            }
            Kind::Postgres => {
                Backend { kind, url: postgres::fresh_database().await, memory: None, _dir: None }
            }
        }
    }

    /// A new handle on the store (for the memory store, the one shared instance).
    pub async fn open(&self) -> Arc<dyn EventStore> {
        match &self.memory {
            Some(store) => store.clone(),
            None => open_store(&self.url).await.unwrap(),
        }
    }

    /// A read-only handle on the store (for the memory store, a read-only view of the shared
    /// instance).
    pub async fn open_read_only(&self) -> Result<Arc<dyn EventStore>, lineage_events::StoreError> {
        match &self.memory {
            Some(store) => Ok(lineage_events::read_only(store.clone())),
            None => lineage_events::open_store_read_only(&self.url).await,
        }
    }

    /// Runs raw SQL against the database, bypassing lineage (to simulate tampering).
    pub async fn sql(&self, statement: &str) {
        match self.kind {
            Kind::Memory => panic!("the memory store has no SQL"),
            Kind::Sqlite => {
                let path = self.url.strip_prefix("sqlite://").unwrap().to_owned();
                let statement = statement.to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(path).unwrap();
                    conn.execute_batch(&statement).unwrap();
                })
                .await
                .unwrap();
            }
            Kind::Postgres => {
                let (client, connection) =
                    tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                client.batch_execute(statement).await.unwrap();
            }
        }
    }
}

static CAMPAIGN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A campaign id unique within this test process.
pub fn campaign(label: &str) -> CampaignId {
    let n = CAMPAIGN_COUNTER.fetch_add(1, Ordering::Relaxed);
    CampaignId::new(format!("{label}-{}-{n}", std::process::id())).unwrap()
}

/// Realistic payloads, cycling through synthetic experiments.
pub fn payloads(n: usize) -> Vec<Payload> {
    synthetic::payloads().take(n).collect()
}

/// `n` new events with ids derived from `campaign`, `writer` and their index.
pub fn events(campaign: &CampaignId, writer: &str, start: usize, n: usize) -> Vec<NewEvent> {
    synthetic::Events::new(campaign.clone(), ActorRef::new("test", writer))
        .starting_at(start as u64)
        .batch(n as u64)
}

/// Appends `events` at the head, retrying on conflict like a real actor would. Returns the
/// position of the first appended event.
pub async fn append_at_head(store: &dyn EventStore, campaign: &CampaignId, events: Vec<NewEvent>) -> Seq {
    loop {
        let head = store.head(campaign).await.unwrap().map_or(Seq(0), |h| h.next);
        match store.append(campaign, head, events.clone()).await {
            Ok(appended) => return Seq(appended.head.next.0 - events.len() as u64),
            Err(lineage_events::StoreError::Conflict { .. }) => continue,
            Err(e) => panic!("append failed: {e}"),
        }
    }
}

/// The `lineage` binary built for these tests.
/// The repository root: where `cargo test` runs this test from (`CARGO_MANIFEST_DIR` at run
/// time), not where it was compiled — cargo reuses a test binary built in a checkout at another
/// path, whose compile-time path may no longer exist.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

pub fn lineage_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lineage"))
}

/// A `lineage` command with the store set and the environment cleaned of a user's settings.
pub fn lineage(store_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(lineage_bin());
    command.env_remove("LINEAGE_STORE").env_remove("LINEAGE_LOG").args(["--store", store_url]);
    command
}

/// The SHA-256 of a file, to prove a refused file was left untouched.
pub fn file_digest(path: &Path) -> lineage_events::Hash {
    lineage_events::Hash::of(&std::fs::read(path).unwrap())
}

/// Rewrites the body of the first event of `campaign` for which `edit(type, body)` gives a new
/// one, and recomputes every hash after it and the head with SQL and SHA-256 alone: what
/// someone with write access to the database could do. Returns the position rewritten.
pub fn rewrite_first(path: &Path, campaign: &str, edit: impl Fn(&str, &str) -> Option<String>) -> u64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: Vec<(i64, String, String, String)> = conn
        .prepare("SELECT seq, type, body, prev_hash FROM lineage_events WHERE campaign = ?1 ORDER BY seq")
        .unwrap()
        .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (at, edited) = rows
        .iter()
        .enumerate()
        .find_map(|(i, (_, kind, body, _))| edit(kind, body).map(|b| (i, b)))
        .expect("an event to rewrite");
    assert_ne!(edited, rows[at].2, "the edit changed nothing");
    let mut prev: lineage_events::Hash = rows[at].3.parse().unwrap();
    for (i, (seq, _, body, _)) in rows.iter().enumerate().skip(at) {
        let body = if i == at { edited.clone() } else { body.clone() };
        let hash = lineage_events::Hash::chain(&prev, body.as_bytes());
        conn.execute(
            "UPDATE lineage_events SET body = ?1, prev_hash = ?2, hash = ?3 WHERE campaign = ?4 AND seq = ?5",
            (&body, prev.to_hex(), hash.to_hex(), campaign, seq),
        )
        .unwrap();
        prev = hash;
    }
    conn.execute("UPDATE lineage_campaigns SET head_hash = ?1 WHERE id = ?2", (prev.to_hex(), campaign))
        .unwrap();
    at as u64
}
