//! `lineage bench replay` measures the command a user runs, on the log it wrote: run small, on a
//! kept log, and checked against `lineage replay` of that log.

mod support;

use support::lineage;

#[test]
fn the_replay_benchmark_times_the_replay_command_on_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("bench.db");
    let out = lineage("memory://")
        .args(["bench", "replay", "--events", "3000", "--json", "--keep"])
        .arg(&kept)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events"], 3000);
    assert_eq!(report["architectures"], 200, "15 events an experiment");
    let runs = report["command_s"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|s| s.as_f64().unwrap() > 0.0), "{report}");
    let steal = report["command_steal_s"].as_array().unwrap();
    assert_eq!(steal.len(), 3);
    assert!(steal.iter().all(|s| s.is_null() || s.as_f64().unwrap() >= 0.0), "{report}");

    // The log it kept replays, as a command of its own, to the state the benchmark folded.
    let url = format!("sqlite://{}", kept.display());
    let out = lineage(&url).args(["replay", "bench-replay", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["events"], 3000);
    assert_eq!(replayed["state_hash"], report["state_hash"]);
}
