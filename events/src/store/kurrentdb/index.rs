//! The campaign index stream: its first event (the store marker with the schema version),
//! written or checked when the store opens, and an entry per campaign, written before the
//! campaign's first event.

use ::kurrentdb::{AppendToStreamOptions, EventData, StreamState};
use serde::{Deserialize, Serialize};

use super::mapping::{Phase, index_entry_uuid, store_error};
use super::read::Raw;
use super::{Access, KurrentDbStore, SCHEMA_VERSION, StoreError, now_text};
use crate::ids::CampaignId;

/// Event type of the index stream's first event.
const STORE_CREATED: &str = "StoreCreated";

/// Event type of an index entry: a campaign was created.
pub(super) const CAMPAIGN_INDEXED: &str = "CampaignIndexed";

/// The data of the index stream's first event.
#[derive(Debug, Serialize, Deserialize)]
struct StoreMarker {
    schema_version: u32,
}

/// The data of an index entry.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IndexEntry {
    pub(super) campaign: String,
    pub(super) created_at: String,
}

impl KurrentDbStore {
    /// Checks the campaign index's first event, writing it first if this is a writer and the
    /// server holds no lineage store yet. This is the first operation: its errors are
    /// [`Phase::Connect`] errors.
    pub(super) async fn open_index(&self) -> Result<(), StoreError> {
        let index = self.streams.index();
        loop {
            let first = self.read_raw(&index, 0, 1, Phase::Connect).await?;
            if let Some(first) = first.first() {
                return self.check_marker(first);
            }
            if self.access == Access::ReadOnly {
                return Err(StoreError::Missing { location: self.location.clone() });
            }
            let marker = StoreMarker { schema_version: SCHEMA_VERSION };
            let event = EventData::json(STORE_CREATED, &marker).expect("the marker always serialises");
            let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
            match self.client.append_to_stream(index.as_str(), &options, event).await {
                Ok(_) => return Ok(()),
                // Another writer created it first: check theirs.
                Err(::kurrentdb::Error::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(store_error(&self.location, Phase::Connect, e)),
            }
        }
    }

    /// The index stream's first event must be lineage's marker, of a schema this build knows.
    fn check_marker(&self, first: &Raw) -> Result<(), StoreError> {
        let foreign = |reason: String| StoreError::Foreign { location: self.location.clone(), reason };
        let index = self.streams.index();
        if first.revision != 0 || first.event_type != STORE_CREATED {
            return Err(foreign(format!(
                "stream {index} exists, but its first event is {:?} (event {}), not lineage's \
                 {STORE_CREATED}",
                first.event_type, first.revision
            )));
        }
        let marker: StoreMarker = serde_json::from_slice(&first.data).map_err(|e| {
            foreign(format!("stream {index} starts with a {STORE_CREATED} event lineage cannot read ({e})"))
        })?;
        if marker.schema_version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                location: self.location.clone(),
                found: marker.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// Records `campaign` in the index (before its first event).
    pub(super) async fn index_campaign(&self, campaign: &CampaignId) -> Result<(), StoreError> {
        let entry = IndexEntry { campaign: campaign.to_string(), created_at: now_text() };
        let event = EventData::json(CAMPAIGN_INDEXED, &entry)
            .expect("an index entry always serialises")
            .id(index_entry_uuid(campaign));
        self.client
            .append_to_stream(self.streams.index(), &AppendToStreamOptions::default(), event)
            .await
            .map_err(|e| store_error(&self.location, Phase::Established, e))?;
        Ok(())
    }
}
