//! The pure mapping between lineage and KurrentDB, without a server: positions and expected
//! revisions, ids and UUIDs, the stored metadata, errors and URLs.

use std::time::Duration;

use ::kurrentdb::{Credentials, CurrentRevision, Endpoint, Error, GrpcConnectionError, StreamState};
use tonic::{Code, Status};
use uuid::Uuid;

use super::mapping::{
    EventMeta, Phase, append_error, event_data, event_id, event_uuid, expected_state, index_entry_uuid,
    next_seq, status_parts, store_error, stored_event,
};
use super::url::{SCHEMES, describe, parse_target, password, redact};
use super::{CONNECT_TIMEOUT_S, KurrentDbStore, SCHEMA_VERSION};
use crate::chain::ChainVerifier;
use crate::envelope::{ActorRef, NewEvent, StoredEvent};
use crate::hash::Hash;
use crate::ids::{CampaignId, EventId, Seq};
use crate::store::{Access, Head, StoreError, head_after, now_text, plan_append};
use crate::synthetic;

const LOCATION: &str = "kurrentdb://admin@localhost:2113";

fn campaign() -> CampaignId {
    CampaignId::new("demo").unwrap()
}

fn events(n: u64) -> Vec<NewEvent> {
    synthetic::Events::new(campaign(), ActorRef::new("test", "w")).batch(n)
}

/// The revision a server reports after a successful append that expected `state`.
fn current_after(state: StreamState, appended: u64) -> CurrentRevision {
    match state {
        StreamState::NoStream => CurrentRevision::Current(appended - 1),
        StreamState::StreamRevision(r) => CurrentRevision::Current(r + appended),
        other => panic!("lineage never appends with {other:?}"),
    }
}

#[test]
fn an_empty_campaign_expects_no_stream_and_a_head_at_n_expects_revision_n_minus_1() {
    assert_eq!(expected_state(Seq(0)), StreamState::NoStream);
    assert_eq!(expected_state(Seq(1)), StreamState::StreamRevision(0));
    assert_eq!(expected_state(Seq(42)), StreamState::StreamRevision(41));
    assert_eq!(next_seq(CurrentRevision::NoStream), Seq(0));
    assert_eq!(next_seq(CurrentRevision::Current(0)), Seq(1));
    assert_eq!(next_seq(CurrentRevision::Current(41)), Seq(42));
    // Appending k events at head n leaves the stream at revision n + k - 1: the next head.
    for n in [0, 1, 2, 999] {
        for k in [1, 3] {
            assert_eq!(next_seq(current_after(expected_state(Seq(n)), k)), Seq(n + k));
        }
    }
}

#[test]
fn event_ids_are_the_uuids_bytes_both_ways() {
    for id in [EventId::derive(&campaign(), "propose/1"), EventId::random()] {
        let uuid = event_uuid(id);
        assert_eq!(uuid.as_bytes(), id.as_bytes());
        assert_eq!(uuid.simple().to_string(), id.to_string());
        assert_eq!(event_id(uuid), id);
        // The client reads ids back as the server's text form of the UUID.
        assert_eq!(event_id(uuid.hyphenated().to_string().parse().unwrap()), id);
        // It sends them as two big-endian 64-bit halves.
        let bits = uuid.as_u128();
        let (high, low) = ((bits >> 64) as u64, bits as u64);
        let mut wire = [0u8; 16];
        wire[..8].copy_from_slice(&high.to_be_bytes());
        wire[8..].copy_from_slice(&low.to_be_bytes());
        assert_eq!(event_id(Uuid::from_bytes(wire)), id);
    }
    let c = campaign();
    assert_eq!(index_entry_uuid(&c), index_entry_uuid(&c), "a retried index entry has the same id");
    assert_ne!(index_entry_uuid(&c), index_entry_uuid(&CampaignId::new("other").unwrap()));
}

#[test]
fn metadata_round_trips_and_foreign_or_newer_metadata_is_named() {
    let meta = EventMeta {
        lineage: SCHEMA_VERSION,
        prev_hash: Hash::GENESIS,
        hash: Hash::chain(&Hash::GENESIS, b"body"),
        appended_at: "2026-01-02T03:04:05.123456Z".into(),
    };
    let bytes = meta.encode();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with(r#"{"lineage":1,"prev_hash":"0000"#), "{text}");
    assert_eq!(EventMeta::decode(&bytes, LOCATION, "lineage-demo", 7).unwrap(), meta);

    let err = EventMeta::decode(b"{}", LOCATION, "lineage-demo", 7).unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("event 7 of stream lineage-demo"), "{err}");
    let err = EventMeta::decode(b"", LOCATION, "lineage-demo", 0).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");

    let newer = EventMeta { lineage: SCHEMA_VERSION + 1, ..meta };
    let err = EventMeta::decode(&newer.encode(), LOCATION, "lineage-demo", 0).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found: 2, supported: 1, .. }), "{err}");
}

/// What `plan_append` computes goes to the server as data, id and metadata, and comes back
/// as the same stored events: the chain verifies and the head matches.
#[test]
fn planned_rows_come_back_as_the_same_chained_events() {
    let c = campaign();
    let batch = events(12);
    let (rows, already) = plan_append("test", &c, Seq(0), Head::EMPTY, &[], &batch).unwrap();
    assert_eq!(already, 0);
    let head = head_after(Head::EMPTY, &rows);
    let expected: Vec<StoredEvent> = rows
        .iter()
        .map(|r| StoredEvent {
            seq: r.seq,
            id: r.id,
            prev_hash: r.prev_hash,
            hash: r.hash,
            body: r.body.clone(),
        })
        .collect();
    let appended_at = now_text();
    let mut verifier = ChainVerifier::new(c.clone());
    for (revision, row) in rows.into_iter().enumerate() {
        let wire =
            (event_uuid(row.id), row.body.clone().into_bytes(), EventMeta::of(&row, &appended_at).encode());
        let debug = format!("{:?}", event_data(row, &appended_at));
        assert!(debug.contains("application/octet-stream"), "the body is sent as binary: {debug}");
        let stored =
            stored_event(revision as u64, wire.0, &wire.1, &wire.2, LOCATION, "lineage-demo").unwrap();
        assert_eq!(stored, expected[revision]);
        verifier.check(&stored).unwrap();
    }
    verifier.finish(head.next, head.hash).unwrap();

    let err = stored_event(3, Uuid::nil(), &[0xff, 0xfe], &[], LOCATION, "lineage-demo").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn wrong_expected_version_is_a_conflict_with_the_writers_position_and_the_streams() {
    let c = campaign();
    let wev = |expected, current| Error::WrongExpectedVersion { expected, current };
    let err =
        append_error(LOCATION, &c, Seq(5), wev(StreamState::StreamRevision(4), CurrentRevision::Current(7)));
    assert!(matches!(err, StoreError::Conflict { expected: Seq(5), actual: Seq(8), .. }), "{err}");
    assert!(err.to_string().contains("expected to append at seq 5, but the log holds 8 events"), "{err}");
    let err = append_error(LOCATION, &c, Seq(0), wev(StreamState::NoStream, CurrentRevision::Current(0)));
    assert!(matches!(err, StoreError::Conflict { expected: Seq(0), actual: Seq(1), .. }), "{err}");
    let err =
        append_error(LOCATION, &c, Seq(3), wev(StreamState::StreamRevision(2), CurrentRevision::NoStream));
    assert!(matches!(err, StoreError::Conflict { expected: Seq(3), actual: Seq(0), .. }), "{err}");
}

#[test]
fn a_batch_over_the_servers_append_size_is_an_invalid_append() {
    let status = Status::invalid_argument("Maximum Append Size of 1048576 Exceeded.");
    let err = append_error(LOCATION, &campaign(), Seq(0), Error::from_grpc(status));
    assert!(matches!(&err, StoreError::InvalidAppend { .. }), "{err}");
    assert!(err.to_string().contains("Maximum Append Size of 1048576 Exceeded."), "{err}");
    assert!(err.to_string().contains("MaxAppendSize"), "{err}");
    // Any other invalid argument is the server's own message.
    let err = append_error(LOCATION, &campaign(), Seq(0), Error::from_grpc(Status::invalid_argument("bad")));
    assert!(matches!(&err, StoreError::Backend { message, .. } if message.contains("bad")), "{err}");
}

#[test]
fn a_broken_connection_is_unavailable_when_opening_and_lost_once_established() {
    let broken = [
        Error::from_grpc(Status::unavailable("error trying to connect: tcp connect error")),
        Error::from_grpc(Status::unknown("transport error")),
        Error::from_grpc(Status::unknown("client error (Connect)")),
        Error::from_grpc(Status::deadline_exceeded("")),
        Error::from_grpc(Status::cancelled("Timeout expired")),
        Error::GrpcConnectionError(GrpcConnectionError::MaxDiscoveryAttemptReached(3)),
        Error::GrpcConnectionError(GrpcConnectionError::Grpc("connection refused".into())),
        Error::ConnectionClosed,
    ];
    for error in broken {
        let text = error.to_string();
        let opening = store_error(LOCATION, Phase::Connect, error.clone());
        assert!(
            matches!(&opening, StoreError::Unavailable { location, .. } if location == LOCATION),
            "{text}: {opening}"
        );
        assert!(opening.to_string().starts_with(&format!("cannot reach {LOCATION}: ")), "{opening}");
        let lost = store_error(LOCATION, Phase::Established, error);
        assert!(
            matches!(&lost, StoreError::ConnectionLost { location, .. } if location == LOCATION),
            "{text}: {lost}"
        );
        assert!(
            lost.to_string().starts_with(&format!("lost the connection to the event store {LOCATION} ("))
        );
        assert!(!lost.to_string().contains('\n'), "one line: {lost}");
        assert!(!lost.to_string().contains("MetadataMap"), "the message, not tonic's dump: {lost}");
    }
}

#[test]
fn other_server_errors_are_classified() {
    let classify = |error| store_error(LOCATION, Phase::Established, error);
    for status in [Status::permission_denied("no"), Status::unauthenticated("who")] {
        let err = classify(Error::from_grpc(status));
        assert!(
            matches!(&err, StoreError::Backend { message, .. } if message.starts_with("access denied")),
            "{err}"
        );
    }
    let err = classify(Error::from_grpc(Status::internal("disk full")));
    let expected = "server error Internal: disk full";
    assert!(matches!(&err, StoreError::Backend { message, .. } if message == expected), "{err}");
    let err = classify(Error::from_grpc(Status::new(Code::ResourceExhausted, "slow down")));
    let expected = "gRPC ResourceExhausted: slow down";
    assert!(matches!(&err, StoreError::Backend { message, .. } if message == expected), "{err}");
    let err = classify(Error::from_grpc(Status::unimplemented("")));
    assert!(
        matches!(&err, StoreError::Backend { message, .. } if message.contains("20.6.1 or newer")),
        "{err}"
    );
    let err = classify(Error::ResourceDeleted);
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let err = classify(Error::NotLeaderException(Endpoint { host: "node2".into(), port: 2113 }));
    assert!(
        matches!(&err, StoreError::Unavailable { message, .. } if message.contains("node2:2113")),
        "{err}"
    );
    let err = classify(Error::WrongExpectedVersion {
        expected: StreamState::NoStream,
        current: CurrentRevision::Current(0),
    });
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
}

#[test]
fn status_text_is_split_into_code_and_message() {
    let text = Status::unavailable("tcp connect error, refused").to_string();
    assert_eq!(status_parts(&text), ("Unavailable", "tcp connect error, refused"));
    assert_eq!(status_parts("odd"), ("", "odd"));
}

#[test]
fn urls_name_the_server_the_user_and_the_stream_prefix() {
    let target = parse_target("kurrentdb://admin:changeit@localhost:2113?tls=false").unwrap();
    assert_eq!(target.location, LOCATION);
    assert_eq!(target.settings.hosts(), &vec![Endpoint { host: "localhost".into(), port: 2113 }]);
    assert!(!target.settings.is_secure_mode_enabled());
    assert_eq!(target.settings.default_authenticated_user(), &Some(Credentials::new("admin", "changeit")));
    assert_eq!(target.streams.campaign(&campaign()), "lineage-demo");
    assert_eq!(target.streams.index(), "lineage_campaigns");
    assert_eq!(target.streams.campaign_prefix(), "lineage-");

    let prefixed =
        parse_target("kurrentdb://admin:changeit@localhost:2113?streamPrefix=test_7.a&tls=false").unwrap();
    assert_eq!(prefixed.settings, target.settings, "the prefix is lineage's, not the client's");
    assert_eq!(prefixed.location, "kurrentdb://admin@localhost:2113?streamPrefix=test_7.a");
    assert_eq!(prefixed.streams.campaign(&campaign()), "test_7.a-demo");
    assert_eq!(prefixed.streams.index(), "test_7.a_campaigns");
    assert!(!prefixed.streams.index().contains('-'), "the index is outside every campaign namespace");

    let esdb = parse_target("esdb://localhost:2113?tls=false").unwrap();
    assert_eq!(esdb.location, "esdb://localhost:2113");
    assert!(esdb.settings.default_authenticated_user().is_none());
    let discover = parse_target("esdb+discover://admin:pw@cluster.example.com:2113").unwrap();
    assert!(discover.settings.is_dns_discovery_enabled());
    assert!(discover.settings.is_secure_mode_enabled(), "TLS unless tls=false");
    assert_eq!(discover.location, "esdb+discover://admin@cluster.example.com:2113");
    let seeds = parse_target("kurrentdb://admin:pw@h1:2113,h2:2114,h3?tls=false").unwrap();
    assert_eq!(seeds.settings.hosts().len(), 3);
    assert_eq!(seeds.location, "kurrentdb://admin@h1:2113,h2:2114,h3");
    assert!(
        parse_target("kurrentdb+discover://dns.example.com").unwrap().settings.is_dns_discovery_enabled()
    );
}

#[test]
fn a_bad_url_is_one_clear_error_naming_it_without_its_password() {
    let cases = [
        ("kurrentdb://admin:s3cret@localhost:notaport", "not a valid URL"),
        ("kurrentdb://admin:s3cret@localhost:2113?tls=maybe", "tls"),
        ("kurrentdb://admin:s3cret@localhost:2113?nodePreference=nearest", "nearest"),
        ("kurrentdb://admin:s3cret@localhost:2113/lineage", "Unsupported URL path"),
        ("kurrentdb://admin:s3cret@localhost:2113?streamPrefix=has-dash", "streamPrefix"),
        ("kurrentdb://admin:s3cret@localhost:2113?streamPrefix=", "streamPrefix"),
        ("kurrentdb://admin:s3cret@localhost:2113?streamPrefix=a&streamprefix=b", "twice"),
        ("kurrentdb://admin:s3cret@localhost:2113#x", "fragment"),
        ("kurrentdb://admin:s3cret@h1:2113,h2:x", "s"),
        ("kurrentdb://", "kurrentdb://"),
        ("kdb://admin:s3cret@localhost:2113", "unknown scheme \"kdb\""),
        ("admin:s3cret@localhost:2113", "expected kurrentdb://"),
    ];
    for (url, needle) in cases {
        let err = match parse_target(url) {
            Ok(target) => panic!("{url} was accepted: {target:?}"),
            Err(err) => err,
        };
        let text = err.to_string();
        assert!(matches!(err, StoreError::InvalidUrl { .. }), "{url}: {text}");
        assert!(text.contains(needle), "{url}: expected {needle:?} in {text}");
        assert!(!text.contains("s3cret"), "{url}: the password leaked: {text}");
        assert!(!text.contains('\n'), "{url}: one line: {text}");
        if url.contains("@localhost:2113") {
            assert!(text.contains("admin:***@localhost"), "{url}: the URL is named: {text}");
        }
    }
}

#[test]
fn redaction_hides_only_the_password() {
    assert_eq!(redact("kurrentdb://a:b@h:1?tls=false"), "kurrentdb://a:***@h:1?tls=false");
    assert_eq!(redact("kurrentdb://a@h:1"), "kurrentdb://a@h:1");
    assert_eq!(redact("kurrentdb://h:1/p@x"), "kurrentdb://h:1/p@x");
    assert_eq!(redact("esdb://a:b:c@h1,h2"), "esdb://a:***@h1,h2");
    assert_eq!(redact("not a url"), "not a url");
    assert_eq!(redact("a:b@h:1"), "a:***@h:1");
    assert_eq!(password("kurrentdb://a:b@h:1?x=y@z"), Some("b"));
    assert_eq!(password("kurrentdb://a:@h:1"), None);
    assert_eq!(password("kurrentdb://a@h:1"), None);
    assert_eq!(describe("kurrentdb://a:b@h:1?tls=false", "lineage"), "kurrentdb://a@h:1");
}

/// Opening a server that is not there fails quickly and names the store (nothing listens on
/// port 1 of the loopback interface). No server is needed.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_naming_the_store() {
    for url in ["kurrentdb://admin:s3cret@127.0.0.1:1?tls=false", "esdb://127.0.0.1:1?tls=false"] {
        for access in [Access::ReadWrite, Access::ReadOnly] {
            let started = std::time::Instant::now();
            let err = match KurrentDbStore::connect_with(url, access).await {
                Ok(_) => panic!("connected to {url}"),
                Err(err) => err,
            };
            let text = err.to_string();
            assert!(matches!(err, StoreError::Unavailable { .. }), "{url}: {text}");
            assert!(
                text.starts_with("cannot reach kurrentdb://admin@127.0.0.1:1: ")
                    || text.starts_with("cannot reach esdb://127.0.0.1:1: "),
                "{text}"
            );
            assert!(!text.contains("s3cret"), "{text}");
            assert!(!text.contains("MetadataMap"), "{text}");
            assert!(
                started.elapsed() < Duration::from_secs(CONNECT_TIMEOUT_S + 2),
                "{:?}",
                started.elapsed()
            );
        }
    }
}

#[tokio::test]
async fn open_store_dispatches_the_schemes_here() {
    for scheme in SCHEMES {
        let url = format!("{scheme}://admin:s3cret@localhost:2113?streamPrefix=no-dash");
        let err = match super::super::open_store(&url).await {
            Ok(_) => panic!("{url} was accepted"),
            Err(err) => err,
        };
        assert!(matches!(err, StoreError::InvalidUrl { .. }), "{url}: {err}");
        assert!(err.to_string().contains("streamPrefix"), "{url}: parsed by this store: {err}");
    }
}
