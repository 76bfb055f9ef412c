//! `lineage replay`: rebuild the campaign's state from its log — optionally as it stood at an
//! event or a time — and print the leaderboard, the state hash and the head it was folded to.
//! Trains nothing. Replay shows what the log records, all of it: a log that continues past its
//! `CampaignFinished` (which `lineage verify` fails) is folded whole, with a warning naming the
//! first event past the end.

use std::sync::Arc;

use anyhow::bail;
use chrono::{DateTime, Utc};
use lineage_audit::Summary;
use lineage_events::{EventStore, Seq};

use super::counterfactual;

/// Where to stop.
enum Until {
    Seq(Seq),
    Time(DateTime<Utc>),
}

fn parse_until(text: &str) -> anyhow::Result<Until> {
    if let Ok(n) = text.parse::<u64>() {
        return Ok(Until::Seq(Seq(n)));
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Ok(Until::Time(t.with_timezone(&Utc))),
        Err(_) => bail!(
            "--until takes an event number or an RFC 3339 time (e.g. 2026-11-29T10:00:00Z), not {text:?}"
        ),
    }
}

/// A counterfactual re-ranking as text, or as JSON with `--json`.
fn print_counterfactual(counterfactual: &lineage_audit::Counterfactual, json: bool) -> anyhow::Result<()> {
    if json {
        return crate::output::print(&serde_json::to_string_pretty(counterfactual)?);
    }
    crate::output::print_text(&counterfactual.text())
}

/// `--fitness` and `--policy`, when given.
pub struct Counterfactual<'a> {
    pub fitness: Option<&'a str>,
    pub policy: Option<&'a str>,
}

pub async fn run(
    store: Arc<dyn EventStore>,
    campaign: &str,
    until: Option<&str>,
    asked: Counterfactual<'_>,
    json: bool,
) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let until = until.map(parse_until).transpose()?;
    let folded = lineage_replay::fold_log_to_head(store.as_ref(), &campaign, |event| match &until {
        None => true,
        Some(Until::Seq(last)) => event.seq <= *last,
        Some(Until::Time(t)) => event.recorded_at <= *t,
    })
    .await?;
    if let Some(Until::Seq(last)) = until
        && last >= folded.head.next
    {
        bail!(
            "campaign {campaign} has events 0 to {}; there is no event {last}",
            folded.head.next.0.saturating_sub(1)
        );
    }
    let state = folded.state;
    if asked.fitness.is_some() || asked.policy.is_some() {
        if state.started.is_none() {
            bail!("campaign {campaign} has no CampaignStarted event: nothing to re-rank");
        }
        let recorded = lineage_audit::counterfactual::recorded_weights(&state);
        let policy = asked.policy.map(counterfactual::parse_policy).transpose()?.unwrap_or_default();
        if let Some((weights, components, described)) =
            asked.fitness.map(|f| counterfactual::named_fitness(&state, f)).transpose()?.flatten()
        {
            let rescored = lineage_audit::Counterfactual::rescored(
                &state,
                weights,
                policy,
                &components,
                Some(described),
            );
            return print_counterfactual(&rescored, json);
        }
        let weights = asked.fitness.map_or(Ok(recorded), |f| counterfactual::parse_weights(f, recorded))?;
        return print_counterfactual(&lineage_audit::Counterfactual::of(&state, weights, policy), json);
    }
    let summary = Summary::of(&campaign, &state).at_head(folded.head);
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&summary)?);
    }
    crate::output::print_text(&summary.table())?;
    let point = if state.events == 0 {
        "before its first event".to_owned()
    } else {
        format!("after event {}", state.events - 1)
    };
    let status = match (&state.finished, state.discoveries().len()) {
        (Some(f), n) => format!("finished ({}); {n} discoveries", f.reason),
        (None, _) => "in progress".to_owned(),
    };
    crate::output::print(&format!(
        "campaign {campaign} {point}: {status}\nstate hash {}",
        summary.state_hash
    ))?;
    if let Some(head) = summary.head() {
        crate::output::print(&format!("head {head}"))?;
    }
    if let Some(past) = &state.past_end {
        crate::output::print(&format!(
            "warning: {past}; the counts above include it, and `lineage verify {campaign}` fails this log"
        ))?;
    }
    // The process exits next; freeing a long campaign's state record by record would add
    // about a second to a million-event replay for nothing.
    std::mem::forget(state);
    Ok(())
}
