//! Reading a stream: events in order from a revision, the last event and the head it gives,
//! and the ids an append overlaps.

use ::kurrentdb::{ReadStreamOptions, StreamPosition};
use bytes::Bytes;
use uuid::Uuid;

use super::mapping::{EventMeta, Phase, event_id, store_error};
use super::{Head, KurrentDbStore, StoreError};
use crate::ids::{EventId, Seq};

/// One event as read, before it is checked.
pub(super) struct Raw {
    pub(super) revision: u64,
    pub(super) id: Uuid,
    pub(super) event_type: String,
    pub(super) data: Bytes,
    pub(super) metadata: Bytes,
}

impl KurrentDbStore {
    /// Up to `limit` events of `stream` from revision `from` on, in order; none if the stream
    /// does not exist.
    pub(super) async fn read_raw(
        &self,
        stream: &str,
        from: u64,
        limit: u64,
        phase: Phase,
    ) -> Result<Vec<Raw>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let options = ReadStreamOptions::default()
            .position(StreamPosition::Position(from))
            .max_count(usize::try_from(limit).unwrap_or(usize::MAX));
        self.collect(stream, &options, phase).await
    }

    /// The last event of `stream`, if any.
    async fn read_last(&self, stream: &str) -> Result<Option<Raw>, StoreError> {
        let options = ReadStreamOptions::default().position(StreamPosition::End).max_count(1);
        Ok(self.collect(stream, &options, Phase::Established).await?.pop())
    }

    async fn collect(
        &self,
        stream: &str,
        options: &ReadStreamOptions,
        phase: Phase,
    ) -> Result<Vec<Raw>, StoreError> {
        let error = |e| store_error(&self.location, phase, e);
        let mut read = match self.client.read_stream(stream, options).await {
            Ok(read) => read,
            Err(::kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(e) => return Err(error(e)),
        };
        let mut events = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => {
                    let Some(event) = resolved.event else {
                        return Err(StoreError::Corrupt {
                            location: self.location.clone(),
                            message: format!("stream {stream} holds a link to a missing event"),
                        });
                    };
                    events.push(Raw {
                        revision: event.revision,
                        id: event.id,
                        event_type: event.event_type,
                        data: event.data,
                        metadata: event.custom_metadata,
                    });
                }
                Ok(None) => return Ok(events),
                Err(::kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
                Err(::kurrentdb::Error::ResourceDeleted) => {
                    return Err(StoreError::Corrupt {
                        location: self.location.clone(),
                        message: format!("stream {stream} was deleted (tombstoned); its events are gone"),
                    });
                }
                Err(e) => return Err(error(e)),
            }
        }
    }

    /// The head of `stream` and its last event's metadata.
    pub(super) async fn head_of(&self, stream: &str) -> Result<Option<(Head, EventMeta)>, StoreError> {
        let Some(last) = self.read_last(stream).await? else { return Ok(None) };
        let meta = EventMeta::decode(&last.metadata, &self.location, stream, last.revision)?;
        Ok(Some((Head { next: Seq(last.revision + 1), hash: meta.hash }, meta)))
    }

    /// The ids at positions `expected..min(head, expected + count)`: what [`plan_append`]
    /// compares a retried batch with.
    ///
    /// [`plan_append`]: crate::store::plan_append
    pub(super) async fn overlapping_ids(
        &self,
        stream: &str,
        expected: Seq,
        head: Head,
        count: usize,
    ) -> Result<Vec<EventId>, StoreError> {
        if expected >= head.next {
            return Ok(Vec::new());
        }
        let end = head.next.0.min(expected.0 + count as u64);
        let events = self.read_raw(stream, expected.0, end - expected.0, Phase::Established).await?;
        let dense = events.len() as u64 == end - expected.0
            && events.iter().zip(expected.0..).all(|(e, revision)| e.revision == revision);
        if !dense {
            return Err(StoreError::Corrupt {
                location: self.location.clone(),
                message: format!(
                    "stream {stream}: events {}..{end} are not all there (was the stream truncated or \
                     deleted?)",
                    expected.0
                ),
            });
        }
        Ok(events.iter().map(|e| event_id(e.id)).collect())
    }
}
