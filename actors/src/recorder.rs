//! The Recorder: the one writer of the campaign's log in this process. It appends decisions
//! with optimistic concurrency (on a conflict — another process appended — it catches up and
//! appends after), drops decisions already in the log (a re-dispatched actor deciding the same
//! thing again after a crash), and broadcasts every committed event, its own and other
//! processes', in log order, before it answers. So when an actor hears that its decision was
//! recorded, every subscriber has already seen it. With a signing key it also signs the head it
//! has committed, when asked ([`SignHead`]: at each pause and at the end).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use lineage_events::limits::READ_BATCH_EVENTS;
use lineage_events::{
    CampaignId, EventId, EventStore, Hash, NewEvent, Seq, SigningKey, StoreError, Upcasters,
};
use tokio::sync::Mutex;

use crate::error::ActorError;
use crate::messages::{Committed, Decision, Record, RecordAt, Recorded};
use crate::worker::claims::Stalls;
use crate::worker::log::ours;

/// How often the recorder looks for events from other processes when no change notification
/// wakes it (a notification can be lost; the store's own safety poll is slower).
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

struct Log {
    store: Arc<dyn EventStore>,
    campaign: CampaignId,
    next: Seq,
    /// Hash of the event before `next`.
    head_hash: Hash,
    ids: HashSet<EventId>,
    upcasters: Upcasters,
    subscribers: Vec<Recipient<Committed>>,
    stalls: Stalls,
}

impl Log {
    /// Reads and broadcasts everything after `next`.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        loop {
            let started = self.stalls.begin();
            let batch = self.store.read(&self.campaign, self.next, READ_BATCH_EVENTS).await;
            self.stalls.read(started, batch.is_ok());
            let batch = batch?;
            if batch.is_empty() {
                return Ok(());
            }
            let last = batch.len() - 1;
            for (i, stored) in batch.into_iter().enumerate() {
                let event = Arc::new(stored.decode(&self.upcasters)?);
                self.next = event.seq.next();
                self.head_hash = event.hash;
                self.ids.insert(event.id);
                for s in &self.subscribers {
                    s.do_send(Committed(event.clone(), i == last));
                }
            }
        }
    }

    /// Appends the signed checkpoint of the head, after catching up.
    async fn sign_head(&mut self, key: &SigningKey) -> Result<Recorded, StoreError> {
        self.catch_up().await?;
        let Some(seq) = self.next.0.checked_sub(1) else { return Ok(Recorded::default()) };
        let signed = key.sign_head(&self.campaign, Seq(seq), self.head_hash);
        self.append(vec![Decision::new(format!("sign/{seq}"), "recorder", signed)]).await
    }

    /// Appends the decisions if the log's head is still `expected` (the position the decision
    /// was made at); whether it did.
    async fn append_at(&mut self, decisions: Vec<Decision>, expected: Seq) -> Result<bool, StoreError> {
        self.catch_up().await?;
        if self.next != expected {
            return Ok(false);
        }
        let events: Vec<NewEvent> = decisions.into_iter().map(|d| d.into_event(&self.campaign)).collect();
        match self.store.append(&self.campaign, expected, events.clone()).await {
            Ok(done) => {
                let ours = ours(&*self.store, &self.campaign, &self.upcasters, done, &events).await?;
                self.catch_up().await.map(|()| ours)
            }
            Err(StoreError::Conflict { .. }) => {
                self.catch_up().await?;
                self.check_progress(Some(expected)).map(|()| false)
            }
            Err(other) => Err(other),
        }
    }

    /// Appends the decisions not in the log yet; how many it appended. Another process may
    /// append the same decision first (a worker claiming the run a trainer here starts): after
    /// each conflict the log is read again and what it now holds is dropped.
    async fn append(&mut self, decisions: Vec<Decision>) -> Result<Recorded, StoreError> {
        let events: Vec<NewEvent> = decisions.into_iter().map(|d| d.into_event(&self.campaign)).collect();
        let asked = events.len();
        let mut conflicted_at: Option<Seq> = None;
        loop {
            self.catch_up().await?;
            self.check_progress(conflicted_at)?;
            let fresh: Vec<NewEvent> = events.iter().filter(|e| !self.ids.contains(&e.id)).cloned().collect();
            if fresh.is_empty() {
                return Ok(Recorded { appended: 0, present: asked });
            }
            match self.store.append(&self.campaign, self.next, fresh.clone()).await {
                // Those already present were appended by another writer at this very position
                // (a worker's claim of the start a trainer here makes), taken for a retry.
                Ok(done) => {
                    let ours = ours(&*self.store, &self.campaign, &self.upcasters, done, &fresh).await?;
                    self.catch_up().await?;
                    let appended =
                        if ours { fresh.len() } else { fresh.len() - done.already_present as usize };
                    return Ok(Recorded { appended, present: asked - appended });
                }
                Err(StoreError::Conflict { .. }) => conflicted_at = Some(self.next),
                Err(other) => return Err(other),
            }
        }
    }

    /// After a conflict at `conflicted_at`, the catch-up must have found another writer's
    /// events; when it found none, the store's head disagrees with its events (edited around
    /// the store), and every retry would conflict again.
    fn check_progress(&self, conflicted_at: Option<Seq>) -> Result<(), StoreError> {
        match conflicted_at {
            Some(at) if at == self.next => Err(StoreError::Corrupt {
                location: self.store.location(),
                message: format!(
                    "campaign {}: appending event {at} conflicts, yet no other writer's event is there: \
                     the store's head disagrees with its events (see `lineage verify`)",
                    self.campaign
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// The recorder actor.
pub struct Recorder {
    log: Arc<Mutex<Log>>,
    /// Signs checkpoints of the head; never recorded.
    signing_key: Option<Arc<SigningKey>>,
}

impl Recorder {
    /// A recorder for `campaign`, positioned at the start of the log: its first catch-up
    /// broadcasts the whole existing log, which is how actors rebuild their state on resume.
    pub fn new(
        store: Arc<dyn EventStore>,
        campaign: CampaignId,
        subscribers: Vec<Recipient<Committed>>,
    ) -> Self {
        let log = Log {
            store,
            campaign,
            next: Seq(0),
            head_hash: Hash::GENESIS,
            ids: HashSet::new(),
            upcasters: Upcasters::standard(),
            subscribers,
            stalls: Stalls::default(),
        };
        Self { log: Arc::new(Mutex::new(log)), signing_key: None }
    }

    /// Notes its slow and failed reads in `stalls` (the orchestrator judges leases by them).
    pub fn stalls(self, stalls: Stalls) -> Self {
        self.log.try_lock().expect("not shared yet").stalls = stalls;
        self
    }

    /// Signs checkpoints of the head with `key`, when given ([`SignHead`]).
    pub fn signing(mut self, key: Option<SigningKey>) -> Self {
        self.signing_key = key.map(Arc::new);
        self
    }

    /// Broadcasts the existing log (resume) and returns how many events it had.
    pub async fn replay_existing(&self) -> Result<u64, StoreError> {
        let mut log = self.log.lock().await;
        log.catch_up().await?;
        Ok(log.next.0)
    }
}

impl Actor for Recorder {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        // Events other processes append (workers, attached analysts) reach the actors even
        // while this process writes nothing. Woken by the store's change notifications (a
        // worker's result is acted on at once, not at the next tick), and every
        // FOLLOW_INTERVAL anyway.
        let log = self.log.clone();
        // Spawned outside the actor's context: an append (atomic, it blocks the context) may
        // be waiting for the lock this holds.
        actix::spawn(async move {
            let mut changes = log.lock().await.store.changes();
            let mut notified = true;
            loop {
                if notified {
                    tokio::select! {
                        changed = changes.changed() => notified = changed.is_ok(),
                        () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                    }
                } else {
                    tokio::time::sleep(FOLLOW_INTERVAL).await;
                }
                if let Ok(mut log) = log.try_lock()
                    && let Err(error) = log.catch_up().await
                {
                    tracing::warn!("following the log: {error}");
                }
            }
        });
    }
}

impl Handler<Record> for Recorder {
    // Atomic: one append at a time, in mailbox order, so a worker's events keep their order.
    type Result = AtomicResponse<Self, Result<Recorded, ActorError>>;

    fn handle(&mut self, Record(decisions): Record, _: &mut Self::Context) -> Self::Result {
        let log = self.log.clone();
        AtomicResponse::new(Box::pin(
            async move { log.lock().await.append(decisions).await.map_err(ActorError::from) }
                .into_actor(self),
        ))
    }
}

impl Handler<RecordAt> for Recorder {
    // Atomic, like `Record`.
    type Result = AtomicResponse<Self, Result<bool, ActorError>>;

    fn handle(&mut self, RecordAt(decisions, expected): RecordAt, _: &mut Self::Context) -> Self::Result {
        let log = self.log.clone();
        AtomicResponse::new(Box::pin(
            async move { log.lock().await.append_at(decisions, expected).await.map_err(ActorError::from) }
                .into_actor(self),
        ))
    }
}

/// Sign the head: catch up with the log, then append a `HeadSigned` checkpoint of its last
/// event (id derived from the position signed, so asking twice for the same head records it
/// once). Without a signing key, nothing.
#[derive(Message)]
#[rtype(result = "Result<Recorded, ActorError>")]
pub struct SignHead;

impl Handler<SignHead> for Recorder {
    // Atomic, like `Record`: the head signed is the one after every decision sent before.
    type Result = AtomicResponse<Self, Result<Recorded, ActorError>>;

    fn handle(&mut self, _: SignHead, _: &mut Self::Context) -> Self::Result {
        let log = self.log.clone();
        let key = self.signing_key.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let Some(key) = key else { return Ok(Recorded::default()) };
                log.lock().await.sign_head(&key).await.map_err(ActorError::from)
            }
            .into_actor(self),
        ))
    }
}

#[cfg(test)]
mod tests;
