//! Reconnecting with backoff: how to open a session ([`Link`]), which connection it is
//! ([`Role`]), logging an outage once ([`Outage`]) and one operation's patience ([`Retry`]).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config, NoTls};

use super::errors::{OpenError, message};
use super::{Access, ReaderSession, StoreError, prepare_reader};
use crate::limits::{
    POSTGRES_IDLE_IN_TRANSACTION_S, POSTGRES_RECONNECT_FIRST_DELAY_MS, POSTGRES_RECONNECT_MAX_DELAY_MS,
    POSTGRES_RECONNECT_WINDOW_S,
};

/// How to open a session: what the store and its listener task share.
pub(super) struct Link {
    pub(super) config: Config,
    pub(super) location: String,
    pub(super) access: Access,
}

/// Which of a store's connections, for log lines.
#[derive(Clone, Copy)]
pub(super) enum Role {
    Writer,
    Reader,
    Listener,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::Listener => "listener",
        }
    }
}

/// Whether a connection is down: an outage is logged once when it begins and once when it ends,
/// however many attempts it takes.
#[derive(Default)]
pub(super) struct Outage {
    since: Option<Instant>,
}

impl Outage {
    pub(super) fn begin(&mut self, role: Role, location: &str, cause: &str) {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(
                "lost the {} connection to the event store {location} ({cause}); reconnecting",
                role.name()
            );
        }
    }

    pub(super) fn end(&mut self, role: Role, location: &str) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                "reconnected the {} connection to the event store {location} after {:.1} s",
                role.name(),
                since.elapsed().as_secs_f64()
            );
        }
    }
}

pub(super) fn reconnect_window() -> Duration {
    Duration::from_secs(POSTGRES_RECONNECT_WINDOW_S)
}

/// One operation's patience: it waits for its connection until [`POSTGRES_RECONNECT_WINDOW_S`]
/// after it first lost it, or after it began when it found the connection already down (so an
/// operation queued behind another's reconnecting does not start a window of its own).
pub(super) struct Retry {
    began: Instant,
    first_loss: Option<Instant>,
}

impl Retry {
    pub(super) fn new() -> Self {
        Self { began: Instant::now(), first_loss: None }
    }

    /// The operation lost its connection.
    pub(super) fn lost(&mut self) {
        self.first_loss.get_or_insert_with(Instant::now);
    }

    pub(super) fn was_lost(&self) -> bool {
        self.first_loss.is_some()
    }

    pub(super) fn deadline(&self) -> Instant {
        self.first_loss.unwrap_or(self.began) + reconnect_window()
    }

    pub(super) fn expired(&self) -> bool {
        Instant::now() >= self.deadline()
    }
}

impl Link {
    /// A new session: connected and, for a read-only store, made read-only.
    pub(super) async fn session(&self, role: Role) -> Result<Client, OpenError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(OpenError::Connect)?;
        let location = self.location.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // The next operation on this connection finds it lost and reconnects.
                tracing::debug!(location = %location, connection = role.name(), error = %message(&e), "postgres connection ended");
            }
        });
        self.restrict(&client).await?;
        // A client stopped mid-append (SIGSTOP, a partition) must not hold the campaign's row
        // lock, and with it every writer, for longer than this.
        let timeout =
            format!("SET idle_in_transaction_session_timeout = '{POSTGRES_IDLE_IN_TRANSACTION_S}s'");
        client.batch_execute(&timeout).await.map_err(OpenError::Session)?;
        Ok(client)
    }

    /// Makes every transaction of a read-only store's session read-only.
    pub(super) async fn restrict(&self, client: &Client) -> Result<(), OpenError> {
        if self.access == Access::ReadOnly {
            client
                .batch_execute("SET default_transaction_read_only = on")
                .await
                .map_err(OpenError::Session)?;
        }
        Ok(())
    }

    pub(super) async fn reader_session(&self) -> Result<ReaderSession, OpenError> {
        prepare_reader(self.session(Role::Reader).await?).await
    }

    /// Opens a session with `open`, again and again with backoff while the failure is transient
    /// ([`OpenError::is_transient`]), until `deadline`: then, or on a final failure, the
    /// error is [`StoreError::ConnectionLost`]. Attempts are logged at debug level only; the
    /// caller logs the outage.
    pub(super) async fn reconnect<S, F, Fut>(
        &self,
        role: Role,
        deadline: Instant,
        mut open: F,
    ) -> Result<S, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<S, OpenError>>,
    {
        let mut delay = Duration::from_millis(POSTGRES_RECONNECT_FIRST_DELAY_MS);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match open().await {
                Ok(session) => return Ok(session),
                Err(e) => e,
            };
            let lost =
                |message: String| StoreError::ConnectionLost { location: self.location.clone(), message };
            let text = message(error.error());
            if !error.is_transient() {
                return Err(lost(format!("reconnecting the {}: {text}", role.name())));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(lost(format!(
                    "{text}; gave up reconnecting the {} after {attempts} attempts",
                    role.name()
                )));
            }
            tracing::debug!(location = %self.location, connection = role.name(), attempt = attempts, error = %text, "postgres reconnect attempt failed");
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_millis(POSTGRES_RECONNECT_MAX_DELAY_MS));
        }
    }
}
