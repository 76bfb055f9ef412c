//! A campaign as a list of campaigns shows it — `lineage campaigns` and the dashboard's index —
//! from the store's summary and the fold of its log.

use chrono::{DateTime, Utc};
use lineage_events::{CampaignSummary, StoreError};
use lineage_replay::{CampaignState, Folded};
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
    /// Its log cannot be read as a campaign (a broken chain, an undecodable event, a head that
    /// disagrees with the events): what it records is unknown, [`Listing::damage`] says why.
    Damaged,
}

impl Standing {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Finished => "finished",
            Standing::Paused => "paused",
            Standing::Unfinished => "unfinished",
            Standing::Damaged => "damaged",
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
    /// Experiments started (`None` when damaged: unknown).
    pub experiments: Option<u32>,
    /// Its experiment budget.
    pub experiments_max: Option<u32>,
    /// The architecture with the best exploration fitness.
    pub best_arch: Option<String>,
    /// That fitness.
    pub best_fitness: Option<f64>,
    /// Architectures verified as discoveries (`None` when damaged: unknown).
    pub discoveries: Option<usize>,
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
    /// Why its log cannot be read, when it is [`Standing::Damaged`]; `lineage verify` says more.
    /// Only a damaged campaign's JSON has the key, so a healthy one's reads as it always has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damage: Option<String>,
}

impl Listing {
    /// The listing of a campaign from the store's summary of it and the result of folding its
    /// log to its head. A damaged log ([`StoreError::is_damage`]) is listed as
    /// [`Standing::Damaged`], so that one campaign's damage hides neither itself nor the
    /// others; a campaign deleted since the summary was read is `None`; a store that fails is
    /// the error.
    pub fn of_fold(
        summary: &CampaignSummary,
        folded: Result<Folded, StoreError>,
    ) -> Result<Option<Self>, StoreError> {
        match folded {
            Ok(folded) => Ok(Some(Self::of(summary, &folded.state))),
            Err(StoreError::UnknownCampaign(_)) => Ok(None),
            Err(e) if e.is_damage() => {
                let mut listing = Self::of(summary, &CampaignState::default());
                listing.state = Standing::Damaged;
                (listing.experiments, listing.discoveries) = (None, None);
                listing.damage = Some(e.to_string());
                Ok(Some(listing))
            }
            Err(e) => Err(e),
        }
    }

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
            experiments: Some(state.experiments_started()),
            experiments_max: state.experiments_max(),
            best_arch: best.map(|(a, _)| a.to_string()),
            best_fitness: best.map(|(_, f)| f),
            discoveries: Some(state.discoveries().len()),
            events: summary.head.next.0,
            head_seq: summary.head.next.0.checked_sub(1),
            head_hash: summary.head.hash.to_hex(),
            created_at: summary.created_at,
            updated_at: summary.updated_at,
            damage: None,
        }
    }

    /// Experiments started, with the budget where there is one: `12 of 16`, `12`, or `-`.
    pub fn experiments_shown(&self) -> String {
        match (self.experiments, self.experiments_max) {
            (None, _) => "-".to_owned(),
            (Some(n), Some(max)) => format!("{n} of {max}"),
            (Some(n), None) => n.to_string(),
        }
    }
}
