//! How events and campaigns look on the terminal and as JSON lines.

use std::io::{self, Write};

use lineage_audit::Listing;
pub use lineage_events::visible::shown;
use lineage_events::{DecodedPayload, EventBody, StoredEvent, Upcasters};
use serde::Serialize;
use serde_json::value::RawValue;

/// [`print()`] for text written for people: recorded text in it shown as
/// `lineage_events::visible::shown` shows it (JSON, CSV and DOT are data, printed as they are).
pub fn print_text(text: &str) -> anyhow::Result<()> {
    print(&shown(text, true))
}

/// True when the error is a closed pipe (`lineage events … | head`): not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind));
        io_kind == Some(io::ErrorKind::BrokenPipe)
    })
}

#[derive(Serialize)]
struct EventLine<'a> {
    seq: u64,
    id: String,
    #[serde(rename = "type")]
    type_name: &'a str,
    version: u32,
    actor: &'a lineage_events::ActorRef,
    recorded_at: String,
    causation: Option<String>,
    correlation: Option<&'a str>,
    prev_hash: String,
    hash: String,
    payload: &'a RawValue,
}

/// Writes one event as a JSON line: the envelope fields, both hashes and the payload verbatim.
pub fn write_event_json(out: &mut impl Write, event: &StoredEvent) -> anyhow::Result<()> {
    let body = EventBody::parse(&event.body)?;
    let line = EventLine {
        seq: event.seq.0,
        id: event.id.to_string(),
        type_name: &body.type_name,
        version: body.version,
        actor: &body.actor,
        recorded_at: body.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        causation: body.causation.map(|c| c.to_string()),
        correlation: body.correlation.as_ref().map(|c| c.as_str()),
        prev_hash: event.prev_hash.to_hex(),
        hash: event.hash.to_hex(),
        payload: body.payload,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes one event as a human line: seq, time, type, actor, summary.
pub fn write_event_text(
    out: &mut impl Write,
    event: &StoredEvent,
    upcasters: &Upcasters,
) -> anyhow::Result<()> {
    let decoded = event.decode(upcasters)?;
    let summary = match &decoded.payload {
        DecodedPayload::Known(payload) => payload.summary(),
        DecodedPayload::Unknown(unknown) => {
            format!(
                "({} {} v{}: skipped by this lineage)",
                unknown.reason, unknown.type_name, unknown.version
            )
        }
    };
    let type_name = match &decoded.payload {
        DecodedPayload::Known(payload) => payload.type_name(),
        DecodedPayload::Unknown(unknown) => unknown.type_name.as_str(),
    };
    let line = format!(
        "{:>6}  {}  {:<24} {:<22} {}",
        decoded.seq.0,
        decoded.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f"),
        type_name,
        format!("{}/{}", decoded.actor.kind, decoded.actor.name),
        summary
    );
    writeln!(out, "{}", shown(&line, false))?;
    Ok(())
}

/// Writes the campaign list as a table or as JSON lines (seeds as strings: JSON numbers above
/// 2^53 lose digits in most readers).
pub fn write_campaigns(out: &mut impl Write, campaigns: &[Listing], json: bool) -> anyhow::Result<()> {
    if json {
        for c in campaigns {
            serde_json::to_writer(&mut *out, c)?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    if campaigns.is_empty() {
        writeln!(out, "no campaigns in this store")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:<10} {:<8} {:>11} {:>8}  {:<16} {:>11} {:>8}  {:<19}  head (SEQ:HASH)",
        "campaign", "state", "preset", "experiments", "best", "best arch", "discoveries", "events", "updated"
    )?;
    for c in campaigns {
        let head = match c.head_seq {
            Some(seq) => format!("{seq}:{}", c.head_hash),
            None => "-".to_owned(),
        };
        writeln!(
            out,
            "{:<24} {:<10} {:<8} {:>11} {:>8}  {:<16} {:>11} {:>8}  {:<19}  {head}",
            match &c.name {
                Some(name) => format!("{} ({name})", c.campaign),
                None => c.campaign.clone(),
            },
            c.state.as_str(),
            c.preset.as_deref().unwrap_or("-"),
            c.experiments_shown(),
            c.best_fitness.map_or("-".to_owned(), |f| format!("{f:.4}")),
            c.best_arch.as_deref().unwrap_or("-"),
            c.discoveries.map_or("-".to_owned(), |n| n.to_string()),
            c.events,
            c.updated_at.format("%Y-%m-%d %H:%M:%S"),
        )?;
    }
    Ok(())
}

/// Writes `text` and a newline to stdout, reporting a closed pipe as an error (which `main`
/// treats as success) instead of panicking as `println!` would.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Resolves once stdout is a pipe whose reader has gone (`lineage events -f | head -1`). A
/// follower waiting for the next event writes nothing, so without this it would learn of the
/// closed pipe only when the campaign next appends, which for a finished one is never.
pub async fn stdout_closed() {
    loop {
        if stdout_reader_gone() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn stdout_reader_gone() -> bool {
    // On a pipe whose read end is closed, poll reports POLLERR for the write end; a terminal or
    // a file never reports it. Asking for no events makes poll report only errors and hang-ups.
    let mut fd = libc::pollfd { fd: libc::STDOUT_FILENO, events: 0, revents: 0 };
    // SAFETY: one valid pollfd, a count of one, and no wait.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn stdout_reader_gone() -> bool {
    false // no portable way to ask; the next write still reports it
}
