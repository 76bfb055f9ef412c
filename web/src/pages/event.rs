//! An event: its JSON exactly as stored, its place in the hash chain, the event it reacts to,
//! and the events that react to it or cite it.

use std::fmt::Write;

use lineage_events::payload::DecodedPayload;

use crate::html::{self, Links, esc};
use crate::load::Loaded;

/// The page of event `seq` (in range).
pub fn page(loaded: &Loaded, seq: u64) -> String {
    let name = loaded.campaign.as_str();
    let links = Links(name);
    let event = &loaded.log.events[seq as usize];
    let state = &loaded.state;
    let kind = html::event_type(event);
    let mut body = format!("<h1>#{seq} {}</h1>", esc(kind));
    let _ = write!(
        body,
        "<table class=\"facts\"><tbody><tr><th>recorded</th><td>{}</td></tr><tr><th>actor</th><td>{}/{} (version {})</td></tr>\
         <tr><th>id</th><td><code>{}</code></td></tr><tr><th>hash</th><td><code>{}</code></td></tr><tr><th>previous hash</th><td><code>{}</code>{}</td></tr>",
        esc(&event.recorded_at.to_rfc3339()),
        esc(&event.actor.kind),
        esc(&event.actor.name),
        esc(&event.actor.version),
        esc(&event.id.to_string()),
        event.hash,
        event.prev_hash,
        seq.checked_sub(1).map_or(String::new(), |p| format!(" ({})", links.event_a(p)))
    );
    if let Some(arch) = &event.correlation
        && state.archs.contains_key(arch)
    {
        let _ = write!(body, "<tr><th>about</th><td>{}</td></tr>", links.arch_a(arch.as_str()));
    }
    if let Some(cause) = &event.causation {
        let cause = loaded
            .seq_of(cause)
            .map_or_else(|| format!("<code>{}</code>", esc(&cause.to_string())), |s| links.event_a(s));
        let _ = write!(body, "<tr><th>caused by</th><td>{cause}</td></tr>");
    }
    // Events after this one that react to it or cite it as evidence.
    let id = event.id.to_string();
    let cited: Vec<String> = loaded.log.events[seq as usize + 1..]
        .iter()
        .zip(&loaded.log.bodies[seq as usize + 1..])
        .filter(|(later, body)| {
            later.causation.as_ref().is_some_and(|c| c == &event.id)
                || matches!(&later.payload, DecodedPayload::Known(_)) && mentions(&body["payload"], &id)
        })
        .map(|(later, _)| format!("{} {}", links.event_a(later.seq.0), esc(html::event_type(later))))
        .collect();
    if !cited.is_empty() {
        let _ = write!(body, "<tr><th>cited by</th><td>{}</td></tr>", cited.join(", "));
    }
    body.push_str("</tbody></table>");
    let stored = serde_json::to_string_pretty(&loaded.log.bodies[seq as usize]).unwrap_or_default();
    let _ = write!(
        body,
        "<section><h2>As stored</h2><p class=\"hint\">Pretty-printed; the hash is over the exact stored text (<a href=\"/api/campaigns/{}/events/{seq}\">raw</a>).</p><pre class=\"json\">{}</pre></section>",
        html::seg(name),
        esc(&stored)
    );
    let trail = [(name.to_owned(), links.campaign()), (format!("#{seq}"), links.event(seq))];
    html::page(&format!("#{seq} · {name}"), &trail, &body, None)
}

/// Whether a JSON value holds the string `id` anywhere (evidence lists, citations).
fn mentions(value: &serde_json::Value, id: &str) -> bool {
    match value {
        serde_json::Value::String(s) => s == id,
        serde_json::Value::Array(items) => items.iter().any(|v| mentions(v, id)),
        serde_json::Value::Object(map) => map.values().any(|v| mentions(v, id)),
        _ => false,
    }
}
