//! `lineage anchor`: a compact statement of where a verified campaign's log stands — its head,
//! state hash and last signature — to publish; `lineage verify --head` later proves the log
//! still extends it. The statement is `lineage_audit::Anchor`'s.

use std::sync::Arc;

use lineage_audit::Anchor;
use lineage_events::EventStore;

pub async fn run(store: Arc<dyn EventStore>, campaign: &str, json: bool) -> anyhow::Result<()> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let anchor = Anchor::of(store.as_ref(), &campaign).await?;
    if json {
        return crate::output::print(&serde_json::to_string_pretty(&anchor)?);
    }
    crate::output::print(&anchor.text())
}
