//! The index: every campaign in the store with its state, experiments, best fitness,
//! discoveries and head.

use std::fmt::Write;

use lineage_audit::Listing;

use crate::html::{self, Links, esc, num};

/// The index page.
pub fn page(listed: &[Listing], store: &str) -> String {
    let mut body = format!("<h1>Campaigns</h1><p class=\"status\">{} in {}</p>", listed.len(), esc(store));
    if listed.is_empty() {
        body.push_str("<p>No campaign yet: start one with <code>lineage run</code>.</p>");
    }
    body.push_str("<table class=\"campaigns\"><thead><tr><th>campaign</th><th>state</th><th>preset</th><th>experiments</th><th>best fitness</th><th>discoveries</th><th>events</th><th>head</th><th>last event</th></tr></thead><tbody>");
    for c in listed {
        let links = Links(&c.campaign);
        let head = c.head_seq.map_or("empty".to_owned(), |s| format!("{s}:{}", c.head_hash));
        let best = match (&c.best_arch, c.best_fitness) {
            (Some(arch), Some(fitness)) => format!("{} {}", num(Some(fitness)), links.arch_a(arch)),
            _ => "–".to_owned(),
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}{}</td><td>{}</td><td>{}</td><td>{best}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            links.campaign(),
            esc(&c.campaign),
            c.state.as_str(),
            c.reason.as_ref().or(c.damage.as_ref()).map_or(String::new(), |r| format!(" ({})", esc(r))),
            esc(c.preset.as_deref().unwrap_or(if c.damage.is_some() { "–" } else { "custom" })),
            c.experiments_shown(),
            c.discoveries.map_or("–".to_owned(), |n| n.to_string()),
            c.events,
            esc(&head),
            c.updated_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    body.push_str("</tbody></table>");
    html::page("campaigns", &[], &body, None)
}
