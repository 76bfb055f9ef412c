//! A campaign: its status, the time slider, the live sections (leaderboard, discovery curve,
//! family tree, fitness against parameters, budget) and the event feed.

use std::fmt::Write;

use lineage_audit::Summary;
use lineage_replay::CampaignState;

use super::points;
use crate::charts;
use crate::html::{self, Links, count, esc, num};
use crate::live::FeedItem;
use crate::load::Loaded;

/// Events the feed shows when the page loads.
const FEED_LINES: usize = 40;

/// The whole page.
pub fn page(loaded: &Loaded) -> String {
    let name = loaded.campaign.as_str();
    let links = Links(name);
    let mut body = format!("<h1>{}</h1>", esc(name));
    body.push_str(&slider(loaded));
    let _ = write!(body, "<div id=\"sections\">{}</div>", sections(loaded));
    body.push_str("<section><h2>Events</h2><table class=\"feed\"><thead><tr><th>#</th><th>recorded</th><th>type</th><th>actor</th><th>about</th></tr></thead><tbody id=\"feed\">");
    let shown = loaded.at.map_or(0, |a| a as usize + 1);
    for event in loaded.log.events[..shown].iter().rev().take(FEED_LINES) {
        body.push_str(&feed_row(&links, &FeedItem::of(event)));
    }
    body.push_str("</tbody></table></section>");
    let live = loaded.at_head().then(|| (name, loaded.len()));
    html::page(name, &[(name.to_owned(), links.campaign())], &body, live)
}

/// One line of the event feed (also what the page's script builds for a pushed event).
pub fn feed_row(links: &Links, item: &FeedItem) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        links.event_a(item.seq),
        esc(&item.at),
        esc(&item.kind),
        esc(&item.actor),
        item.arch.as_deref().map_or(String::new(), |a| links.arch_a(a))
    )
}

fn status(loaded: &Loaded) -> String {
    let state = &loaded.state;
    let config = state.started.as_ref().map(|s| &s.config);
    let where_ = match (&state.finished, loaded.at_head()) {
        (Some(f), _) => format!("finished ({})", esc(&f.reason)),
        (None, true) => "no end event yet: running, paused or stopped".to_owned(),
        (None, false) => "in progress at this point".to_owned(),
    };
    let head = loaded.log.events.last().map_or("empty".to_owned(), |e| format!("{}:{}", e.seq.0, e.hash));
    format!(
        "<p class=\"status\"><span id=\"state\">{where_}</span> · preset {} · seed {} · head <code>{}</code></p>",
        esc(config.and_then(|c| c.preset.as_deref()).unwrap_or("custom")),
        state.started.as_ref().map_or("–".to_owned(), |s| s.seed.to_string()),
        esc(&head)
    )
}

fn slider(loaded: &Loaded) -> String {
    let last = loaded.len().saturating_sub(1);
    let at = loaded.at.unwrap_or(0);
    let showing = if loaded.at_head() {
        format!("live: after event {at} of {last}")
    } else {
        format!(
            "as it stood after event {at} of {last} · <a href=\"{}\">back to live</a>",
            Links(loaded.campaign.as_str()).campaign()
        )
    };
    format!(
        "<form class=\"slider\" method=\"get\"><label for=\"at\">time</label>\
         <input type=\"range\" id=\"at\" name=\"at\" min=\"0\" max=\"{last}\" value=\"{at}\">\
         <output for=\"at\" id=\"at-value\">{at}</output> <noscript><button>show</button></noscript>\
         <span id=\"showing\">{showing}</span></form>"
    )
}

/// The parts of the page that change with every event: re-rendered on the server and swapped
/// in by the page's script, so the live page and a reload show the same thing.
pub fn sections(loaded: &Loaded) -> String {
    let state = &loaded.state;
    let name = loaded.campaign.as_str();
    let links = Links(name);
    let summary = Summary::of(&loaded.campaign, state);
    let points = points(state, &links);
    let mut out = status(loaded);
    let _ = write!(
        out,
        "<p class=\"counts\"><b id=\"experiments\">{}</b> experiments · <b id=\"events\">{}</b> events · best fitness <b id=\"best\">{}</b> · <b id=\"discoveries\">{}</b> discoveries · state hash <code>{}</code></p>",
        summary.experiments,
        count(summary.events),
        num(state.best().map(|(_, f)| f)),
        summary.discoveries.len(),
        &summary.state_hash[..16]
    );
    out.push_str(&budget(state));
    out.push_str("<section><h2>Leaderboard</h2><table class=\"leaderboard\"><thead><tr><th>rank</th><th>architecture</th><th>fitness</th><th>benchmark</th><th>loss</th><th>parameters</th><th>parent</th><th>proposer</th><th>verification</th></tr></thead><tbody>");
    for row in &summary.leaderboard {
        let verdict = match (row.discovery, &row.test) {
            (Some(true), Some(t)) => format!(
                "<b class=\"yes\">discovery</b> (gain {:.4}, Holm p {:.3})",
                t.gain_mean, t.p_adjusted
            ),
            (Some(true), None) => "<b class=\"yes\">discovery</b>".to_owned(),
            (Some(false), Some(t)) => {
                format!("not a discovery (gain {:.4}, Holm p {:.3})", t.gain_mean, t.p_adjusted)
            }
            (Some(false), None) => "not a discovery".to_owned(),
            (None, _) => String::new(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            row.rank,
            links.arch_a(row.arch),
            row.fitness,
            num(row.benchmark),
            num(row.loss),
            row.params.map_or("–".to_owned(), count),
            row.parent.map_or(String::new(), |p| links.arch_a(p)),
            esc(&row.proposer)
        );
    }
    out.push_str("</tbody></table></section>");
    let _ = write!(
        out,
        "<div class=\"figures\"><section><h2>Discovery curve</h2>{}</section><section><h2>Fitness against parameters</h2>{}</section></div>\
         <section><h2>Family tree</h2><p class=\"hint\">Wheel to zoom, drag to pan; squares are seed baselines, a ring marks a discovery, colour is fitness.</p>{}</section>",
        charts::discovery_curve(&points),
        charts::fitness_against_params(&points),
        charts::family_tree(&points)
    );
    out
}

fn budget(state: &CampaignState) -> String {
    let Some(started) = &state.started else { return String::new() };
    let budget = &started.config.budget;
    let bar = |label: &str, used: f64, max: f64, unit: &str| {
        let share = if max > 0.0 { (used / max).clamp(0.0, 1.0) } else { 0.0 };
        format!(
            "<div class=\"budget\"><span>{label}</span><meter min=\"0\" max=\"1\" value=\"{share:.3}\"></meter><span>{used:.0} of {max:.0} {unit}</span></div>"
        )
    };
    let mut out = String::from("<section><h2>Budget</h2>");
    // The budget in force: raised by `resume --experiments`, if it was.
    let experiments_max = state.experiments_max().unwrap_or(budget.experiments_max);
    out.push_str(&bar("experiments", state.experiments_spent as f64, experiments_max as f64, ""));
    if let Some(max) = budget.compute_s_max {
        out.push_str(&bar("training time", state.compute_ms as f64 / 1000.0, max as f64, "s"));
    }
    if let Some(max) = budget.wall_s_max {
        out.push_str(&bar("wall time", state.wall_ms as f64 / 1000.0, max as f64, "s"));
    }
    out.push_str("</section>");
    out
}
