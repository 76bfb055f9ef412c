//! Waking followers: a catch-up subscription to `$all`, filtered on the campaigns' streams,
//! resubscribing when it drops, and the safety tick that wakes them even without one.

use std::sync::Weak;
use std::time::Duration;

use ::kurrentdb::{Client, StreamPosition, SubscribeToAllOptions, SubscriptionEvent, SubscriptionFilter};
use tokio::sync::{oneshot, watch};

/// A follower re-reads at least this often even without a subscription event, so a dropped
/// subscription (or a user who may not read `$all`) delays an event but never hides it. Same
/// bound as PostgreSQL's safety poll (`limits::POSTGRES_SAFETY_POLL_MS`).
pub(super) const SAFETY_POLL_MS: u64 = 1_000;

/// Pause before subscribing again after the subscription dropped.
const RESUBSCRIBE_DELAY_MS: u64 = 1_000;

/// Ticks `changes`; false once the store is gone.
fn tick(changes: &Weak<watch::Sender<u64>>) -> bool {
    let Some(changes) = changes.upgrade() else { return false };
    changes.send_modify(|n| *n = n.wrapping_add(1));
    true
}

/// Follows `$all` filtered on the campaigns' stream prefix, ticking `changes` on every event and
/// on every (re)subscription. `ready` learns whether the first subscription was confirmed.
pub(super) async fn follow(
    client: Client,
    campaign_prefix: String,
    location: String,
    changes: Weak<watch::Sender<u64>>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    loop {
        let options = SubscribeToAllOptions::default()
            .position(StreamPosition::End)
            .filter(SubscriptionFilter::on_stream_name().add_prefix(&campaign_prefix));
        let mut subscription = client.subscribe_to_all(&options).await;
        let error = loop {
            match subscription.next_subscription_event().await {
                Ok(SubscriptionEvent::Confirmed(_)) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                    // Anything appended while (re)subscribing is found by re-reading.
                    if !tick(&changes) {
                        return;
                    }
                }
                Ok(SubscriptionEvent::EventAppeared(_)) => {
                    if !tick(&changes) {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let denied = error.is_access_denied();
        let message = error.to_string();
        match ready.take() {
            Some(ready) => {
                let _ = ready.send(Err(message));
            }
            None => {
                tracing::debug!(%location, error = %message, "KurrentDB subscription dropped; resubscribing")
            }
        }
        if denied {
            // Not allowed to read `$all`: the safety poll alone wakes followers.
            return;
        }
        tokio::time::sleep(Duration::from_millis(RESUBSCRIBE_DELAY_MS)).await;
        if !tick(&changes) {
            return;
        }
    }
}

pub(super) fn spawn_safety_tick(changes: Weak<watch::Sender<u64>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(SAFETY_POLL_MS));
        loop {
            interval.tick().await;
            let Some(changes) = changes.upgrade() else { return };
            if changes.receiver_count() > 0 {
                changes.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    })
}
