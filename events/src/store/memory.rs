//! The in-memory reference store: the simplest correct implementation of [`EventStore`], for
//! tests of the layers above and as the model the other stores are checked against.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{
    Appended, CampaignSummary, EventStore, Head, StoreError, head_after, now_text, parse_time, plan_append,
};
use crate::envelope::{NewEvent, StoredEvent};
use crate::ids::{CampaignId, Seq};

struct Campaign {
    events: Vec<StoredEvent>,
    created_at: String,
    updated_at: String,
    order: u64,
}

/// A store that lives in this process only (`memory://`). Nothing survives the process.
pub struct MemoryStore {
    campaigns: Mutex<BTreeMap<CampaignId, Campaign>>,
    changes: watch::Sender<u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self { campaigns: Mutex::new(BTreeMap::new()), changes: watch::Sender::new(0) }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

fn head_of(events: &[StoredEvent]) -> Head {
    events.last().map_or(Head::EMPTY, |e| Head { next: e.seq.next(), hash: e.hash })
}

#[async_trait]
impl EventStore for MemoryStore {
    fn location(&self) -> String {
        "memory://".into()
    }

    async fn append(
        &self,
        campaign: &CampaignId,
        expected: Seq,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let appended = {
            let mut campaigns = self.campaigns.lock().expect("memory store lock");
            // After every campaign there is (one deleted leaves a gap, never a tie).
            let count = campaigns.values().map(|c| c.order + 1).max().unwrap_or(0);
            let entry = campaigns.get(campaign);
            let stored = entry.map_or(&[][..], |c| &c.events[..]);
            let head = head_of(stored);
            let overlap_end = (head.next.0).min(expected.0 + events.len() as u64);
            let existing: Vec<_> = stored
                .get(expected.0 as usize..overlap_end.max(expected.0) as usize)
                .unwrap_or(&[])
                .iter()
                .map(|e| e.id)
                .collect();
            let (rows, already_present) =
                plan_append("memory://", campaign, expected, head, &existing, &events)?;
            let new_head = head_after(head, &rows);
            let now = now_text();
            let entry = campaigns.entry(campaign.clone()).or_insert_with(|| Campaign {
                events: Vec::new(),
                created_at: now.clone(),
                updated_at: now.clone(),
                order: count,
            });
            entry.updated_at = now;
            entry.events.extend(rows.into_iter().map(|r| StoredEvent {
                seq: r.seq,
                id: r.id,
                prev_hash: r.prev_hash,
                hash: r.hash,
                body: r.body,
            }));
            Appended { first: expected, head: new_head, already_present }
        };
        self.changes.send_modify(|n| *n += 1);
        Ok(appended)
    }

    async fn read(
        &self,
        campaign: &CampaignId,
        from: Seq,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let campaigns = self.campaigns.lock().expect("memory store lock");
        let Some(entry) = campaigns.get(campaign) else { return Ok(Vec::new()) };
        let start = (from.0 as usize).min(entry.events.len());
        let end = start.saturating_add(limit as usize).min(entry.events.len());
        Ok(entry.events[start..end].to_vec())
    }

    async fn head(&self, campaign: &CampaignId) -> Result<Option<Head>, StoreError> {
        let campaigns = self.campaigns.lock().expect("memory store lock");
        Ok(campaigns.get(campaign).map(|c| head_of(&c.events)))
    }

    async fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let campaigns = self.campaigns.lock().expect("memory store lock");
        let mut list: Vec<_> = campaigns.iter().collect();
        list.sort_by_key(|(_, c)| c.order);
        list.into_iter()
            .map(|(id, c)| {
                Ok(CampaignSummary {
                    campaign: id.clone(),
                    head: head_of(&c.events),
                    created_at: parse_time(&c.created_at, "memory://")?,
                    updated_at: parse_time(&c.updated_at, "memory://")?,
                })
            })
            .collect()
    }

    async fn delete_campaign(&self, campaign: &CampaignId) -> Result<u64, StoreError> {
        let removed = self.campaigns.lock().expect("memory store lock").remove(campaign);
        let removed = removed.ok_or_else(|| StoreError::UnknownCampaign(campaign.clone()))?;
        self.changes.send_modify(|n| *n += 1);
        Ok(removed.events.len() as u64)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
