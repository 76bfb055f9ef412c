//! `lineage bench campaign`: where a recorded campaign's wall time went. Each gap between
//! consecutive events is charged to the work that produced the later event (the gap before a
//! `TrainingProgress` is training, the gap before an `ImplementationChecked` is checking, …),
//! so the breakdown needs nothing but the log's timestamps. Analysts attached from outside work
//! beside the campaign: their events are counted apart.

use std::collections::BTreeMap;
use std::sync::Arc;

use lineage_actors::attach::is_side_analyst;
use lineage_events::{CampaignId, EventBody, EventStore};
use serde::Serialize;

use crate::machine::Machine;

/// What the gap before an event of this type was spent on.
fn activity(type_name: &str) -> &'static str {
    match type_name {
        "TrainingProgress" | "TrainingFinished" | "TrainingFailed" => "training",
        "ImplementationChecked" => "checks",
        "RepairAttempted" | "ArchitectureAbandoned" => "repair",
        "ParentSelected" | "ArchitectureProposed" | "NoveltyJudged" => "proposal",
        "AnalysisRecorded" | "FitnessAssigned" | "InsightRecorded" | "VerificationConcluded" => "analysis",
        _ => "orchestration and log",
    }
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    campaign: String,
    events: u64,
    wall_s: f64,
    seconds: BTreeMap<&'static str, f64>,
    share_outside_training: f64,
    /// Events of analysts beside the loop (attached, or named in `analysts`): not campaign time.
    side_analyst_events: u64,
}

pub async fn run(store: Arc<dyn EventStore>, campaign: &CampaignId, json: bool) -> anyhow::Result<()> {
    let mut stored = Vec::new();
    let head = lineage_events::read_verified(store.as_ref(), campaign, |event| stored.push(event)).await?;
    let events = head.next.0;
    let mut seconds: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut previous: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut side_analyst_events = 0;
    for event in &stored {
        let body = EventBody::parse(&event.body)?;
        // An attached analyst works beside the campaign, not in its loop, and may attach long
        // after the events it concludes from: its events neither take nor split the campaign's
        // time (the wait before a late attach is nobody's work).
        if is_side_analyst(&body.actor) {
            side_analyst_events += 1;
            continue;
        }
        let at = body.recorded_at;
        // The time a campaign sat stopped between a crash or pause and its resume is not the
        // campaign's: skip the gap before each `CampaignResumed`.
        if let Some(prev) = previous
            && body.type_name != "CampaignResumed"
        {
            let gap = (at - prev).num_microseconds().unwrap_or(0) as f64 / 1e6;
            *seconds.entry(activity(&body.type_name)).or_default() += gap;
        }
        previous = Some(at);
    }
    let wall_s: f64 = seconds.values().sum();
    let training = seconds.get("training").copied().unwrap_or(0.0);
    let report = Report {
        machine: Machine::detect(),
        campaign: campaign.to_string(),
        events,
        wall_s,
        share_outside_training: if wall_s > 0.0 { 1.0 - training / wall_s } else { 0.0 },
        seconds,
        side_analyst_events,
    };
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    let mut text = format!("machine:  {}\n", report.machine);
    text += &format!(
        "campaign: {} ({} events, {:.1} s of campaign wall time)\n",
        report.campaign, events, wall_s
    );
    for (what, s) in &report.seconds {
        text += &format!("{what:<24} {s:>9.2} s {:>6.2}%\n", 100.0 * s / wall_s.max(1e-9));
    }
    text += &format!("outside training: {:.2}%", 100.0 * report.share_outside_training);
    if side_analyst_events > 0 {
        text += &format!(
            "\n{side_analyst_events} events of analysts beside the loop (attached, or named in `analysts`): their work is not counted"
        );
    }
    crate::output::print(&text)?;
    Ok(())
}
