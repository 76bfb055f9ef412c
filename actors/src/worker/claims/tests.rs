//! Claims, holds and lapsed leases, given states built from events.

use std::time::{Duration, Instant};

use lineage_events::payload::Stage;

use super::*;
use crate::testkit::{Log, run, smoke};

/// The smoke preset with `deltanet`'s exploration run and two verification runs scheduled.
fn world() -> Log {
    let mut w = Log::started(&smoke(), 1);
    w.baseline("deltanet");
    w.scheduled("deltanet-x", "deltanet", Stage::Exploration, 7);
    w.scheduled("deltanet-v1", "deltanet", Stage::Verification, 8);
    w.scheduled("deltanet-v0", "deltanet", Stage::Verification, 9);
    w
}

fn ids(runs: Vec<&RunId>) -> Vec<&str> {
    runs.into_iter().map(|r| r.as_str()).collect()
}

#[test]
fn exploration_is_claimed_first_then_verification_in_id_order() {
    let w = world();
    assert_eq!(ids(claimable(&w.state)), ["deltanet-x", "deltanet-v0", "deltanet-v1"]);
}

#[test]
fn a_run_held_by_a_worker_or_the_campaign_is_not_claimable_until_its_lease_expires() {
    let mut w = world();
    w.claimed("deltanet-x", 0, "w1", 30_000);
    w.run_started("deltanet-v0", 0);
    assert_eq!(ids(claimable(&w.state)), ["deltanet-v1"]);
    assert!(holds(&w.state, &run("deltanet-x"), 0, "w1"));
    assert!(!holds(&w.state, &run("deltanet-x"), 0, "w2"), "another worker's");
    assert!(!holds(&w.state, &run("deltanet-v0"), 0, "trainer-0"), "a campaign trainer holds no lease");

    w.lease_expired("deltanet-x", 0);
    assert!(!holds(&w.state, &run("deltanet-x"), 0, "w1"), "an expired start holds nothing");
    assert_eq!(ids(claimable(&w.state)), ["deltanet-x", "deltanet-v1"]);
    w.claimed("deltanet-x", 1, "w2", 30_000);
    assert!(holds(&w.state, &run("deltanet-x"), 1, "w2"));
    assert!(!holds(&w.state, &run("deltanet-x"), 0, "w1"), "the old start stays lost");
}

#[test]
fn a_lease_lapses_only_after_its_holder_is_silent_longer_than_it() {
    let mut w = world();
    w.claimed("deltanet-x", 0, "w1", 1_000);
    w.claimed("deltanet-v0", 0, "w2", 60_000);
    let t0 = Instant::now();
    let at = |ms| t0 + Duration::from_millis(ms);
    assert!(lapsed(&w.state, at(1_000), |_| t0, |_| false).is_empty(), "exactly the lease is not over it");
    let over = lapsed(&w.state, at(1_001), |_| t0, |_| false);
    assert_eq!(over.len(), 1);
    assert_eq!((over[0].run.as_str(), over[0].start, over[0].worker.as_str()), ("deltanet-x", 0, "w1"));
    assert_eq!((over[0].lease_ms, over[0].silent_ms), (1_000, 1_001));
    assert_eq!(expiry_key(&over[0]), "expire/deltanet-x/0");
    // Seen alive since: not lapsed; its own claims an observer leaves out.
    assert!(lapsed(&w.state, at(1_500), |_| at(600), |_| false).is_empty());
    assert!(lapsed(&w.state, at(5_000), |_| t0, |r| r.as_str() == "deltanet-x").is_empty());
}

#[test]
fn nothing_is_claimable_in_a_finished_campaign_or_after_a_result() {
    let mut w = world();
    w.claimed("deltanet-x", 0, "w1", 30_000);
    w.trained_by_claim("deltanet-x");
    assert!(!claimable(&w.state).iter().any(|r| r.as_str() == "deltanet-x"));
    assert!(!holds(&w.state, &run("deltanet-x"), 0, "w1"), "a run with a result is held by no one");
}
