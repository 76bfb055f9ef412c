//! Opening a SQLite file as a store: refusing what is not one, the connections and their
//! settings, the file's identity and schema, and the switch to WAL.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{APPLICATION_ID, SCHEMA_VERSION};
use crate::limits::{SQLITE_BUSY_TIMEOUT_MS, SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES};
use crate::store::StoreError;

const SCHEMA: &str = "
CREATE TABLE lineage_campaigns (
    id         TEXT PRIMARY KEY,
    head_seq   INTEGER NOT NULL,  -- number of events = seq of the next one
    head_hash  TEXT NOT NULL,     -- hash of the last event, hex
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE lineage_events (
    campaign    TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    body        TEXT NOT NULL,    -- the hashed bytes, exactly
    PRIMARY KEY (campaign, seq),
    UNIQUE (campaign, id)
) STRICT;
";

/// Refuses, without opening it, a file that does not start with the SQLite header.
pub(super) fn refuse_non_sqlite(path: &Path, location: &str) -> Result<(), StoreError> {
    let foreign =
        |reason: &str| StoreError::Foreign { location: location.to_owned(), reason: reason.to_owned() };
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.is_dir() {
        return Err(foreign("it is a directory"));
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut header));
    match read {
        Ok(()) if &header == b"SQLite format 3\0" => Ok(()),
        Ok(()) => Err(foreign("the file is not a SQLite database")),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(foreign("the file is not a SQLite database"))
        }
        Err(e) => Err(StoreError::Backend { location: location.to_owned(), message: e.to_string() }),
    }
}

pub(super) fn connect(path: &Path, location: &str) -> Result<Connection, StoreError> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(location, e))?;
    tune(conn, location)
}

/// `path` with `suffix` appended to its file name (`-wal`, `-shm`).
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the directory holding `path` has no write permission at all (its mode, not this
/// process's access: the superuser may write anywhere, but a read must not rely on that).
pub(super) fn directory_is_read_only(path: &Path) -> bool {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().readonly())
}

/// A `file:` URI for `path`, every byte outside the unreserved set percent-encoded.
fn file_uri(path: &Path, query: &str) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

/// A read-only connection whose file is a lineage store (checked before it is returned);
/// `snapshot` opens it `immutable=1` (no lock, no `-wal`/`-shm` file).
pub(super) fn open_reader(path: &Path, location: &str, snapshot: bool) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if snapshot {
        Connection::open_with_flags(file_uri(path, "immutable=1"), flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(|e| sql_error(location, e))?;
    let conn = tune(conn, location)?;
    if !identify(&conn, location)? {
        return Err(StoreError::Missing { location: location.to_owned() });
    }
    Ok(conn)
}

/// Sets what every connection of a store shares: the busy timeout and the read caches.
fn tune(conn: Connection, location: &str) -> Result<Connection, StoreError> {
    conn.busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS)).map_err(|e| sql_error(location, e))?;
    // A larger page cache than the 2 MiB default keeps the index pages of a long log in memory.
    // Memory-mapped reads skip a read() call and a copy per page when scanning a long log.
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
    ))
    .map_err(|e| sql_error(location, e))?;
    Ok(conn)
}

/// Reads the file's identity and schema version, writing nothing: `true` for a lineage store
/// this build can read, `false` for an empty database, an error for another application's
/// database or a newer schema.
fn identify(conn: &Connection, location: &str) -> Result<bool, StoreError> {
    // One statement, so one snapshot: read one by one, another connection creating the store
    // could commit between the reads, and its tables be seen without its application id.
    let (app_id, version, objects): (i32, u32, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), \
                    (SELECT user_version FROM pragma_user_version), \
                    (SELECT count(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| sql_error(location, e))?;
    if app_id == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                location: location.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        return Ok(true);
    }
    if app_id == 0 && objects == 0 {
        return Ok(false);
    }
    Err(StoreError::Foreign {
        location: location.to_owned(),
        reason: format!(
            "it is a SQLite database of another application (application_id {app_id:#x}, {objects} schema objects)"
        ),
    })
}

/// Checks the file's identity and schema version, creates the schema in a fresh file, and only
/// then switches to WAL: a foreign file must not be modified, not even its journal mode.
pub(super) fn prepare_schema(conn: &Connection, location: &str) -> Result<(), StoreError> {
    let err = |e| sql_error(location, e);
    if !identify(conn, location)? {
        // Fresh file. Another process may be initialising it at the same moment: take the write
        // lock, then look again.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let created = (|| -> Result<(), StoreError> {
            if !identify(conn, location)? {
                conn.execute_batch(SCHEMA).map_err(err)?;
                conn.execute_batch(&format!(
                    "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
                ))
                .map_err(err)?;
            }
            Ok(())
        })();
        let end = if created.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.execute_batch(end).map_err(err)?;
        created?;
    }
    let mode = switch_to_wal(conn).map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend {
            location: location.to_owned(),
            message: format!("cannot enable WAL (journal mode is {mode})"),
        });
    }
    conn.execute_batch("PRAGMA synchronous = FULL;").map_err(err)?;
    Ok(())
}

/// Switches the file to WAL (a no-op once it is), and returns the journal mode it has then. The
/// switch needs an exclusive lock, which SQLite takes without its busy handler: while another
/// connection opening the same fresh file holds a lock, it fails with "database is locked" or
/// leaves the old mode. Retried, as the busy timeout would, until the other is done.
fn switch_to_wal(conn: &Connection) -> Result<String, rusqlite::Error> {
    let deadline = std::time::Instant::now() + Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS);
    loop {
        let busy = match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(mode),
            Ok(mode) => Ok(mode),
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) =>
            {
                Err(e)
            }
            Err(e) => return Err(e),
        };
        if std::time::Instant::now() >= deadline {
            return busy;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(super) fn sql_error(location: &str, error: rusqlite::Error) -> StoreError {
    let location = location.to_owned();
    let message = error.to_string();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            StoreError::Foreign { location, reason: "the file is not a SQLite database".into() }
        }
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { location, message },
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) | Some(ErrorCode::ReadOnly) => {
            StoreError::Unavailable { location, message }
        }
        _ => StoreError::Backend { location, message },
    }
}
