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
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
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
/// Longest answer line read: what one line concludes becomes one event, which a store holds
/// to `lineage_events::limits::EVENT_BYTES_MAX` (4 MiB) with its envelope. A longer line is
/// refused, and an endless one cannot fill the memory.
pub const ANSWER_LINE_BYTES_MAX: usize = 1 << 20;
/// How long a program has to exit once its input is closed, before its process group is
/// killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// A running analyst program.
pub struct External {
    label: String,
    campaign: CampaignId,
    child: Child,
    group: ProcessGroup,
    stdin: Option<ChildStdin>,
    /// Each answer line, or why it cannot be one (not UTF-8, too long).
    lines: Receiver<Result<String, String>>,
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
    /// Starts `command` with `sh -c`, its standard error passed through, in a process group of
    /// its own: whatever it starts ends with the attach ([`ProcessGroup::kill`]).
    pub fn spawn(command: &str, label: &str, campaign: &CampaignId) -> Result<Self, AttachError> {
        let mut child = Command::new("sh")
            .args(["-c", command])
            // The campaign's signing secret is for lineage alone, never for an analyst program.
            .env_remove("LINEAGE_SIGNING_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| AttachError::Analyst(format!("{label}: cannot start {command:?}: {e}")))?;
        let group = ProcessGroup(child.id() as i32);
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = channel();
        // A reader thread turns the pipe into a channel, so an answer can be waited for with a
        // timeout.
        std::thread::spawn(move || read_lines(BufReader::new(stdout), &send));
        let stdin = child.stdin.take();
        Ok(Self {
            label: label.to_owned(),
            campaign: campaign.clone(),
            child,
            group,
            stdin,
            lines,
            line: 0,
            rejected: 0,
            shown: Default::default(),
        })
    }

    /// The program's process group: what a signal handler kills to end an answer it waits for.
    pub fn process_group(&self) -> ProcessGroup {
        self.group
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
                    self.settle();
                    self.gone("the program exited")
                }
                _ => self.gone(&format!("cannot write to it: {e}")),
            })
    }

    /// Gives the program [`EXIT_GRACE`] to exit, so that its status can be reported; one that
    /// does not is left to `drop`.
    fn settle(&mut self) {
        let deadline = std::time::Instant::now() + EXIT_GRACE;
        while std::time::Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
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
                Ok(Ok(line)) => line,
                Ok(Err(why)) => {
                    self.line += 1;
                    self.rejected += 1;
                    tracing::warn!("analyst {}: ignored answer line {}: {why}", self.label, self.line);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(
                        self.gone(&format!("no `done` for event {} within {ANSWER_TIMEOUT:?}", event.seq))
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Its output ended: it exited, or closed it and can answer no more.
                    self.settle();
                    return Err(self.gone("the program exited or closed its output"));
                }
            };
            self.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = match line.trim_start().starts_with('{') {
                true => serde_json::from_str::<Answer>(&line).map_err(|e| e.to_string()),
                false => Err("an answer line is one JSON object".to_owned()),
            };
            let outcome = parsed.and_then(|answer| {
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

/// Sends each line of `from` (without its line break) until it ends or nobody listens; a line
/// that is not UTF-8 or is longer than [`ANSWER_LINE_BYTES_MAX`] is sent as why it is refused,
/// its bytes skipped to the next line break.
fn read_lines(mut from: impl BufRead, send: &Sender<Result<String, String>>) {
    loop {
        let mut line = Vec::new();
        let mut overlong = false;
        let ended = loop {
            let chunk = match from.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            };
            if chunk.is_empty() {
                break true;
            }
            let (piece, found) = match chunk.iter().position(|b| *b == b'\n') {
                Some(at) => (&chunk[..at], at + 1),
                None => (chunk, chunk.len()),
            };
            let complete = found > piece.len();
            if line.len() + piece.len() > ANSWER_LINE_BYTES_MAX {
                overlong = true;
                line.clear();
            } else if !overlong {
                line.extend_from_slice(piece);
            }
            from.consume(found);
            if complete {
                break false;
            }
        };
        if ended && line.is_empty() && !overlong {
            return;
        }
        let sent = match (overlong, String::from_utf8(line)) {
            (true, _) => Err(format!("longer than {ANSWER_LINE_BYTES_MAX} bytes")),
            (false, Ok(line)) => Ok(line),
            (false, Err(e)) => Err(format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to())),
        };
        if send.send(sent).is_err() || ended {
            return;
        }
    }
}

/// The process group an analyst program runs in (its `sh` leads it).
#[derive(Clone, Copy, Debug)]
pub struct ProcessGroup(i32);

impl ProcessGroup {
    /// Kills every process of the group, the program and whatever it started.
    pub fn kill(self) {
        // SAFETY: kill(2) takes plain integers; a group that has already exited is ESRCH.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

impl Drop for External {
    fn drop(&mut self) {
        // Closing its input is the signal to finish; a program that does not is stopped, and
        // so is anything it started and left running.
        drop(self.stdin.take());
        self.settle();
        self.group.kill();
        let _ = self.child.wait();
    }
}
