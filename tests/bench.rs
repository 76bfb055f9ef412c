//! `lineage bench replay` measures the command a user runs, on the log it wrote: run small, on a
//! kept log, and checked against `lineage replay` of that log. `lineage bench workers` runs real
//! campaigns with and without worker processes: run as small as it goes, on SQLite.

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

/// `lineage bench workers` on a SQLite file, as small as it goes: one campaign trained by its own
/// process and one by a worker process, and a few coordinated jobs.
#[test]
fn the_workers_benchmark_compares_a_campaign_with_and_without_a_worker() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let out = lineage(&url)
        .args(["bench", "workers", "--workers", "0,1", "--experiments", "1", "--repeat", "1", "--jobs", "10"])
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["store_kind"], "sqlite");
    let counts = report["throughput"].as_array().unwrap();
    assert_eq!(counts.iter().map(|c| c["workers"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(counts[0]["ratio_to_anchor"], 1.0);
    let alone = &counts[0]["trials"][0];
    let worked = &counts[1]["trials"][0];
    for trial in [alone, worked] {
        assert_eq!(trial["experiments"], 1, "{report}");
        assert!(trial["wall_s"].as_f64().unwrap() > 0.0, "{report}");
        assert!(trial["runs"].as_u64().unwrap() > 1, "{report}");
    }
    assert_eq!(alone["runs_by_workers"], 0, "{report}");
    assert_eq!(worked["runs_by_workers"], worked["runs"], "the worker trained every run: {report}");
    assert_eq!(worked["worker_reports"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(worked["worker_problems"].as_array().unwrap().len(), 0, "{report}");
    let coordination = &report["coordination"];
    assert_eq!(coordination["jobs"], 10);
    assert!(coordination["conditional_ms_per_job"].as_f64().unwrap() > 0.0, "{report}");
    assert!(coordination["plain_ms_per_job"].as_f64().unwrap() > 0.0, "{report}");
}
