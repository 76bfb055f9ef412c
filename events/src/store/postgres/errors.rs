//! What a `tokio_postgres` error means for the store: its message on one line, whether the
//! connection is lost and whether another attempt may succeed, and the store's location
//! without its password.

use tokio_postgres::Config;

use super::StoreError;

pub(super) fn describe(config: &Config) -> String {
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
pub(super) fn message(error: &tokio_postgres::Error) -> String {
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

/// Whether a SQLSTATE says the server ended the session or cannot serve one now: 57P01
/// admin_shutdown (also `pg_terminate_backend`), 57P02 crash_shutdown, 57P03 cannot_connect_now
/// (starting up, shutting down, in recovery), 57P05 idle_session_timeout; class 08: connection
/// exception.
fn connection_ended(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03" | "57P05") || code.starts_with("08")
}

/// Whether an error on an established connection means the connection is gone: closed, an I/O
/// error, or the server ending the session.
fn is_lost(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        Some(db) => connection_ended(db.code().code()),
        None => {
            error.is_closed()
                || std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
        }
    }
}

/// An error on an established connection: a broken connection (closed, an I/O error, or the
/// server ending the session: shutdown, termination, a connection exception) is
/// [`StoreError::ConnectionLost`].
pub(super) fn pg_error(location: &str, error: tokio_postgres::Error) -> StoreError {
    let location = location.to_owned();
    if is_lost(&error) {
        return StoreError::ConnectionLost { location, message: message(&error) };
    }
    if error.as_db_error().is_none() {
        return StoreError::Unavailable { location, message: message(&error) };
    }
    StoreError::Backend { location, message: message(&error) }
}

/// Why opening a session failed: connecting, or setting the session up once connected.
pub(super) enum OpenError {
    Connect(tokio_postgres::Error),
    Session(tokio_postgres::Error),
}

impl OpenError {
    pub(super) fn into_store(self, location: &str) -> StoreError {
        match self {
            OpenError::Connect(e) => connect_error(location, e),
            OpenError::Session(e) => pg_error(location, e),
        }
    }

    pub(super) fn error(&self) -> &tokio_postgres::Error {
        match self {
            OpenError::Connect(e) | OpenError::Session(e) => e,
        }
    }

    /// Whether another attempt may succeed: the server could not be reached (refused, timed
    /// out), is starting, shutting down or recovering, has no connection slot free (53300), or
    /// the new session was lost. A login or a database the server refuses is final.
    pub(super) fn is_transient(&self) -> bool {
        match self.error().as_db_error() {
            Some(db) => connection_ended(db.code().code()) || db.code().code() == "53300",
            None => true,
        }
    }
}
