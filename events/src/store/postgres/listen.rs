//! Waking followers: the LISTEN connection and the task that keeps it (reconnecting when it
//! ends), and the safety tick that wakes them even without a notification.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::errors::{OpenError, message};
use super::reconnect::{Link, Outage, Role, reconnect_window};
use crate::limits::{POSTGRES_RECONNECT_MAX_DELAY_MS, POSTGRES_SAFETY_POLL_MS};

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A LISTEN connection, and the task that ticks `changes` on each of its notifications and ends
/// with the connection, saying why.
pub(super) struct Listening {
    client: Client,
    driver: JoinHandle<String>,
}

pub(super) async fn listen(link: &Link, changes: Weak<watch::Sender<u64>>) -> Result<Listening, OpenError> {
    let (client, mut connection) = link.config.connect(NoTls).await.map_err(OpenError::Connect)?;
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(received) = messages.next().await {
            match received {
                Ok(AsyncMessage::Notification(_)) => {
                    let Some(changes) = changes.upgrade() else { break };
                    changes.send_modify(|n| *n = n.wrapping_add(1));
                }
                Ok(_) => {}
                Err(e) => return message(&e),
            }
        }
        "connection closed".to_owned()
    });
    link.restrict(&client).await?;
    client.batch_execute("LISTEN lineage_events").await.map_err(OpenError::Session)?;
    Ok(Listening { client, driver })
}

/// Keeps the store LISTENing for as long as it is open. When the connection ends, reconnects
/// with backoff (past the window, at the longest interval, for good), LISTENs again and ticks
/// `changes` once: notifications sent meanwhile are lost, so followers must re-read. Until
/// then followers go on at the safety tick.
pub(super) async fn keep_listening(link: Arc<Link>, first: Listening, changes: Weak<watch::Sender<u64>>) {
    let mut outage = Outage::default();
    let mut listening = first;
    loop {
        let Listening { client, driver } = listening;
        let cause = driver.await.unwrap_or_else(|e| e.to_string());
        drop(client);
        if changes.strong_count() == 0 {
            return;
        }
        outage.begin(Role::Listener, &link.location, &cause);
        let mut told = false;
        let mut deadline = Instant::now() + reconnect_window();
        listening = loop {
            match link.reconnect(Role::Listener, deadline, || listen(&link, changes.clone())).await {
                Ok(listening) => break listening,
                Err(e) => {
                    if !told {
                        tracing::warn!(
                            "{e}; followers re-read every {POSTGRES_SAFETY_POLL_MS} ms meanwhile; still trying"
                        );
                        told = true;
                    }
                    // From now on, one attempt at the longest interval.
                    tokio::time::sleep(Duration::from_millis(POSTGRES_RECONNECT_MAX_DELAY_MS)).await;
                    deadline = Instant::now();
                }
            }
        };
        outage.end(Role::Listener, &link.location);
        let Some(changes) = changes.upgrade() else { return };
        changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

pub(super) fn spawn_safety_tick(changes: Weak<watch::Sender<u64>>) {
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
