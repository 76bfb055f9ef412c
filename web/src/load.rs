//! Reading the store for a page, each read bounded in time: a dead or slow store gives the page
//! an error banner, not a hung request.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use lineage_audit::{Listing, Log};
use lineage_events::{
    ArchId, CampaignId, CampaignSummary, EventId, Seq, StoreError, StoredEvent, chain_from,
};
use lineage_replay::CampaignState;

use crate::Dashboard;
use crate::error::WebError;

/// A failed read: damage to what the store holds, or the store's own failure.
trait ReadError: std::fmt::Display {
    /// Whether it is damage ([`StoreError::is_damage`]).
    fn is_damage(&self) -> bool;

    /// What to say after the store's location, which the page already gives.
    fn without_location(&self) -> String {
        self.to_string()
    }
}

impl ReadError for StoreError {
    fn is_damage(&self) -> bool {
        StoreError::is_damage(self)
    }

    fn without_location(&self) -> String {
        match self {
            StoreError::Unavailable { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

impl ReadError for lineage_audit::AuditError {
    fn is_damage(&self) -> bool {
        lineage_audit::AuditError::is_damage(self)
    }

    fn without_location(&self) -> String {
        match self {
            lineage_audit::AuditError::Store(e) => e.without_location(),
            other => other.to_string(),
        }
    }
}

impl ReadError for lineage_events::ChainError {
    fn is_damage(&self) -> bool {
        true
    }
}

/// `work` on the store, or an error once `limit` has passed.
async fn bounded<T, E: ReadError>(
    dashboard: &Dashboard,
    limit: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, WebError> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(failed(dashboard, e)),
        Err(_) => Err(WebError::Store(format!(
            "the event store at {} did not answer within {} s",
            dashboard.store.location(),
            limit.as_secs_f64()
        ))),
    }
}

/// What a failed read `e` tells the page: the damage, or the store's failure.
fn failed(dashboard: &Dashboard, e: impl ReadError) -> WebError {
    match e.is_damage() {
        true => WebError::Damaged(format!("{e} (`lineage verify` says more)")),
        false => WebError::Store(format!(
            "the event store at {} failed: {}",
            dashboard.store.location(),
            e.without_location()
        )),
    }
}

/// Every campaign in the store, oldest first.
pub async fn campaigns(dashboard: &Dashboard) -> Result<Vec<CampaignSummary>, WebError> {
    bounded(dashboard, dashboard.timeout, dashboard.store.campaigns()).await
}

/// The campaign named `name`, known to the store, and the number of events in its log.
pub async fn campaign(dashboard: &Dashboard, name: &str) -> Result<(CampaignId, u64), WebError> {
    let unknown = || WebError::NotFound(format!("no campaign named {name:?} in this store"));
    let campaign = CampaignId::new(name).map_err(|_| unknown())?;
    match bounded(dashboard, dashboard.timeout, dashboard.store.head(&campaign)).await? {
        Some(head) => Ok((campaign, head.next.0)),
        None => Err(unknown()),
    }
}

/// A campaign as the index lists it (`Listing::of_fold`): a damaged log is a row naming its
/// damage, a campaign deleted meanwhile none.
pub async fn listing(dashboard: &Dashboard, summary: &CampaignSummary) -> Result<Option<Listing>, WebError> {
    let fold = lineage_replay::fold_log_to_head(dashboard.store.as_ref(), &summary.campaign, |_| true);
    bounded(dashboard, dashboard.timeout, async { Listing::of_fold(summary, fold.await) }).await
}

/// A campaign's whole log, checked against its hash chain, and its state after event `at`
/// (after the last event when `None`).
pub struct Loaded {
    /// The campaign.
    pub campaign: CampaignId,
    /// Every event, decoded, with its stored body.
    pub log: Log,
    /// The fold of the events up to `at`.
    pub state: CampaignState,
    /// The last event folded into `state`, if any.
    pub at: Option<u64>,
    /// Every event's position by its id (what citations and causes name).
    positions: HashMap<EventId, u64>,
}

impl Loaded {
    /// Events in the log (the slider's range).
    pub fn len(&self) -> u64 {
        self.log.events.len() as u64
    }

    /// The position of the event with this id.
    pub fn seq_of(&self, id: &EventId) -> Option<u64> {
        self.positions.get(id).copied()
    }

    /// Whether `state` is the whole log (the page follows it live).
    pub fn at_head(&self) -> bool {
        self.at.map_or(0, |a| a + 1) == self.len()
    }
}

/// Reads `name`'s log and folds it up to event `at`.
pub async fn log(dashboard: &Dashboard, name: &str, at: Option<u64>) -> Result<Loaded, WebError> {
    let (campaign, _) = campaign(dashboard, name).await?;
    let limit = dashboard.timeout * 4; // a whole log, not one query
    let log = bounded(dashboard, limit, Log::read(dashboard.store.as_ref(), &campaign)).await?;
    let len = log.events.len() as u64;
    let at = match at {
        Some(a) if a >= len => {
            return Err(WebError::BadRequest(format!(
                "campaign {campaign} has events 0 to {}; there is no event {a}",
                len.saturating_sub(1)
            )));
        }
        Some(a) => Some(a),
        None => len.checked_sub(1),
    };
    let upto = at.map_or(0, |a| a as usize + 1);
    let state = CampaignState::from_events(&log.events[..upto])
        .map_err(|e| WebError::Damaged(format!("campaign {campaign}'s log is inconsistent: {e}")))?;
    let positions = log.events.iter().map(|e| (e.id, e.seq.0)).collect();
    Ok(Loaded { campaign, log, state, at, positions })
}

/// Event `seq` exactly as stored, once its body hashes to its stored hash and it links to the
/// event before it: what `lineage events --from SEQ --json` checks before printing it.
pub async fn stored(dashboard: &Dashboard, campaign: &CampaignId, seq: Seq) -> Result<StoredEvent, WebError> {
    let store = dashboard.store.as_ref();
    let read = async {
        Ok::<_, StoreError>((chain_from(store, campaign, seq).await?, store.read(campaign, seq, 1).await?))
    };
    let (mut chain, rows) = bounded(dashboard, dashboard.timeout, read).await?;
    let Some(event) = rows.into_iter().find(|e| e.seq == seq) else {
        return Err(WebError::NotFound(format!("campaign {campaign} has no event {}", seq.0)));
    };
    chain.check(&event).map_err(|e| failed(dashboard, e))?;
    Ok(event)
}

/// `name`'s log, and the architecture `arch` names in it (an id or a unique prefix).
pub async fn arch(dashboard: &Dashboard, name: &str, arch: &str) -> Result<(Loaded, ArchId), WebError> {
    let loaded = log(dashboard, name, None).await?;
    let id = loaded
        .state
        .resolve_arch(arch)
        .map_err(|e| WebError::NotFound(format!("campaign {name}: {e}")))?
        .clone();
    Ok((loaded, id))
}
