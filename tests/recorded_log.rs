//! A campaign recorded by an earlier build stays readable, verifiable and replayable.
//!
//! `tests/fixtures/recorded-v1/` holds a smoke campaign (seed 7, the smoke preset with the
//! softmax-attention reference added by `config.toml`, so a check that allowed quadratic cost is
//! in it) written by the build before the orchestrator became a planner and the audit views left
//! the CLI, and what that build printed for it (`golden/`). Recorded campaigns are persisted
//! data: every later build must verify the log, replay it to the state hash recorded in its
//! `CampaignFinished`, and print the same audit views. A change that alters one of these outputs
//! on purpose (a documented upcaster, a new verify check) refreshes the golden file in the same
//! commit and says why; the state hash never changes.

mod support;

use std::path::PathBuf;

use support::lineage;
use tempfile::TempDir;

const CAMPAIGN: &str = "recorded-v1";
/// The state hash the live run printed and recorded in its `CampaignFinished` event.
const STATE_HASH: &str = "a99a77493a0b5de2e072130caf0174c3ebd2c5541ddb91ca6aafbe10a4933651";
/// The head of the recorded log: 259 events ending in this hash.
const HEAD_HASH: &str = "c2c9c0463bc566f0aa9db677597321a7b43cc6604580beb97c0b6e95f10c94ac";

fn fixture() -> PathBuf {
    support::repo().join("tests/fixtures/recorded-v1")
}

/// A copy of the recorded database in a temporary directory: SQLite may create its WAL files
/// beside a database it opens, and the fixture itself must never change.
fn store() -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    std::fs::copy(fixture().join("lineage.db"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

fn output(store: &str, args: &[&str]) -> String {
    let out = lineage(store).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "lineage {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(fixture().join("golden").join(name)).unwrap()
}

#[test]
fn recorded_log_verifies_and_replays_to_its_recorded_state_hash() {
    let (_dir, store) = store();
    let verify = output(&store, &["verify", CAMPAIGN]);
    assert!(verify.contains(&format!("259 events, head {HEAD_HASH}")), "{verify}");
    assert!(verify.contains(&format!("state hash {STATE_HASH} (recorded {STATE_HASH})")), "{verify}");
    assert!(!verify.contains("FAIL"), "{verify}");

    // Training is part of the record too: the recorded exploration run of the best candidate
    // trains again, on this build, to the metrics the earlier build recorded (bit for bit on the
    // same backend and thread count, within verify's stated tolerance on another).
    let reproduced = output(&store, &["verify", CAMPAIGN, "--reproduce", "e0001"]);
    assert!(
        reproduced.lines().any(|l| l.starts_with("ok   reproduce") && l.contains("e0001")),
        "{reproduced}"
    );
    assert!(!reproduced.contains("FAIL"), "{reproduced}");

    let replay: serde_json::Value =
        serde_json::from_str(&output(&store, &["replay", CAMPAIGN, "--json"])).unwrap();
    assert_eq!(replay["state_hash"], STATE_HASH, "{replay}");
}

#[test]
fn recorded_log_prints_the_audit_views_it_printed_when_recorded() {
    let (_dir, store) = store();
    let cases: &[(&[&str], &str)] = &[
        (&["replay", CAMPAIGN], "replay.txt"),
        (&["replay", CAMPAIGN, "--json"], "replay.json"),
        (&["replay", CAMPAIGN, "--until", "120", "--json"], "replay-until-120.json"),
        (
            &["replay", CAMPAIGN, "--fitness", "loss=0,bench=1,judge=0", "--policy", "parents=1-2"],
            "counterfactual.txt",
        ),
        // The counterfactual's JSON: the weights, the re-ranking and where it diverges.
        (&["replay", CAMPAIGN, "--fitness", "loss=0,bench=1,judge=0", "--json"], "counterfactual.json"),
        (&["provenance", CAMPAIGN, "e0001", "--format", "text"], "provenance-e0001.text"),
        (&["provenance", CAMPAIGN, "e0001", "--format", "json"], "provenance-e0001.json"),
        (&["provenance", CAMPAIGN, "e0001", "--format", "dot"], "provenance-e0001.dot"),
        (&["provenance", CAMPAIGN, "e0001", "--format", "prov"], "provenance-e0001.prov"),
        (&["verify", CAMPAIGN], "verify.txt"),
        (&["export", CAMPAIGN, "--format", "csv"], "export.csv"),
        (&["export", CAMPAIGN, "--format", "jsonl"], "export.jsonl"),
        (&["campaigns", "--json"], "campaigns.json"),
    ];
    let mut differ = Vec::new();
    for (args, name) in cases {
        if output(&store, args) != golden(name) {
            differ.push(format!("lineage {} (golden/{name})", args.join(" ")));
        }
    }
    assert!(differ.is_empty(), "output changed for a recorded log:\n{}", differ.join("\n"));

    // `events --arch` names an architecture as every command does: by its id, or the start of
    // only one.
    let about = output(&store, &["events", CAMPAIGN, "--arch", "deltanet", "--json"]);
    assert!(about.lines().count() >= 5, "{about}");
    assert_eq!(output(&store, &["events", CAMPAIGN, "--arch", "delta", "--json"]), about);
}
