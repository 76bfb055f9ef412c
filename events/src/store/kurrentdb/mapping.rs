//! The pure mapping between lineage and KurrentDB: positions and expected revisions, event ids
//! and UUIDs, rows to events and events back (with the hash chain in the metadata), and client
//! errors to [`StoreError`]s.

use ::kurrentdb::{CurrentRevision, EventData, GrpcConnectionError, StreamState};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Row, SCHEMA_VERSION, StoreError};
use crate::envelope::StoredEvent;
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};

/// The expected revision of a stream whose next event is `next`: `NoStream` for an empty
/// campaign, the revision of the last event otherwise.
pub(super) fn expected_state(next: Seq) -> StreamState {
    match next.0 {
        0 => StreamState::NoStream,
        n => StreamState::StreamRevision(n - 1),
    }
}

/// The position of the next event of a stream at `current`.
pub(super) fn next_seq(current: CurrentRevision) -> Seq {
    match current {
        CurrentRevision::NoStream => Seq(0),
        CurrentRevision::Current(revision) => Seq(revision + 1),
    }
}

/// The UUID of an event: its 16 bytes, unchanged.
pub(super) fn event_uuid(id: EventId) -> Uuid {
    Uuid::from_bytes(*id.as_bytes())
}

/// The event id a UUID carries (the inverse of [`event_uuid`]).
pub(super) fn event_id(uuid: Uuid) -> EventId {
    uuid.simple().to_string().parse().expect("32 hex digits are an event id")
}

/// The id of the index entry recording `campaign`: derived, so that a writer retrying the entry
/// sends the same id (the server de-duplicates it on a best-effort basis; readers keep the
/// first entry anyway).
pub(super) fn index_entry_uuid(campaign: &CampaignId) -> Uuid {
    event_uuid(EventId::derive(campaign, "kurrentdb/campaign-indexed"))
}

/// The custom metadata of every lineage event in KurrentDB: its place in the hash chain, stored
/// so that a read from the middle of a log needs no earlier event, and verification compares the
/// chain with the bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct EventMeta {
    /// The store schema version that wrote the event.
    pub(super) lineage: u32,
    /// Hash of the previous event.
    pub(super) prev_hash: Hash,
    /// `SHA-256(prev_hash || body)`.
    pub(super) hash: Hash,
    /// When it was appended (the writer's clock, as the SQL stores record it).
    pub(super) appended_at: String,
}

impl EventMeta {
    pub(super) fn of(row: &Row, appended_at: &str) -> Self {
        Self {
            lineage: SCHEMA_VERSION,
            prev_hash: row.prev_hash,
            hash: row.hash,
            appended_at: appended_at.to_owned(),
        }
    }

    pub(super) fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("metadata always serialises"))
    }

    pub(super) fn decode(
        bytes: &[u8],
        location: &str,
        stream: &str,
        revision: u64,
    ) -> Result<Self, StoreError> {
        let meta: Self = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            location: location.to_owned(),
            message: format!("event {revision} of stream {stream}: its metadata is not lineage's ({e})"),
        })?;
        if meta.lineage > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                location: location.to_owned(),
                found: meta.lineage,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(meta)
    }
}

/// The event a lineage row becomes: the body as binary data (never re-serialised), the event's
/// id as UUID, the chain in the metadata.
pub(super) fn event_data(row: Row, appended_at: &str) -> EventData {
    let meta = EventMeta::of(&row, appended_at).encode();
    EventData::binary(&row.type_name, Bytes::from(row.body.into_bytes()))
        .id(event_uuid(row.id))
        .metadata(meta)
}

/// A stored event from what the server returned for event `revision` of `stream`.
pub(super) fn stored_event(
    revision: u64,
    id: Uuid,
    data: &[u8],
    metadata: &[u8],
    location: &str,
    stream: &str,
) -> Result<StoredEvent, StoreError> {
    let meta = EventMeta::decode(metadata, location, stream, revision)?;
    let body = String::from_utf8(data.to_vec()).map_err(|_| StoreError::Corrupt {
        location: location.to_owned(),
        message: format!("event {revision} of stream {stream}: its data is not UTF-8 text"),
    })?;
    Ok(StoredEvent { seq: Seq(revision), id: event_id(id), prev_hash: meta.prev_hash, hash: meta.hash, body })
}

/// Whether an error happened while opening the store or on an established one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Opening: an unreachable server is [`StoreError::Unavailable`].
    Connect,
    /// Established: a broken connection is [`StoreError::ConnectionLost`].
    Established,
}

/// The gRPC code and message of a `ServerError`, whose text is tonic's `Status` display:
/// `status: Unavailable, message: "…", details: …`.
pub(super) fn status_parts(text: &str) -> (&str, &str) {
    let code = text.strip_prefix("status: ").and_then(|t| t.split(',').next()).unwrap_or("");
    let message = text
        .split_once("message: \"")
        .and_then(|(_, t)| t.split_once("\", details:"))
        .map_or(text, |(message, _)| message);
    (code, message)
}

/// Whether a gRPC message with code `Unknown` is the transport failing (tonic reports a refused
/// or reset connection so) rather than the server.
fn transport_failure(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["transport error", "client error", "connect", "broken pipe", "h2 protocol error"]
        .iter()
        .any(|sign| message.contains(sign))
}

/// The store error for a client error. [`::kurrentdb::Error::WrongExpectedVersion`] only reaches
/// this outside an append (the append maps it to [`StoreError::Conflict`] itself).
pub(super) fn store_error(location: &str, phase: Phase, error: ::kurrentdb::Error) -> StoreError {
    use ::kurrentdb::Error as E;
    let location = location.to_owned();
    let broken = |message: String| match phase {
        Phase::Connect => StoreError::Unavailable { location: location.clone(), message },
        Phase::Established => StoreError::ConnectionLost { location: location.clone(), message },
    };
    let backend = |message: String| StoreError::Backend { location: location.clone(), message };
    match error {
        E::GrpcConnectionError(GrpcConnectionError::Grpc(text)) => {
            let (code, message) = status_parts(&text);
            broken(if code.is_empty() { text.clone() } else { format!("{code}: {message}") })
        }
        E::GrpcConnectionError(GrpcConnectionError::MaxDiscoveryAttemptReached(attempts)) => {
            broken(format!("no node answered in {attempts} discovery attempts"))
        }
        E::ConnectionClosed => broken("the connection was closed".into()),
        E::DeadlineExceeded => broken("the server did not answer in time (deadline exceeded)".into()),
        E::ServerError(text) => {
            let (code, message) = status_parts(&text);
            if code == "Unavailable" || (code == "Unknown" && transport_failure(message)) {
                broken(format!("{code}: {message}"))
            } else {
                backend(format!("server error {code}: {message}"))
            }
        }
        E::Grpc { code: tonic::Code::Unavailable, message } => broken(format!("Unavailable: {message}")),
        E::Grpc { code, message } => backend(format!("gRPC {code:?}: {message}")),
        E::AccessDenied => backend(
            "access denied: the server refused this user (check the user and password in the URL, \
             and the streams' access control lists)"
                .into(),
        ),
        E::NotLeaderException(leader) => StoreError::Unavailable {
            location: location.clone(),
            message: format!(
                "this node is not the leader (the leader is {}:{}); retry, or connect with \
                 nodePreference=leader",
                leader.host, leader.port
            ),
        },
        E::ResourceDeleted => StoreError::Corrupt {
            location: location.clone(),
            message: "a lineage stream was deleted (tombstoned) on the server; its events are gone".into(),
        },
        E::UnsupportedFeature => backend(
            "the server does not support this operation: KurrentDB, or EventStoreDB 20.6.1 or newer, \
             is needed"
                .into(),
        ),
        E::WrongExpectedVersion { expected, current } => {
            backend(format!("unexpected stream revision: expected {expected}, found {current}"))
        }
        other => backend(other.to_string()),
    }
}

/// The error of an append the server refused: a `WrongExpectedVersion` is a
/// [`StoreError::Conflict`] (the caller decides what to do with it after re-reading); a batch
/// over the server's maximum append size is [`StoreError::InvalidAppend`]; anything else as
/// [`store_error`] says.
pub(super) fn append_error(
    location: &str,
    campaign: &CampaignId,
    expected: Seq,
    error: ::kurrentdb::Error,
) -> StoreError {
    match error {
        ::kurrentdb::Error::WrongExpectedVersion { current, .. } => conflict(campaign, expected, current),
        ::kurrentdb::Error::Grpc { code: tonic::Code::InvalidArgument, message }
            if message.to_ascii_lowercase().contains("maximum append size") =>
        {
            StoreError::InvalidAppend {
                campaign: campaign.clone(),
                reason: format!(
                    "the server refused the batch: {message} Raise the server's MaxAppendSize \
                     (see docs/kurrentdb.md) or append fewer events at once"
                ),
            }
        }
        other => store_error(location, Phase::Established, other),
    }
}

/// A `WrongExpectedVersion` as a conflict: the writer expected to append at `expected`, the
/// stream was at `current`.
fn conflict(campaign: &CampaignId, expected: Seq, current: CurrentRevision) -> StoreError {
    StoreError::Conflict {
        campaign: campaign.clone(),
        expected,
        actual: next_seq(current),
        detail: " (another writer appended first)".into(),
    }
}
