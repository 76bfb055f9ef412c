//! Live attach: an analyst that joins a campaign — at its start, mid-run, or after it ended —
//! catches up on the log, follows it live, and appends what it concludes as events attributed
//! to itself. The same runner serves the built-in analysts ([`builtin`]), programs in any
//! language speaking JSON lines ([`external`]), and analysts a campaign config starts with.
//!
//! Exactly-once output: every conclusion gets an id derived from the analyst's label and its
//! content, and the runner first collects the ids of everything the analyst already wrote, so
//! a conclusion re-derived after a restart is not written twice. The checkpoint (a small file,
//! rewritten atomically) records how far the analyst has processed, so a restart does not feed
//! it again what it has seen; it lags by at most one batch, which the id rule covers.

pub mod builtin;
pub mod external;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use lineage_events::limits::READ_BATCH_EVENTS;
use lineage_events::payload::{AnalysisRecorded, InsightRecorded, Payload};
use lineage_events::{
    ActorRef, CampaignId, EventBody, EventId, EventStore, NewEvent, RecordedEvent, Seq, StoreError,
    Subscription, Upcasters,
};
use lineage_replay::CampaignState;
use serde::{Deserialize, Serialize};

/// The actor kind of every attached analyst's events.
pub const ANALYST_KIND: &str = "analyst";

/// The name of the campaign's own analyst (of kind [`ANALYST_KIND`] too): no attached analyst
/// may take it.
pub const BUILT_IN_ANALYST: &str = "analyst";

/// Whether `actor` is an analyst beside the campaign's loop, whose conclusions nothing in the
/// loop waits for: attached with `lineage attach`, from this process or another, or named in
/// the config's `analysts` (anything of kind [`ANALYST_KIND`] but the campaign's own Analyst).
pub fn is_side_analyst(actor: &ActorRef) -> bool {
    actor.kind == ANALYST_KIND && actor.name != BUILT_IN_ANALYST
}

/// What an analyst concludes.
#[derive(Clone, Debug, PartialEq)]
pub enum Conclusion {
    /// A lesson for the campaign (the researcher reads these).
    Insight(InsightRecorded),
    /// An analysis of one architecture.
    Analysis(AnalysisRecorded),
}

impl Conclusion {
    fn into_payload(self) -> Payload {
        match self {
            Conclusion::Insight(i) => Payload::InsightRecorded(i),
            Conclusion::Analysis(a) => Payload::AnalysisRecorded(a),
        }
    }
}

/// An analyst that can be attached: it sees every event after the campaign state has taken it.
pub trait LiveAnalyst: Send {
    /// Called once, before anything else, with the first position it will be asked to answer
    /// (earlier events come as [`Self::history`]).
    fn start(&mut self, _from: Seq) -> Result<(), AttachError> {
        Ok(())
    }

    /// One committed event (decoded, and its stored body), with the state after it. Returns
    /// the conclusions to record.
    fn observe(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
        body: &str,
    ) -> Result<Vec<Conclusion>, AttachError>;

    /// An event from before where it starts (the checkpoint, or `--from`): context to rebuild
    /// what it knows, not to be answered. Built-in analysts read the state instead.
    fn history(&mut self, _event: &RecordedEvent, _body: &str) -> Result<(), AttachError> {
        Ok(())
    }

    /// Answers it gave that were refused as malformed (for the report).
    fn refused(&self) -> u64 {
        0
    }

    /// Told when the analyst has seen every event committed so far; it follows live from here.
    fn caught_up(&mut self, _next: Seq) -> Result<(), AttachError> {
        Ok(())
    }
}

/// Where an analyst starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// Every event from the first.
    Start,
    /// Only events committed after it attached.
    Now,
    /// From this position.
    Seq(Seq),
}

impl std::str::FromStr for StartAt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "start" => Ok(StartAt::Start),
            "now" => Ok(StartAt::Now),
            n => n
                .parse()
                .map(|n| StartAt::Seq(Seq(n)))
                .map_err(|_| format!("--from takes start, now or an event number, not {n:?}")),
        }
    }
}

/// Why an attach stopped.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The store failed or the log is damaged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The analyst failed (an external program exited, timed out, or spoke nonsense it cannot
    /// recover from).
    #[error("analyst {0}")]
    Analyst(String),
    /// The checkpoint file could not be read or written.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// What an attach did, for the caller to print.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AttachReport {
    /// Events shown to the analyst.
    pub observed: u64,
    /// Conclusions appended.
    pub written: u64,
    /// Conclusions already in the log (re-derived after a restart), not written again.
    pub already_written: u64,
    /// Appends retried after another writer got there first.
    pub conflicts_retried: u64,
    /// Answer lines refused as malformed (external analysts).
    pub refused: u64,
    /// The next position to read.
    pub next: u64,
}

/// How far an analyst has processed a campaign, kept between attaches, with whose and which
/// campaign's it is (a checkpoint written before these were kept has neither).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    analyst: Option<String>,
    next: u64,
}

/// Options of one attach.
pub struct Attach {
    /// The store the campaign lives in.
    pub store: Arc<dyn EventStore>,
    /// The campaign.
    pub campaign: CampaignId,
    /// The analyst's name in the log (its events' actor name and `analyst` field).
    pub label: String,
    /// Where to start on a first attach (a checkpoint, once there is one, wins).
    pub from: StartAt,
    /// The checkpoint file; `None` keeps no checkpoint (in-process analysts that start with
    /// the campaign re-derive their position from the log).
    pub checkpoint: Option<PathBuf>,
    /// When to stop following.
    pub until: Until,
}

/// When an attach stops (besides being stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Once it has seen everything committed so far.
    CaughtUp,
    /// Once it has seen the campaign's end (`CampaignFinished`): a finished campaign has
    /// nothing more to follow.
    End,
    /// Only when stopped: past the end too (a log continued past it fails verification, but
    /// this follows it).
    Stopped,
}

impl Attach {
    /// Runs `analyst` until the store closes, the analyst fails, or (with `once`) it has caught
    /// up. `stop` ends it early when it resolves.
    pub async fn run(
        self,
        analyst: &mut dyn LiveAnalyst,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<AttachReport, AttachError> {
        tokio::pin!(stop);
        let upcasters = Upcasters::standard();
        let saved = self.load_checkpoint()?;
        let head = self.store.head(&self.campaign).await?.map_or(Seq(0), |h| h.next);
        let first = match (&saved, self.from) {
            (Some(c), _) => Seq(c.next),
            (None, StartAt::Start) => Seq(0),
            (None, StartAt::Now) => head,
            (None, StartAt::Seq(s)) => s,
        };
        // Starting past the head would skip whatever is appended up to there, unanswered.
        if first > head {
            let from = match saved {
                Some(_) => format!("it says event {}", first.0),
                None => format!("--from {}", first.0),
            };
            let message = format!(
                "{from}, but campaign {} has {} events: attach from an event it has (or delete the checkpoint)",
                self.campaign, head.0
            );
            return Err(match saved {
                Some(_) => {
                    AttachError::Checkpoint { path: self.checkpoint.clone().unwrap_or_default(), message }
                }
                None => AttachError::Analyst(format!("{}: {message}", self.label)),
            });
        }
        let mut report = AttachReport::default();
        let mut state = CampaignState::default();
        let mut written = self.already_written(head).await?;
        let mut follow = Subscription::new(self.store.clone(), self.campaign.clone(), Seq(0));
        analyst.start(first)?;
        let mut since_checkpoint = 0u32;
        loop {
            let stored = match follow.try_next().await? {
                Some(stored) => stored,
                None => {
                    self.save_checkpoint(follow.position().max(first))?;
                    since_checkpoint = 0;
                    if let Err(e) = analyst.caught_up(follow.position()) {
                        // A signal ends the program to stop a wait on it: a stop, not a failure.
                        let next = follow.position().max(first);
                        return if is_ready(stop.as_mut()) {
                            self.stopped_at(next, report, analyst)
                        } else {
                            Err(e)
                        };
                    }
                    let done = match self.until {
                        Until::CaughtUp => true,
                        Until::End => state.finished.is_some(),
                        Until::Stopped => false,
                    };
                    let next = if done {
                        None
                    } else {
                        tokio::select! {
                            next = follow.next() => Some(next?),
                            () = &mut stop => None,
                        }
                    };
                    match next {
                        Some(stored) => stored,
                        None => {
                            report.next = follow.position().0;
                            report.refused = analyst.refused();
                            return Ok(report);
                        }
                    }
                }
            };
            let event = stored.decode(&upcasters).map_err(StoreError::from)?;
            state.apply(&event);
            if event.actor.kind == ANALYST_KIND && event.actor.name == self.label {
                written.insert(event.id);
                continue;
            }
            // Stopped while catching up (or while the analyst was answering): what it answered is
            // written, and the checkpoint points at the first event it did not. A signal ends
            // the analyst's program to stop a wait for its answer: a stop, not a failure.
            let next = event.seq.max(first);
            if is_ready(stop.as_mut()) {
                return self.stopped_at(next, report, analyst);
            }
            let answered = match event.seq < first {
                true => analyst.history(&event, &stored.body).map(|()| None),
                false => analyst.observe(&state, &event, &stored.body).map(Some),
            };
            let conclusions = match answered {
                Ok(None) => continue,
                Ok(Some(conclusions)) => conclusions,
                Err(_) if is_ready(stop.as_mut()) => return self.stopped_at(next, report, analyst),
                Err(e) => {
                    self.save_checkpoint(next)?;
                    return Err(e);
                }
            };
            report.observed += 1;
            self.write(conclusions, &event, follow.position(), &mut written, &mut report).await?;
            since_checkpoint += 1;
            if since_checkpoint >= CHECKPOINT_EVERY {
                self.save_checkpoint(event.seq.next())?;
                since_checkpoint = 0;
            }
        }
    }

    /// The report of an attach stopped before event `next`, the first it has not answered,
    /// checkpointed there.
    fn stopped_at(
        &self,
        next: Seq,
        mut report: AttachReport,
        analyst: &dyn LiveAnalyst,
    ) -> Result<AttachReport, AttachError> {
        self.save_checkpoint(next)?;
        report.next = next.0;
        report.refused = analyst.refused();
        Ok(report)
    }

    /// What this analyst already wrote, all of it, up to the head as it stands (a live campaign
    /// keeps appending), before anything is observed: a conclusion is re-derived when its cause
    /// is observed again, which comes before the copy in the log. Not chain-checked here: the
    /// subscription checks every event before the analyst sees it, and an id found here only
    /// ever suppresses a write.
    async fn already_written(&self, head: Seq) -> Result<HashSet<EventId>, AttachError> {
        let mut written = HashSet::new();
        let mut next = Seq(0);
        while next < head {
            let batch = self.store.read(&self.campaign, next, READ_BATCH_EVENTS).await?;
            let Some(last) = batch.last() else { break };
            next = last.seq.next();
            for stored in batch.iter().take_while(|s| s.seq < head) {
                if let Ok(body) = EventBody::parse(&stored.body)
                    && body.actor.kind == ANALYST_KIND
                    && body.actor.name == self.label
                {
                    written.insert(stored.id);
                }
            }
        }
        Ok(written)
    }

    /// Appends the conclusions drawn from `event` that this analyst has not written yet, each
    /// caused by it; `unread` is the first position the attach has not read.
    async fn write(
        &self,
        conclusions: Vec<Conclusion>,
        event: &RecordedEvent,
        unread: Seq,
        written: &mut HashSet<EventId>,
        report: &mut AttachReport,
    ) -> Result<(), AttachError> {
        let mut batch = Vec::new();
        for conclusion in conclusions {
            let payload = conclusion.into_payload();
            let id = self.conclusion_id(&payload);
            if written.contains(&id) || batch.iter().any(|e: &NewEvent| e.id == id) {
                report.already_written += 1;
                continue;
            }
            let actor = ActorRef::new(ANALYST_KIND, &self.label);
            batch.push(NewEvent::new(id, actor, &payload).caused_by(event.id));
        }
        if !batch.is_empty() {
            written.extend(batch.iter().map(|e| e.id));
            let (retries, present) = self.append(batch.clone(), unread).await?;
            report.conflicts_retried += retries;
            report.written += (batch.len() - present) as u64;
            report.already_written += present as u64;
        }
        Ok(())
    }

    /// The id of a conclusion: the same analyst concluding the same thing gets the same id.
    fn conclusion_id(&self, payload: &Payload) -> EventId {
        let encoded = payload.encode();
        EventId::derive(
            &self.campaign,
            &format!("attach/{}/{}/{}", self.label, encoded.type_name, encoded.json),
        )
    }

    /// Appends at the head, retrying when a live writer got there first. Another writer may
    /// have written some of the same conclusions since `unread` (a second attach under the
    /// same name): an append that fails is retried without those, and fails as it did only when
    /// none were. Returns the retries and the conclusions found already written.
    async fn append(&self, mut batch: Vec<NewEvent>, mut unread: Seq) -> Result<(u64, usize), AttachError> {
        let (mut retries, size) = (0, batch.len());
        loop {
            let head = self.store.head(&self.campaign).await?.map_or(Seq(0), |h| h.next);
            let error = match self.store.append(&self.campaign, head, batch.clone()).await {
                // Leading events the store found already there: a twin appended them just now.
                Ok(appended) => return Ok((retries, size - batch.len() + appended.already_present as usize)),
                Err(e) => e,
            };
            let before = batch.len();
            let now = self.store.head(&self.campaign).await?.map_or(Seq(0), |h| h.next);
            while unread < now {
                let appended = self.store.read(&self.campaign, unread, READ_BATCH_EVENTS).await?;
                let Some(last) = appended.last() else { break };
                unread = last.seq.next();
                batch.retain(|e| !appended.iter().any(|a| a.id == e.id));
            }
            match error {
                _ if batch.is_empty() => return Ok((retries, size)),
                StoreError::Conflict { .. } if retries < APPEND_RETRIES_MAX => retries += 1,
                _ if batch.len() < before && retries < APPEND_RETRIES_MAX => retries += 1,
                error => return Err(error.into()),
            }
        }
    }

    fn load_checkpoint(&self) -> Result<Option<Checkpoint>, AttachError> {
        let Some(path) = &self.checkpoint else { return Ok(None) };
        let failed = |message: String| AttachError::Checkpoint { path: path.clone(), message };
        let saved: Checkpoint = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                failed(format!("not an attach checkpoint ({e}); delete it to start again from --from"))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e.to_string())),
        };
        for (what, kept, this) in
            [("campaign", &saved.campaign, self.campaign.as_str()), ("analyst", &saved.analyst, &self.label)]
        {
            if let Some(kept) = kept.as_deref().filter(|k| *k != this) {
                return Err(failed(format!(
                    "it is {what} {kept:?}'s, not {this:?}'s: give this attach a checkpoint of its own"
                )));
            }
        }
        Ok(Some(saved))
    }

    /// Writes the checkpoint through a temporary file and a rename: a crash leaves the old one
    /// or the new one, never half of one.
    fn save_checkpoint(&self, next: Seq) -> Result<(), AttachError> {
        let Some(path) = &self.checkpoint else { return Ok(()) };
        let failed =
            |e: std::io::Error| AttachError::Checkpoint { path: path.clone(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        // Its own temporary file: two attaches may share a checkpoint path.
        let temporary = path.with_extension(format!("tmp.{}", std::process::id()));
        let checkpoint = Checkpoint {
            campaign: Some(self.campaign.to_string()),
            analyst: Some(self.label.clone()),
            next: next.0,
        };
        let text = serde_json::to_string(&checkpoint).expect("a checkpoint serialises");
        std::fs::write(&temporary, text).map_err(failed)?;
        std::fs::rename(&temporary, path).map_err(failed)
    }
}

/// Whether `future` has completed, without waiting for it.
fn is_ready<F: std::future::Future<Output = ()>>(future: std::pin::Pin<&mut F>) -> bool {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop())).is_ready()
}

/// Events processed between checkpoint writes while catching up (each write is a file rename).
const CHECKPOINT_EVERY: u32 = 500;
/// Conflicting appends retried before giving up (each retry follows another writer's commit).
const APPEND_RETRIES_MAX: u64 = 1_000;
