//! Campaigns end to end through the real binary on a real SQLite file: the `smoke` preset (two
//! trainers, two runs in flight) runs to the end, the same seed gives the same decisions and
//! state hash whichever run finishes first — and with one run in flight, the same decisions in
//! the same order — and a campaign killed (SIGKILL) at several points — and paused once with
//! Ctrl-C and once with SIGTERM (exiting 130 and 143) — and resumed each time finishes with no
//! duplicated and no lost work, in the same final state as an uninterrupted run.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lineage_events::{CampaignId, EventStore, SqliteStore, verify_campaign};
use serde_json::Value;
use support::lineage;
use tempfile::TempDir;

/// A seed whose smoke campaign proposes an exact duplicate (checked below, so a change to the
/// proposer that loses it fails loudly here rather than passing vacuously).
const SEED: &str = "11";

/// Campaigns run one at a time: the "too slow" sanity stop compares a run's wall time with its
/// peers', so campaigns competing for the same two cores could make the repeat runs differ.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn store(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("lineage.db").display())
}

fn run_smoke(store: &str, name: &str) -> Value {
    run_smoke_with(store, name, &[])
}

fn run_smoke_with(store: &str, name: &str, extra: &[&str]) -> Value {
    let out = lineage(store)
        .args(["run", "--preset", "smoke", "--seed", SEED, "--name", name, "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn events(store: &str, campaign: &str) -> Vec<Value> {
    let out = lineage(store).args(["events", campaign, "--json"]).output().unwrap();
    assert!(out.status.success(), "events failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

async fn chain_is_valid(store: &str, campaign: &str) {
    let path = store.strip_prefix("sqlite://").unwrap();
    let store = SqliteStore::open(std::path::Path::new(path)).await.unwrap();
    let campaign = CampaignId::new(campaign).unwrap();
    let head = verify_campaign(&store, &campaign).await.expect("the hash chain verifies");
    assert_eq!(head, store.head(&campaign).await.unwrap().unwrap());
}

/// An event as a decision: its type and payload without what depends on the clock, the
/// machine, the campaign id (event ids, which derive from it) or which of the campaign's
/// trainers happened to be free.
fn decision(event: &Value) -> Value {
    fn clean(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| {
                        let clocked = ["time", "wall", "per_s", "_ms"].iter().any(|w| k.contains(w));
                        let varying = ["host", "evidence", "cites", "trainer"].contains(&k.as_str());
                        !clocked && !varying
                    })
                    .map(|(k, v)| (k.clone(), clean(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(clean).collect()),
            // Motivations cite event ids in brackets.
            Value::String(s) => Value::String(
                s.split('[')
                    .map(
                        |part| {
                            if part.len() > 32 && part.as_bytes()[32] == b']' { &part[32..] } else { part }
                        },
                    )
                    .collect::<Vec<_>>()
                    .join("["),
            ),
            other => other.clone(),
        }
    }
    let mut payload = clean(&event["payload"]);
    if event["type"] == "CampaignStarted" {
        payload["name"] = Value::Null; // the two runs differ only in their names
    }
    serde_json::json!({ "type": event["type"], "payload": payload })
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_campaign_runs_end_to_end_and_repeats_exactly() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let first = run_smoke(&store, "smoke-a");
    assert_eq!(first["finished"], true);
    let log = events(&store, "smoke-a");
    chain_is_valid(&store, "smoke-a").await;

    // Baselines trained, scored and in the leaderboard.
    let trained: BTreeSet<String> = of_type(&log, "TrainingFinished")
        .iter()
        .map(|e| e["payload"]["arch"].as_str().unwrap().to_owned())
        .collect();
    for baseline in ["deltanet", "linear_attention", "gated_deltanet", "short_conv"] {
        assert!(trained.contains(baseline), "baseline {baseline} was not trained");
    }
    // A proposed architecture trained, analysed and scored, and on the printed leaderboard.
    let proposed: Vec<&str> = of_type(&log, "ArchitectureProposed")
        .iter()
        .filter(|e| e["payload"]["proposer"]["kind"] == "built_in")
        .map(|e| e["payload"]["arch"].as_str().unwrap())
        .collect();
    let scored: Vec<&str> =
        of_type(&log, "FitnessAssigned").iter().map(|e| e["payload"]["arch"].as_str().unwrap()).collect();
    let analysed: Vec<&str> =
        of_type(&log, "AnalysisRecorded").iter().map(|e| e["payload"]["arch"].as_str().unwrap()).collect();
    let new_and_scored: Vec<&&str> =
        proposed.iter().filter(|a| scored.contains(a) && analysed.contains(a)).collect();
    assert!(!new_and_scored.is_empty(), "no proposed architecture was trained, analysed and scored");
    let board = first["leaderboard"].as_array().unwrap();
    assert!(board.iter().any(|r| r["proposer"] != "baseline"), "the leaderboard has only baselines");
    assert!(board.len() >= 5);
    // At least one proposal was rejected or repaired, with its reason recorded.
    let rejected = of_type(&log, "NoveltyJudged")
        .into_iter()
        .filter(|e| e["payload"]["verdict"] != "novel")
        .inspect(|e| {
            assert!(e["payload"]["nearest"].is_string(), "a rejection names the nearest architecture")
        })
        .count();
    let repaired = of_type(&log, "RepairAttempted")
        .into_iter()
        .inspect(|e| assert!(!e["payload"]["diagnosis"].as_str().unwrap().is_empty()))
        .count();
    assert!(rejected + repaired > 0, "nothing was rejected or repaired");
    // Every proposal cites its selection; the selection records the draw and the pool.
    for p in of_type(&log, "ArchitectureProposed").iter().filter(|e| e["payload"]["parent"].is_string()) {
        assert!(!p["payload"]["evidence"].as_array().unwrap().is_empty());
        assert!(p["payload"]["draw"]["values"].is_array());
    }
    assert!(!of_type(&log, "ParentSelected")[0]["payload"]["draw"]["values"].as_array().unwrap().is_empty());
    // The finish event carries the state hash the command printed.
    let finished = of_type(&log, "CampaignFinished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["payload"]["state_hash"], first["state_hash"]);

    // Determinism: the same seed and config decide the same things, with two runs in flight on
    // two trainers, whichever finishes first: the same decisions (in an
    // order that may differ) and the same state hash.
    let started = &of_type(&log, "CampaignStarted")[0]["payload"]["config"];
    assert_eq!((started["trainers"].as_u64(), started["parallel"].as_u64()), (Some(2), None));
    let trainers: BTreeSet<&str> =
        of_type(&log, "TrainingStarted").iter().map(|e| e["payload"]["trainer"].as_str().unwrap()).collect();
    assert_eq!(trainers, BTreeSet::from(["trainer-0", "trainer-1"]), "both trainers trained");
    // Each on its share of the machine's threads (one each on two cores), the count recorded.
    let threads: BTreeSet<u64> =
        of_type(&log, "TrainingFinished").iter().map(|e| e["payload"]["threads"].as_u64().unwrap()).collect();
    let cores = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap().get() as u64);
    assert_eq!(threads, BTreeSet::from([(cores / 2).max(1)]), "every run on its trainer's threads");
    let second = run_smoke(&store, "smoke-b");
    assert_eq!(first["state_hash"], second["state_hash"], "same seed, different final state");
    let again = events(&store, "smoke-b");
    let sorted = |events: &[Value]| {
        let mut decisions: Vec<String> = events.iter().map(|e| decision(e).to_string()).collect();
        decisions.sort();
        decisions
    };
    let (a, b) = (sorted(&log), sorted(&again));
    assert_eq!(a.len(), b.len(), "different number of events");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "a decision differs");
    }
    // What the order of results could change is in the same order: proposals, analyses (with
    // their fitness and edit statistics) and accounts each follow the experiments' numbers,
    // whatever finished first.
    for kinds in [
        &["ArchitectureProposed"][..],
        &["AnalysisRecorded", "FitnessAssigned", "InsightRecorded"],
        &["BudgetSpent"],
    ] {
        let in_order = |events: &[Value]| -> Vec<Value> {
            events.iter().filter(|e| kinds.contains(&e["type"].as_str().unwrap())).map(decision).collect()
        };
        assert_eq!(in_order(&log), in_order(&again), "{kinds:?} in another order");
    }

    // What cannot be done with a finished campaign says so, and changes nothing.
    let events_before = log.len();
    for (args, expected) in [
        (vec!["resume", "smoke-a"], "already finished"),
        (vec!["run", "--preset", "smoke", "--name", "smoke-a"], "already exists"),
        (vec!["resume", "nope"], "unknown campaign"),
    ] {
        let out = lineage(&store).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.trim_end().lines().count() == 1, "{args:?}: {stderr}");
    }
    assert_eq!(events(&store, "smoke-a").len(), events_before);

    replay_and_verify(&dir, &store, &first, &log);
    exports(&store, &log);
    plots(&dir, &store, &first);
    provenance_of_the_best(&store, &first, &log);
}

/// With one run in flight, a campaign is one sequence: two runs of a seed record the same
/// decisions in the same order, event for event.
#[tokio::test(flavor = "multi_thread")]
async fn one_run_in_flight_repeats_event_for_event() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let one = ["--trainers", "1", "--parallel", "1"];
    let first = run_smoke_with(&store, "one-a", &one);
    let second = run_smoke_with(&store, "one-b", &one);
    assert_eq!(first["state_hash"], second["state_hash"], "same seed, different final state");
    let (log, again) = (events(&store, "one-a"), events(&store, "one-b"));
    let (a, b): (Vec<Value>, Vec<Value>) =
        (log.iter().map(decision).collect(), again.iter().map(decision).collect());
    assert_eq!(a.len(), b.len(), "different number of events");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "event {i} differs");
    }
}

/// `plot` writes the four figures as PNG and SVG (or the formats asked for); the SVGs carry the
/// campaign's own labels, the tree its colour bar and key.
fn plots(dir: &TempDir, store: &str, live: &Value) {
    let out_dir = dir.path().join("figures");
    let out = lineage(store).args(["plot", "smoke-a", "--out"]).arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names = ["discovery-experiments", "discovery-compute", "family-tree", "fitness-params"];
    for name in names {
        let png = std::fs::read(out_dir.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{name}.png");
        let svg = std::fs::read_to_string(out_dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{name}.svg");
    }
    let tree = std::fs::read_to_string(out_dir.join("family-tree.svg")).unwrap();
    // Every scored baseline is named in the tree; the scatter names the same baselines.
    let scatter = std::fs::read_to_string(out_dir.join("fitness-params.svg")).unwrap();
    let baselines: Vec<&str> = live["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["proposer"] == "baseline")
        .map(|r| r["arch"].as_str().unwrap())
        .collect();
    assert!(!baselines.is_empty());
    for baseline in baselines {
        assert!(tree.contains(baseline) && scatter.contains(baseline), "{baseline} missing from the figures");
    }
    // A small tree names every proposed architecture; the tree has a colour bar and a key
    // (hollow markers explained); the experiment axis has no negative or fractional labels.
    for arch in live["leaderboard"].as_array().unwrap().iter().filter(|r| r["proposer"] != "baseline") {
        assert!(tree.contains(arch["arch"].as_str().unwrap()), "{arch} unlabelled in the tree");
    }
    // (plotters writes each text on a line of its own.)
    let texts = |svg: &str| -> Vec<String> { svg.lines().map(|l| l.trim().to_owned()).collect() };
    let tree_texts = texts(&tree);
    assert!(tree_texts.contains(&"fitness".to_owned()), "no colour bar");
    assert!(tree.contains("never scored"), "no key for the hollow markers");
    let discovery = std::fs::read_to_string(out_dir.join("discovery-experiments.svg")).unwrap();
    // (Fitness is at most 1: a label of 1.5 or 2.5 is a fractional experiment.)
    for labels in [tree_texts, texts(&discovery)] {
        assert!(!labels.iter().any(|t| ["-1", "-2", "1.5", "2.5"].contains(&t.as_str())), "{labels:?}");
    }
    // Only the formats asked for.
    let svg_only = dir.path().join("svg-only");
    let out =
        lineage(store).args(["plot", "smoke-a", "--format", "svg", "--out"]).arg(&svg_only).output().unwrap();
    assert!(out.status.success());
    let written: Vec<String> = std::fs::read_dir(&svg_only)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 4);
    assert!(written.iter().all(|f| f.ends_with(".svg")), "{written:?}");
    let out = lineage(store).args(["plot", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end().lines().count(), 1);
}

/// `export` gives one row per proposed architecture, as CSV and as JSON lines, agreeing.
fn exports(store: &str, log: &[Value]) {
    let proposed = of_type(log, "ArchitectureProposed").len();
    let csv_out = lineage(store).args(["export", "smoke-a", "--format", "csv"]).output().unwrap();
    assert!(csv_out.status.success());
    let mut reader = csv::Reader::from_reader(&csv_out.stdout[..]);
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), proposed);
    assert_eq!(&header[0], "arch");
    let jsonl = lineage(store).args(["export", "smoke-a", "--format", "jsonl"]).output().unwrap();
    let objects: Vec<Value> =
        String::from_utf8(jsonl.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objects.len(), proposed);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (fitness_column, program_column, gain_column) =
        (column("fitness"), column("program"), column("verification_gain"));
    let mut verified = 0;
    for (row, object) in rows.iter().zip(&objects) {
        assert_eq!(object["arch"], &row[0]);
        match object["fitness"].as_f64() {
            Some(f) => assert_eq!(row[fitness_column].parse::<f64>().unwrap(), f),
            None => assert_eq!(&row[fitness_column], ""),
        }
        // The program in force, in full, in both formats.
        assert!(row[program_column].lines().count() > 1, "not a program: {:?}", &row[program_column]);
        assert_eq!(object["program"], &row[program_column]);
        // The per-seed gains are the ones the verdict's mean is of.
        let gains: Vec<f64> =
            object["verification_gain"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
        let csv_gains: Vec<f64> =
            row[gain_column].split(';').filter(|g| !g.is_empty()).map(|g| g.parse().unwrap()).collect();
        assert_eq!(gains, csv_gains);
        if let Some(mean) = object["gain_mean"].as_f64() {
            verified += 1;
            assert_eq!(object["verification_seeds"].as_array().unwrap().len(), gains.len());
            assert!(
                (gains.iter().sum::<f64>() / gains.len() as f64 - mean).abs() < 1e-9,
                "{gains:?} against {mean}"
            );
        }
    }
    assert!(verified > 0, "the smoke campaign verified nothing");
}

/// The provenance of the best proposed architecture reaches a seed baseline, contains every
/// event the log has about it, renders as DOT that Graphviz accepts and as PROV-JSON with
/// entities, activities and agents; ids resolve by unique prefix.
fn provenance_of_the_best(store: &str, live: &Value, log: &[Value]) {
    let best = live["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["proposer"] != "baseline")
        .map(|r| r["arch"].as_str().unwrap().to_owned())
        .unwrap();
    let run = |args: &[&str]| {
        let out = lineage(store).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let json: Value =
        serde_json::from_slice(&run(&["provenance", "smoke-a", &best, "--format", "json"])).unwrap();
    let chain = json["lineage"].as_array().unwrap();
    assert!(chain[0]["parent"].is_null(), "the chain does not start at a seed baseline");
    assert_eq!(chain.last().unwrap()["arch"], best.as_str());
    let listed: BTreeSet<&str> = chain.last().unwrap()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for event in log.iter().filter(|e| e["correlation"] == best.as_str()) {
        assert!(listed.contains(event["id"].as_str().unwrap()), "provenance misses event {}", event["seq"]);
    }
    // Unique prefixes resolve; ambiguous ones are one clear error.
    let by_prefix: Value =
        serde_json::from_slice(&run(&["provenance", "smoke-a", "gated", "--format", "json"])).unwrap();
    assert_eq!(by_prefix["arch"], "gated_deltanet");
    let out = lineage(store).args(["provenance", "smoke-a", "e"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ambiguous"));

    let dot = run(&["provenance", "smoke-a", &best, "--format", "dot"]);
    let mut graphviz = std::process::Command::new("dot")
        .args(["-Tsvg", "-o", "/dev/null"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("Graphviz `dot` is installed (.ci/run installs it)");
    std::io::Write::write_all(graphviz.stdin.as_mut().unwrap(), &dot).unwrap();
    assert!(graphviz.wait().unwrap().success(), "dot rejected:\n{}", String::from_utf8_lossy(&dot));

    let prov: Value =
        serde_json::from_slice(&run(&["provenance", "smoke-a", &best, "--format", "prov"])).unwrap();
    for kind in ["entity", "activity", "agent"] {
        assert!(!prov[kind].as_object().unwrap().is_empty(), "PROV-JSON has no {kind}");
    }
    let activities: BTreeSet<&str> =
        prov["activity"].as_object().unwrap().values().map(|a| a["prov:type"].as_str().unwrap()).collect();
    assert_eq!(activities, BTreeSet::from(["analysis", "check", "proposal", "training"]));
}

/// Replay gives the live hash (at the end and, via the finish event, exactly there); verify
/// passes on the clean log, reproduces two architectures bit for bit, and fails — naming the
/// event — on a log with one byte changed, one event deleted, or two events swapped.
fn replay_and_verify(dir: &TempDir, store: &str, live: &Value, log: &[Value]) {
    let out = lineage(store).args(["replay", "smoke-a", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["state_hash"], live["state_hash"]);
    assert_eq!(replayed["leaderboard"], live["leaderboard"]);
    // Time travel: just before the first proposal, only baselines are on the board.
    let first_selection = of_type(log, "ParentSelected")[0]["seq"].as_u64().unwrap();
    let out = lineage(store)
        .args(["replay", "smoke-a", "--json", "--until", &(first_selection - 1).to_string()])
        .output()
        .unwrap();
    let before: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(before["events"], first_selection);
    assert!(before["leaderboard"].as_array().unwrap().iter().all(|r| r["proposer"] == "baseline"));

    // Counterfactuals re-rank without training and say what they cannot know.
    let out = lineage(store)
        .args(["replay", "smoke-a", "--fitness", "loss=0,bench=1,judge=0", "--policy", "parents=1-2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("promoted to verification: recorded [") && text.contains("selection: "), "{text}");
    for bad in [["--fitness", "speed=1"], ["--policy", "parents=3-1"]] {
        let out = lineage(store).args(["replay", "smoke-a", bad[0], bad[1]]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end().lines().count(), 1);
    }

    let trained: Vec<&str> = of_type(log, "FitnessAssigned")
        .iter()
        .map(|e| e["payload"]["arch"].as_str().unwrap())
        .filter(|a| a.starts_with('e'))
        .take(2)
        .collect();
    assert_eq!(trained.len(), 2);
    let out = lineage(store)
        .args(["verify", "smoke-a", "--reproduce", trained[0], "--reproduce", trained[1]])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.matches("ok   reproduce (bit-identical expected)").count(), 2, "{text}");

    let db = dir.path().join("lineage.db");
    let seq = first_selection as i64;
    let tampers = [
        "UPDATE lineage_events SET body = replace(body, '\"experiment\":1,', '\"experiment\":7,') WHERE campaign = 'smoke-a' AND seq = ?1",
        "DELETE FROM lineage_events WHERE campaign = 'smoke-a' AND seq = ?1",
        // Swap two neighbours, through a free slot.
        "UPDATE lineage_events SET seq = 1000000 WHERE campaign = 'smoke-a' AND seq = ?1;
         UPDATE lineage_events SET seq = ?1 WHERE campaign = 'smoke-a' AND seq = ?1 + 1;
         UPDATE lineage_events SET seq = ?1 + 1 WHERE campaign = 'smoke-a' AND seq = 1000000",
    ];
    for (i, sql) in tampers.iter().enumerate() {
        let copy = dir.path().join(format!("tampered-{i}.db"));
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
        drop(conn);
        let conn = rusqlite::Connection::open(&copy).unwrap();
        for statement in sql.split(';') {
            assert_eq!(conn.execute(statement, [seq]).unwrap(), 1, "tamper {i} changed nothing: {statement}");
        }
        drop(conn);
        let url = format!("sqlite://{}", copy.display());
        let out = lineage(&url).args(["verify", "smoke-a"]).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "tamper {i} verified: {text}");
        assert!(text.contains(&format!("event {seq}")), "tamper {i} did not name event {seq}: {text}");
    }
}

fn spawn_run(store: &str, name: &str) -> Child {
    lineage(store)
        .args(["run", "--preset", "smoke", "--seed", SEED, "--name", name, "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn spawn_resume(store: &str, name: &str) -> Child {
    lineage(store)
        .args(["resume", name, "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the log satisfies `ready` (read through a separate connection), then signals.
fn interrupt_when(
    child: &mut Child,
    store: &str,
    name: &str,
    signal: i32,
    ready: impl Fn(&[String]) -> bool,
) -> std::process::ExitStatus {
    let path = store.strip_prefix("sqlite://").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the campaign never reached the kill point");
        if let Ok(db) =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        {
            let types: Vec<String> = db
                .prepare("SELECT type FROM lineage_events WHERE campaign = ?1 ORDER BY seq")
                .and_then(|mut s| s.query_map([name], |r| r.get(0))?.collect())
                .unwrap_or_default();
            if ready(&types) {
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the campaign ended before the kill point");
        std::thread::sleep(Duration::from_millis(2));
    }
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let types: Vec<String> = db
        .prepare("SELECT type FROM lineage_events WHERE campaign = ?1 ORDER BY seq")
        .and_then(|mut s| s.query_map([name], |r| r.get(0))?.collect())
        .unwrap_or_default();
    // Shown when the test fails: where each interruption landed.
    let last = &types[types.len().saturating_sub(6)..];
    eprintln!("signal {signal}: {status}, {} events, the last {last:?}", types.len());
    status
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_and_resumed_campaign_finishes_with_nothing_lost_or_repeated() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let name = "crash";
    let count = |types: &[String], t: &str| types.iter().filter(|x| *x == t).count();
    // Kill points: mid-training of a baseline; just after an experiment's proposal batch
    // (between events, before its check); as fast as possible after appends resume (likely
    // mid-append of progress); mid-training during verification. One Ctrl-C pause.
    type Point = Box<dyn Fn(&[String]) -> bool>;
    let points: Vec<(i32, Point)> = vec![
        (libc::SIGKILL, Box::new(move |t: &[String]| count(t, "TrainingProgress") >= 3)),
        (
            libc::SIGKILL,
            Box::new(move |t: &[String]| {
                t.last().is_some_and(|x| x == "NoveltyJudged") && count(t, "ParentSelected") >= 1
            }),
        ),
        // Ctrl-C once the second resume has recorded itself (a signal before that would end a
        // process that has not started, recording nothing).
        (
            libc::SIGINT,
            Box::new(move |t: &[String]| count(t, "CampaignResumed") >= 2 && count(t, "ParentSelected") >= 3),
        ),
        // SIGTERM stops it as cleanly as Ctrl-C: a pause.
        (
            libc::SIGTERM,
            Box::new(move |t: &[String]| count(t, "CampaignResumed") >= 3 && count(t, "ParentSelected") >= 4),
        ),
        (
            libc::SIGKILL,
            Box::new(move |t: &[String]| {
                count(t, "CampaignResumed") >= 4
                    && t.len() > 1
                    && t.last().is_some_and(|x| x == "TrainingProgress")
            }),
        ),
        (
            libc::SIGKILL,
            Box::new(move |t: &[String]| {
                count(t, "PromotedToVerification") >= 1 && t.last().is_some_and(|x| x == "TrainingProgress")
            }),
        ),
    ];
    let mut child = spawn_run(&store, name);
    for (signal, ready) in points {
        let status = interrupt_when(&mut child, &store, name, signal, ready);
        // Stopped by a signal it handles, it pauses and exits 128 + the signal: never 0.
        match signal {
            libc::SIGINT => assert_eq!(status.code(), Some(130), "Ctrl-C"),
            libc::SIGTERM => assert_eq!(status.code(), Some(143), "SIGTERM"),
            _ => {}
        }
        child = spawn_resume(&store, name);
    }
    assert!(child.wait().unwrap().success(), "the last resume did not finish");
    chain_is_valid(&store, name).await;
    let log = events(&store, name);
    assert_eq!(of_type(&log, "CampaignFinished").len(), 1);
    assert_eq!(of_type(&log, "CampaignResumed").len(), 6);
    assert_eq!(of_type(&log, "CampaignPaused").len(), 2, "Ctrl-C and SIGTERM record a pause");
    // No duplicates: ids unique, and each decision at most once.
    let ids: BTreeSet<&str> = log.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), log.len());
    let mut once: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &log {
        let key = match e["type"].as_str().unwrap() {
            t @ ("ArchitectureProposed" | "FitnessAssigned" | "AnalysisRecorded" | "TrainingScheduled") => {
                (t.to_owned(), format!("{}/{}", e["payload"]["arch"], e["payload"]["run"]))
            }
            t @ ("TrainingFinished" | "TrainingFailed") => (t.to_owned(), e["payload"]["run"].to_string()),
            t @ "ParentSelected" => (t.to_owned(), e["payload"]["experiment"].to_string()),
            _ => continue,
        };
        *once.entry(key).or_default() += 1;
    }
    for (key, n) in &once {
        assert_eq!(*n, 1, "{key:?} recorded {n} times");
    }
    // Nothing lost: every scheduled run ended, and the final state is the one an uninterrupted
    // run with the same seed reaches.
    let scheduled = of_type(&log, "TrainingScheduled").len();
    let ended = of_type(&log, "TrainingFinished").len() + of_type(&log, "TrainingFailed").len();
    assert_eq!(scheduled, ended);
    let uninterrupted = run_smoke(&store, "straight");
    let finished = &of_type(&log, "CampaignFinished")[0]["payload"];
    assert_eq!(finished["state_hash"], uninterrupted["state_hash"], "the resumed campaign ended elsewhere");
}

#[test]
fn bad_input_is_one_clear_line_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let db = dir.path().join("lineage.db");
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[budget]\nexperimentz = 3\n").unwrap();
    let bad_config = bad_config.display().to_string();
    // Values that would abort with an enormous allocation, or end the campaign for a false
    // reason, are refused before anything is recorded.
    let config_file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let huge_batch = config_file("batch.toml", "[exploration]\nbatch = 1000000000\n");
    let huge_width = config_file("width.toml", "[exploration]\nd_model = 1000000000\n");
    let no_pool = config_file("pool.toml", "[selection]\npool_capacity = 0\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "--preset", "nope"], "unknown preset"),
        (vec!["run", "--preset", "smoke", "--config", &bad_config], "unknown key `budget.experimentz`"),
        (vec!["run", "--preset", "smoke", "--config", "/no/such/file.toml"], "cannot read"),
        (
            vec!["run", "--preset", "smoke", "--trainers", "0"],
            "trainers = 0 leaves every run to workers: set parallel",
        ),
        (
            vec!["run", "--preset", "smoke", "--trainers", "257"],
            "trainers = 257 is out of range: allowed 0..=256",
        ),
        (
            vec!["run", "--preset", "smoke", "--trainers", "2", "--parallel", "1"],
            "parallel = 1 is below trainers = 2",
        ),
        (vec!["run", "--preset", "smoke", "--name", "bad name"], "invalid campaign id"),
        (
            vec!["run", "--preset", "smoke", "--config", &huge_batch],
            "exploration.batch = 1000000000 is out of range: allowed 1..=4096",
        ),
        (
            vec!["run", "--preset", "smoke", "--config", &huge_width],
            "exploration.d_model = 1000000000 is out of range",
        ),
        (
            vec!["run", "--preset", "smoke", "--config", &no_pool],
            "selection.pool_capacity = 0 is out of range",
        ),
        (vec!["resume", "nothing-here"], "no event store"),
        (vec!["worker", "--campaign", "nothing-here"], "no event store"),
    ];
    for (args, expected) in cases {
        let out = lineage(&store).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?} said {stderr:?}, expected {expected:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!db.exists(), "{args:?} created the store");
    }
}

/// A log whose recorded config this version refuses (written by an older build with wider
/// limits, or forged) is one line on `resume`: never a panic, never an abort on allocation, and
/// nothing appended, so the next `resume` says the same.
#[tokio::test(flavor = "multi_thread")]
async fn resuming_a_campaign_recorded_with_an_impossible_config_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = store(&dir);
    let (mut config, _) = lineage_actors::config::resolve("smoke", None, &Default::default()).unwrap();
    config.exploration.batch = 1_000_000_000;
    let campaign = CampaignId::new("old-limits").unwrap();
    let started = lineage_events::Payload::CampaignStarted(lineage_events::payload::CampaignStarted {
        name: "old-limits".into(),
        seed: 1,
        config: Box::new(config),
        code_version: "0.0.1".into(),
        backend: "flex".into(),
        host: lineage_events::payload::HostInfo {
            hostname: "elsewhere".into(),
            platform: "linux-x86_64".into(),
            cpus: 64,
        },
    });
    let event = lineage_events::NewEvent::new(
        lineage_events::EventId::derive(&campaign, "start"),
        lineage_events::ActorRef::new("orchestrator", "orchestrator"),
        &started,
    );
    let sqlite = lineage_events::open_store(&url).await.unwrap();
    sqlite.append(&campaign, lineage_events::Seq(0), vec![event]).await.unwrap();
    drop(sqlite);
    for _ in 0..2 {
        let out = lineage(&url).args(["resume", "old-limits"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("cannot be resumed") && stderr.contains("exploration.batch"), "{stderr}");
        assert_eq!(events(&url, "old-limits").len(), 1, "the refused resume recorded something");
    }
}

/// The same smoke campaign on PostgreSQL (a real throwaway server): the store many machines
/// share. It reaches the state the SQLite run reaches, since the store does not take part in
/// any decision.
#[tokio::test(flavor = "multi_thread")]
async fn smoke_campaign_on_postgres_reaches_the_same_state() {
    let _one = ONE_AT_A_TIME.lock().await;
    let url = support::postgres::fresh_database().await;
    let on_postgres = run_smoke(&url, "smoke-pg");
    assert_eq!(on_postgres["finished"], true);
    let dir = tempfile::tempdir().unwrap();
    let on_sqlite = run_smoke(&store(&dir), "smoke-lite");
    assert_eq!(on_postgres["state_hash"], on_sqlite["state_hash"]);
    let log = events(&url, "smoke-pg");
    assert_eq!(of_type(&log, "CampaignFinished").len(), 1);
}

/// `replay --until N` rebuilds exactly the state the live run had after event N: the campaign
/// runs in-process with an observer that hashes the live state after every event, and replay
/// is asked about several points.
#[tokio::test(flavor = "multi_thread")]
async fn replay_until_matches_the_live_state_at_every_point_asked() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let url = store(&dir);
    let sqlite = lineage_events::open_store(&url).await.unwrap();
    let (config, resources) = lineage_actors::config::resolve(
        "smoke",
        Some(("test.toml", "[budget]\nexperiments_max = 2\n")),
        &Default::default(),
    )
    .unwrap();
    let live: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen = live.clone();
    let observer =
        Box::new(move |state: &lineage_replay::CampaignState, _: &lineage_events::RecordedEvent| {
            seen.lock().unwrap().push(state.state_hash().to_hex());
        });
    let start = lineage_actors::Start::New(Box::new(lineage_actors::NewCampaign {
        name: "live".into(),
        seed: 3,
        config,
    }));
    let campaign = CampaignId::new("live").unwrap();
    // The actor system starts its own runtime, so it runs on a plain thread, as in the CLI.
    let thread =
        std::thread::spawn(move || lineage_actors::run(sqlite, campaign, start, observer, resources, None));
    let outcome = tokio::task::spawn_blocking(move || thread.join()).await.unwrap().unwrap().unwrap();
    assert!(!outcome.paused);
    let live = live.lock().unwrap().clone();
    assert_eq!(live.len() as u64, outcome.state.events);
    for n in [0, live.len() / 4, live.len() / 2, 3 * live.len() / 4, live.len() - 1] {
        let out =
            lineage(&url).args(["replay", "live", "--json", "--until", &n.to_string()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let replayed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(replayed["state_hash"], live[n].as_str(), "after event {n}");
    }
}
