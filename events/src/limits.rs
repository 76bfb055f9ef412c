//! Every bound the event log enforces, in one place, with the reason for each.

/// Longest id (campaign, architecture, run) in bytes: ids appear in file names, URLs and
/// terminal tables, so they stay short.
pub const ID_LEN_MAX: usize = 64;

/// Largest stored event body in bytes. Programs, loss curves and recorded LLM exchanges fit
/// comfortably; anything larger belongs in a hash-addressed artifact, not in the log.
pub const EVENT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Most events in one atomic append. A campaign's decisions come a few at a time; the bound
/// keeps one transaction (and one PostgreSQL parameter array) a sane size.
pub const APPEND_EVENTS_MAX: usize = 10_000;

/// Events fetched per read by every reader of a log: a subscription catching up, verification,
/// replay's fold, the recorder. Large enough to amortise a round trip to PostgreSQL; small
/// enough that a batch holds well under a megabyte of typical bodies.
pub const READ_BATCH_EVENTS: u32 = 1_000;

/// How often a SQLite follower checks whether another process committed (`PRAGMA data_version`).
/// Bounds cross-process follow latency; one check costs a few microseconds.
pub const SQLITE_POLL_INTERVAL_MS: u64 = 2;

/// Page cache per SQLite connection, in KiB.
pub const SQLITE_CACHE_KIB: u32 = 32 * 1024;

/// Bytes of a SQLite file read through a memory map instead of `read()` calls.
pub const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// How long a SQLite writer waits for another process's write lock before giving up.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;

/// A PostgreSQL follower re-reads at least this often even without a notification, so a lost
/// notification (a dropped listener connection) delays an event but never hides it.
pub const POSTGRES_SAFETY_POLL_MS: u64 = 1_000;

/// How long to wait for a PostgreSQL server before reporting it unreachable.
pub const POSTGRES_CONNECT_TIMEOUT_S: u64 = 5;

/// How long a PostgreSQL session may sit idle inside a transaction before the server ends it
/// (`idle_in_transaction_session_timeout`). An append holds its campaign's row lock, so a
/// client stopped mid-append (SIGSTOP, a network partition) would otherwise stop every writer
/// of that campaign, and with it the expiry of its own lease, until it woke. An append's
/// statements follow each other within milliseconds; ten seconds is never reached by a live one,
/// and the ended session's append is retried and recognised if it had committed.
pub const POSTGRES_IDLE_IN_TRANSACTION_S: u64 = 10;

/// How long an operation on a PostgreSQL store keeps reconnecting after its connection was lost
/// before it fails with `StoreError::ConnectionLost`. A restart, crash recovery or a managed
/// server's failover takes seconds to a minute; two minutes rides through those without
/// stopping a campaign, yet a server that is really gone is still reported within minutes.
pub const POSTGRES_RECONNECT_WINDOW_S: u64 = 120;

/// The wait before the second reconnect attempt; it doubles after each failed attempt. Short,
/// because a fast restart is back in well under a second.
pub const POSTGRES_RECONNECT_FIRST_DELAY_MS: u64 = 100;

/// The longest wait between reconnect attempts: a process that lost its server retries at
/// least this often, so it is back within about this long once the server is, while many
/// processes retrying together stay far from flooding a server that is starting up.
pub const POSTGRES_RECONNECT_MAX_DELAY_MS: u64 = 2_000;

const _: () = assert!(READ_BATCH_EVENTS as usize <= APPEND_EVENTS_MAX);
const _: () = assert!(SQLITE_POLL_INTERVAL_MS < POSTGRES_SAFETY_POLL_MS);
const _: () = assert!(POSTGRES_RECONNECT_FIRST_DELAY_MS <= POSTGRES_RECONNECT_MAX_DELAY_MS);
const _: () = assert!(POSTGRES_RECONNECT_MAX_DELAY_MS < POSTGRES_RECONNECT_WINDOW_S * 1_000);
const _: () = assert!(POSTGRES_CONNECT_TIMEOUT_S < POSTGRES_RECONNECT_WINDOW_S);
