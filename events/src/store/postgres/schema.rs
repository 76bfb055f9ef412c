//! The store's tables: creating them (once, under an advisory lock) and checking the schema
//! version a database records.

use tokio_postgres::Client;

use super::StoreError;
use super::errors::pg_error;

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
pub(super) async fn check_schema(client: &Client, location: &str) -> Result<(), StoreError> {
    match schema_version(client, location).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Missing { location: location.to_owned() }),
    }
}

pub(super) async fn create_schema(client: &Client, location: &str) -> Result<(), StoreError> {
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
