//! The index: every campaign in the store with its state, experiments, best fitness,
//! discoveries and head.

use std::fmt::Write;

use lineage_events::CampaignSummary;
use lineage_replay::Folded;
use serde::Serialize;

use crate::html::{self, Links, esc, num};

/// One campaign as the index lists it (and `/api/campaigns` serves it).
#[derive(Debug, Serialize)]
pub struct Listed {
    /// The campaign.
    pub campaign: String,
    /// `finished` or `no end event` (running, paused or stopped).
    pub state: String,
    /// Why it finished.
    pub reason: Option<String>,
    /// The preset it was started from, if any.
    pub preset: Option<String>,
    /// Experiments started.
    pub experiments: u32,
    /// The experiment budget.
    pub experiments_max: Option<u32>,
    /// The best exploration fitness and who holds it.
    pub best: Option<(String, f64)>,
    /// Architectures verified as discoveries.
    pub discoveries: usize,
    /// Events in the log.
    pub events: u64,
    /// The head: `seq:hash` of the last event.
    pub head: String,
    /// When it last appended.
    pub updated_at: String,
}

impl Listed {
    /// A campaign's line, from the store's summary and the fold of its log.
    pub fn of(summary: &CampaignSummary, folded: &Folded) -> Self {
        let state = &folded.state;
        let config = state.started.as_ref().map(|s| &s.config);
        Self {
            campaign: summary.campaign.to_string(),
            state: if state.finished.is_some() { "finished" } else { "no end event" }.to_owned(),
            reason: state.finished.as_ref().map(|f| f.reason.to_string()),
            preset: config.and_then(|c| c.preset.clone()),
            experiments: state.experiments_started(),
            experiments_max: config.map(|c| c.budget.experiments_max),
            best: state.best().map(|(a, f)| (a.to_string(), f)),
            discoveries: state.discoveries().len(),
            events: summary.head.next.0,
            head: summary
                .head
                .next
                .0
                .checked_sub(1)
                .map_or("empty".to_owned(), |s| format!("{s}:{}", summary.head.hash)),
            updated_at: summary.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

/// The index page.
pub fn page(listed: &[Listed], store: &str) -> String {
    let mut body = format!("<h1>Campaigns</h1><p class=\"status\">{} in {}</p>", listed.len(), esc(store));
    if listed.is_empty() {
        body.push_str("<p>No campaign yet: start one with <code>lineage run</code>.</p>");
    }
    body.push_str("<table class=\"campaigns\"><thead><tr><th>campaign</th><th>state</th><th>preset</th><th>experiments</th><th>best fitness</th><th>discoveries</th><th>events</th><th>head</th><th>last event</th></tr></thead><tbody>");
    for c in listed {
        let links = Links(&c.campaign);
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            links.campaign(),
            esc(&c.campaign),
            esc(&c.state),
            c.reason.as_deref().map_or(String::new(), |r| format!(" ({})", esc(r))),
            esc(c.preset.as_deref().unwrap_or("custom")),
            c.experiments,
            c.experiments_max.map_or(String::new(), |m| format!(" of {m}")),
            c.best.as_ref().map_or("–".to_owned(), |(a, f)| format!(
                "{} {}",
                num(Some(*f)),
                links.arch_a(a)
            )),
            c.discoveries,
            c.events,
            esc(&c.head),
            esc(&c.updated_at)
        );
    }
    body.push_str("</tbody></table>");
    html::page("campaigns", &[], &body, None)
}
