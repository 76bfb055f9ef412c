//! A campaign page's live sections, rendered once per head. When an event lands, every open page
//! of the campaign asks for them at once: the first request renders them, the others wait for it
//! and get the same HTML, so a hundred pages cost the store and the server what one does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use lineage_events::CampaignId;
use tokio::sync::Mutex;

use crate::error::WebError;
use crate::{Dashboard, load, pages};

/// A campaign's last rendering: the event count it was made at, and the HTML; locked while one
/// is being made.
type Slot = Arc<Mutex<Option<(u64, Arc<str>)>>>;

/// The last rendering per campaign.
#[derive(Default)]
pub struct Sections {
    campaigns: DashMap<CampaignId, Slot>,
    renders: AtomicU64,
}

impl Sections {
    /// The live sections of campaign `name` at its current head.
    pub async fn at_head(&self, dashboard: &Dashboard, name: &str) -> Result<Arc<str>, WebError> {
        let (campaign, len) = load::campaign(dashboard, name).await?;
        let slot = self.campaigns.entry(campaign).or_default().clone();
        // A request that waited here while another rendered gets that rendering: it is at least
        // as recent as the head this one read.
        let mut slot = slot.lock().await;
        if let Some((at, html)) = slot.as_ref()
            && *at >= len
        {
            return Ok(html.clone());
        }
        let loaded = load::log(dashboard, name, None).await?;
        let html: Arc<str> = pages::campaign::sections(&loaded).into();
        self.renders.fetch_add(1, Ordering::Relaxed);
        *slot = Some((loaded.len(), html.clone()));
        Ok(html)
    }

    /// Renderings made so far.
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }
}
