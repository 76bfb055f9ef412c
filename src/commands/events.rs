//! `lineage events`: print (and follow, until the campaign's end) a campaign's log.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use anyhow::bail;
use chrono::{DateTime, Utc};
use lineage_events::{CampaignId, EventBody, EventStore, Payload, Seq, StoredEvent, Subscription, Upcasters};
use lineage_replay::ResolveError;

use crate::cli::EventsArgs;
use crate::output;

pub async fn run(store: Arc<dyn EventStore>, args: &EventsArgs) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), &args.campaign).await?;
    let mut filter = Filter::of(args)?;
    if let Some(name) = &args.arch {
        filter.arch = Some(arch_named(store.as_ref(), &campaign, name, args.follow).await?);
    }
    let upcasters = Upcasters::standard();
    let mut subscription = Subscription::new(store, campaign, Seq(args.from));
    let print = |out: &mut dyn Write, event: &StoredEvent| -> anyhow::Result<()> {
        if !filter.keeps(event)? {
            return Ok(());
        }
        let mut out = out;
        if args.json {
            output::write_event_json(&mut out, event)
        } else {
            output::write_event_text(&mut out, event, &upcasters)
        }
    };
    let finished = |event: &StoredEvent| -> anyhow::Result<bool> {
        Ok(!args.keep_following && EventBody::parse(&event.body)?.type_name == "CampaignFinished")
    };
    // Everything stored, up to the head (which checks that the log ends where it says).
    let mut out = BufWriter::new(std::io::stdout().lock());
    loop {
        while let Some(event) = subscription.try_next().await? {
            print(&mut out, &event)?;
            if args.follow && finished(&event)? {
                // The end of the campaign, if the store's head vouches for it.
                subscription.at_head().await?;
                return Ok(out.flush()?);
            }
        }
        if subscription.at_head().await? {
            break;
        }
    }
    out.flush()?;
    if !args.follow {
        return Ok(());
    }
    // Then each event as it is committed, unbuffered beyond the line: a follower downstream
    // should see each event at once.
    let mut out = out.into_inner().map_err(|e| e.into_error())?;
    loop {
        let event = tokio::select! {
            event = subscription.next() => event?,
            // A closed pipe is success, as when a write finds it (main treats it so).
            () = output::stdout_closed() => return Ok(()),
        };
        print(&mut out, &event)?;
        out.flush()?;
        if finished(&event)? {
            return Ok(());
        }
    }
}

/// The architecture `--arch` names: an id of the log, or the only one it begins, as every
/// command reads an architecture. An id the log does not hold is refused, except when following
/// a campaign that has not finished, where it may yet be proposed.
async fn arch_named(
    store: &dyn EventStore,
    campaign: &CampaignId,
    name: &str,
    follow: bool,
) -> anyhow::Result<String> {
    let folded = lineage_replay::fold_log_to_head(store, campaign, |_| true).await?;
    match folded.state.resolve_arch(name) {
        Ok(id) => Ok(id.to_string()),
        Err(ResolveError::Unknown { .. }) if follow && folded.state.finished.is_none() => Ok(name.to_owned()),
        Err(e @ ResolveError::Unknown { .. }) => {
            bail!("--arch: {e} (`lineage replay {campaign}` lists them)")
        }
        Err(e) => bail!("--arch: {e}"),
    }
}

/// `--type`, `--actor`, `--arch` and `--since`: which events to print (all of them still pass
/// the chain check).
struct Filter {
    types: Vec<String>,
    actor: Option<(String, Option<String>)>,
    arch: Option<String>,
    since: Option<DateTime<Utc>>,
}

impl Filter {
    fn of(args: &EventsArgs) -> anyhow::Result<Self> {
        for name in &args.types {
            if Payload::current_version(name).is_none() {
                let known: Vec<&str> = Payload::TYPES.iter().map(|(n, _)| *n).collect();
                bail!("--type {name}: no such event type (known: {})", known.join(", "));
            }
        }
        let since = args
            .since
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                    anyhow::anyhow!("--since takes an RFC 3339 time (e.g. 2026-11-29T10:00:00Z), not {t:?}")
                })
            })
            .transpose()?;
        let actor = args
            .actor
            .as_deref()
            .map(|a| match a.split_once('/') {
                Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
                    Ok((kind.to_owned(), Some(name.to_owned())))
                }
                None if !a.is_empty() => Ok((a.to_owned(), None)),
                _ => Err(anyhow::anyhow!(
                    "--actor takes KIND or KIND/NAME (e.g. analyst or trainer/trainer-0), not {a:?}"
                )),
            })
            .transpose()?;
        // `--arch` is resolved against the log by `arch_named`.
        Ok(Self { types: args.types.clone(), actor, arch: None, since })
    }

    fn keeps(&self, event: &StoredEvent) -> anyhow::Result<bool> {
        if self.types.is_empty() && self.actor.is_none() && self.arch.is_none() && self.since.is_none() {
            return Ok(true);
        }
        let body = EventBody::parse(&event.body)?;
        let actor_matches = self.actor.as_ref().is_none_or(|(kind, name)| {
            body.actor.kind == *kind && name.as_ref().is_none_or(|n| body.actor.name == *n)
        });
        Ok((self.types.is_empty() || self.types.iter().any(|t| *t == body.type_name))
            && actor_matches
            && self.arch.as_ref().is_none_or(|a| body.correlation.as_ref().is_some_and(|c| c.as_str() == a))
            && self.since.is_none_or(|t| body.recorded_at >= t))
    }
}
