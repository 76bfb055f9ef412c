//! Analysts in any language: a program started with `lineage attach --exec`, speaking JSON
//! lines over its standard input and output (protocol version 1, docs/analysts.md).
//!
//! lineage writes `hello`, then the events before the starting point as `history` (context,
//! not answered), then one `event` per committed event (the stored body, verbatim), and
//! `caught_up` when the program has seen everything committed so far. After each `event`
//! the program answers with any number of `insight` and `analysis` lines, then `done` with that
//! event's `seq`. Request and answer in lock step make every conclusion's cause exact (the event
//! it answered) and the checkpoint exact. A malformed answer line is logged as a warning, not
//! recorded, and the analyst goes on; a program that exits or stays silent ends the attach.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use lineage_events::payload::{AnalysisRecorded, InsightRecorded};
use lineage_events::{ArchId, CampaignId, EventId, RecordedEvent, Seq};
use lineage_replay::CampaignState;
use serde::Deserialize;
use serde_json::json;

use super::{AttachError, Conclusion, LiveAnalyst};

/// The protocol version lineage speaks.
pub const PROTOCOL: u32 = 1;
/// How long a program may take to answer one event.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A running analyst program.
pub struct External {
    label: String,
    campaign: CampaignId,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    line: u64,
    rejected: u64,
    shown: std::collections::HashSet<EventId>,
}

/// One answer line.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Answer {
    Insight {
        kind: String,
        text: String,
        confidence: f64,
        #[serde(default)]
        data: BTreeMap<String, f64>,
        cites: Vec<EventId>,
    },
    Analysis {
        arch: ArchId,
        summary: String,
        #[serde(default)]
        findings: Vec<String>,
        #[serde(default)]
        numbers: BTreeMap<String, f64>,
        cites: Vec<EventId>,
    },
    Done {
        seq: u64,
    },
}

impl External {
    /// Starts `command` with `sh -c`, its standard error passed through.
    pub fn spawn(command: &str, label: &str, campaign: &CampaignId) -> Result<Self, AttachError> {
        let mut child = Command::new("sh")
            .args(["-c", command])
            // The campaign's signing secret is for lineage alone, never for an analyst program.
            .env_remove("LINEAGE_SIGNING_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| AttachError::Analyst(format!("{label}: cannot start {command:?}: {e}")))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = channel();
        // A reader thread turns the pipe into a channel, so an answer can be waited for with a
        // timeout.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Self {
            label: label.to_owned(),
            campaign: campaign.clone(),
            child,
            stdin,
            lines,
            line: 0,
            rejected: 0,
            shown: Default::default(),
        })
    }

    fn send(&mut self, line: &str) -> Result<(), AttachError> {
        let stdin = self.stdin.as_mut().expect("open until drop");
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .map_err(|e| match e.kind() {
                // Its end of the pipe is closed: it has exited (or is about to).
                std::io::ErrorKind::BrokenPipe => {
                    let _ = self.child.wait();
                    self.gone("the program exited")
                }
                _ => self.gone(&format!("cannot write to it: {e}")),
            })
    }

    fn gone(&mut self, why: &str) -> AttachError {
        let status = self.child.try_wait().ok().flatten().map(|s| format!(" ({s})")).unwrap_or_default();
        AttachError::Analyst(format!("{}: {why}{status}", self.label))
    }

    /// Validates one answer line against what the log holds; `Err` says why it is rejected.
    fn check(&self, answer: Answer, state: &CampaignState) -> Result<Option<Conclusion>, String> {
        let check_cites = |cites: &[EventId]| match cites.iter().find(|c| !self.shown.contains(c)) {
            _ if cites.is_empty() => Err("`cites` is empty: say which events it is based on".to_owned()),
            Some(c) => Err(format!("cites {c}, which is not an event it has been shown")),
            None => Ok(()),
        };
        match answer {
            Answer::Done { .. } => Ok(None),
            Answer::Insight { kind, text, confidence, data, cites } => {
                if kind.trim().is_empty() {
                    return Err("`kind` is empty".into());
                }
                if !(0.0..=1.0).contains(&confidence) {
                    return Err(format!("`confidence` {confidence} is not in [0, 1]"));
                }
                if let Some((k, v)) = data.iter().find(|(_, v)| !v.is_finite()) {
                    return Err(format!("`data.{k}` = {v} is not a finite number"));
                }
                check_cites(&cites)?;
                Ok(Some(Conclusion::Insight(InsightRecorded {
                    analyst: self.label.as_str().into(),
                    kind: kind.into(),
                    text,
                    confidence,
                    data,
                    cites,
                })))
            }
            Answer::Analysis { arch, summary, findings, numbers, cites } => {
                if !state.archs.contains_key(&arch) {
                    return Err(format!("architecture {arch} is not in the campaign"));
                }
                check_cites(&cites)?;
                Ok(Some(Conclusion::Analysis(AnalysisRecorded {
                    arch,
                    analyst: self.label.as_str().into(),
                    summary,
                    findings,
                    comparisons: Vec::new(),
                    numbers,
                    cites,
                    exchange: None,
                })))
            }
        }
    }
}

impl LiveAnalyst for External {
    fn start(&mut self, from: Seq) -> Result<(), AttachError> {
        let hello = json!({
            "type": "hello",
            "protocol": PROTOCOL,
            "campaign": self.campaign,
            "analyst": self.label,
            "from": from.0,
        });
        self.send(&hello.to_string())
    }

    fn observe(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
        body: &str,
    ) -> Result<Vec<Conclusion>, AttachError> {
        // The stored body is valid JSON: embedded verbatim, never re-serialised.
        self.send(&format!("{{\"type\":\"event\",\"event\":{body}}}"))?;
        self.shown.insert(event.id);
        self.answer(state, event)
    }

    fn history(&mut self, event: &RecordedEvent, body: &str) -> Result<(), AttachError> {
        self.shown.insert(event.id);
        self.send(&format!("{{\"type\":\"history\",\"event\":{body}}}"))
    }

    fn refused(&self) -> u64 {
        self.rejected
    }

    fn caught_up(&mut self, next: Seq) -> Result<(), AttachError> {
        self.send(&json!({"type": "caught_up", "next": next.0}).to_string())
    }
}

impl External {
    /// Reads answer lines for `event` up to its `done`.
    fn answer(
        &mut self,
        state: &CampaignState,
        event: &RecordedEvent,
    ) -> Result<Vec<Conclusion>, AttachError> {
        let mut conclusions = Vec::new();
        loop {
            let line = match self.lines.recv_timeout(ANSWER_TIMEOUT) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(
                        self.gone(&format!("no `done` for event {} within {ANSWER_TIMEOUT:?}", event.seq))
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    return Err(self.gone("the program exited"));
                }
            };
            self.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            let outcome =
                serde_json::from_str::<Answer>(&line).map_err(|e| e.to_string()).and_then(|answer| {
                    if let Answer::Done { seq } = answer
                        && seq != event.seq.0
                    {
                        return Err(format!("`done` for seq {seq}, but event {} was sent", event.seq));
                    }
                    let done = matches!(answer, Answer::Done { .. });
                    self.check(answer, state).map(|c| (c, done))
                });
            match outcome {
                Ok((conclusion, done)) => {
                    conclusions.extend(conclusion);
                    if done {
                        return Ok(conclusions);
                    }
                }
                Err(why) => {
                    self.rejected += 1;
                    tracing::warn!("analyst {}: ignored answer line {}: {why}", self.label, self.line);
                }
            }
        }
    }
}

impl Drop for External {
    fn drop(&mut self) {
        // Closing its input is the signal to finish; a program that does not is stopped.
        drop(self.stdin.take());
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
