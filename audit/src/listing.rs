//! A campaign as a list of campaigns shows it — `lineage campaigns` and the dashboard's index —
//! from the store's summary and the fold of its log.

use chrono::{DateTime, Utc};
use lineage_events::CampaignSummary;
use lineage_replay::CampaignState;
use serde::Serialize;

/// Where a campaign stands, as its log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// It recorded its end (`CampaignFinished`).
    Finished,
    /// Its last pause has not been followed by a resume (Ctrl-C, or a budget awaiting a decision).
    Paused,
    /// No end and no pause: running now, or stopped without recording it (killed, crashed) —
    /// the log alone cannot tell which; `lineage resume` continues either.
    Unfinished,
}

impl Standing {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Finished => "finished",
            Standing::Paused => "paused",
            Standing::Unfinished => "unfinished",
        }
    }
}

/// One campaign of a listing.
#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    /// The campaign's id.
    pub campaign: String,
    /// Its name in force (`lineage campaigns rename`), where it differs from the id.
    pub name: Option<String>,
    /// Where it stands.
    pub state: Standing,
    /// Why it finished.
    pub reason: Option<String>,
    /// The preset it was started from, if any.
    pub preset: Option<String>,
    /// Its seed, as a string: JSON numbers above 2^53 lose digits in most readers.
    pub seed: Option<String>,
    /// Experiments started.
    pub experiments: u32,
    /// Its experiment budget.
    pub experiments_max: Option<u32>,
    /// The architecture with the best exploration fitness.
    pub best_arch: Option<String>,
    /// That fitness.
    pub best_fitness: Option<f64>,
    /// Architectures verified as discoveries.
    pub discoveries: usize,
    /// Events in its log.
    pub events: u64,
    /// The position of its last event.
    pub head_seq: Option<u64>,
    /// The hash of its last event, hex.
    pub head_hash: String,
    /// When the store first saw it.
    pub created_at: DateTime<Utc>,
    /// When it last appended.
    pub updated_at: DateTime<Utc>,
}

impl Listing {
    /// The listing of a campaign from the store's summary of it and the fold of its log.
    pub fn of(summary: &CampaignSummary, state: &CampaignState) -> Self {
        let started = state.started.as_ref();
        let standing = if state.finished.is_some() {
            Standing::Finished
        } else if state.pauses > state.resumes {
            Standing::Paused
        } else {
            Standing::Unfinished
        };
        let best = state.best();
        Self {
            campaign: summary.campaign.to_string(),
            name: state.name.clone().filter(|n| n != summary.campaign.as_str()),
            state: standing,
            reason: state.finished.as_ref().map(|f| f.reason.clone()),
            preset: started.and_then(|s| s.config.preset.clone()),
            seed: started.map(|s| s.seed.to_string()),
            experiments: state.experiments_started(),
            experiments_max: state.experiments_max(),
            best_arch: best.map(|(a, _)| a.to_string()),
            best_fitness: best.map(|(_, f)| f),
            discoveries: state.discoveries().len(),
            events: summary.head.next.0,
            head_seq: summary.head.next.0.checked_sub(1),
            head_hash: summary.head.hash.to_hex(),
            created_at: summary.created_at,
            updated_at: summary.updated_at,
        }
    }
}
