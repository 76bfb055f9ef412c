//! Live attach with real processes: a campaign running, the Python example analyst attached to
//! it mid-run from another process, killed, and attached again. Nothing it concludes is lost or
//! written twice, the campaign's later proposals cite its insights, and the log verifies.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lineage;

const LABEL: &str = "advice";

fn events(store: &str) -> Vec<Value> {
    let out = lineage(store).args(["events", "live", "--json"]).output().unwrap();
    if !out.status.success() {
        return Vec::new(); // not created yet
    }
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn by_advice(e: &Value) -> bool {
    e["actor"]["kind"] == "analyst" && e["actor"]["name"] == LABEL
}

/// Polls the log until `ready` holds (or fails after a few minutes).
fn wait_for(store: &str, what: &str, ready: impl Fn(&[Value]) -> bool) {
    let start = Instant::now();
    while !ready(&events(store)) {
        assert!(start.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn attach(store: &str, checkpoint: &Path) -> Child {
    let script = support::repo().join("examples/operator_advice.py");
    lineage(store)
        .args(["attach", "live", "--name", LABEL, "--checkpoint"])
        .arg(checkpoint)
        .arg("--exec")
        .arg(format!("python3 {}", script.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The scored proposals the example analyst answers: exploration fitness of an architecture
/// with edits whose parent was scored before it (what `operator_advice.py` reacts to).
fn answered_triggers(log: &[Value]) -> Vec<String> {
    let mut proposals: HashMap<&str, (Option<&str>, usize)> = HashMap::new();
    let mut scored: HashSet<&str> = HashSet::new();
    let mut triggers = Vec::new();
    for e in log {
        let p = &e["payload"];
        match e["type"].as_str().unwrap() {
            "ArchitectureProposed" => {
                let edits = p["edits"].as_array().map_or(0, Vec::len);
                proposals.insert(p["arch"].as_str().unwrap(), (p["parent"].as_str(), edits));
            }
            "FitnessAssigned" if p["stage"] == "exploration" => {
                let arch = p["arch"].as_str().unwrap();
                scored.insert(arch);
                if let Some((Some(parent), edits)) = proposals.get(arch)
                    && *edits > 0
                    && scored.contains(parent)
                {
                    triggers.push(e["id"].as_str().unwrap().to_owned());
                }
            }
            _ => {}
        }
    }
    triggers
}

#[test]
fn an_analyst_attached_from_another_process_steers_the_campaign_exactly_once() {
    let python = Command::new("python3").arg("--version").output();
    assert!(python.is_ok_and(|o| o.status.success()), "python3 is needed to run the example analyst");
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    let checkpoint = dir.path().join("advice.json");

    // 1. The campaign, in its own process.
    let mut campaign = lineage(&store)
        .args(["run", "--preset", "smoke", "--seed", "5", "--name", "live", "--experiments", "10", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let scored_candidates = |log: &[Value]| {
        log.iter()
            .filter(|e| {
                e["type"] == "FitnessAssigned"
                    && e["payload"]["arch"].as_str().is_some_and(|a| a.starts_with('e'))
            })
            .count()
    };
    wait_for(&store, "two scored proposals", |log| scored_candidates(log) >= 2);

    // 2. The analyst, attached mid-run from a second process, killed once it has spoken.
    let mut first = attach(&store, &checkpoint);
    wait_for(&store, "the analyst's first insight", |log| {
        log.iter().any(|e| by_advice(e) && e["type"] == "InsightRecorded")
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let before_restart = events(&store).iter().filter(|e| by_advice(e)).count();
    assert!(before_restart >= 2, "an analysis and an insight before the kill");

    // 3. Attached again (a third process): it resumes from its checkpoint.
    let second = attach(&store, &checkpoint);
    let finished = campaign.wait().unwrap();
    assert!(finished.success(), "the campaign failed");
    assert!(scored_candidates(&events(&store)) >= 6, "the campaign was too short to test steering");
    // Let the analyst catch up with the end of the campaign, then stop it.
    let start = Instant::now();
    loop {
        let log = events(&store);
        let answered: HashSet<&str> =
            log.iter().filter(|e| by_advice(e)).filter_map(|e| e["causation"].as_str()).collect();
        if answered_triggers(&log).iter().all(|t| answered.contains(t.as_str())) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the analyst never caught up");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The campaign has finished: the attach ends by itself at its end, with its report.
    let report = second.wait_with_output().unwrap();
    assert!(report.status.success());
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.contains("conclusions written"), "no report from the second attach: {report}");

    // Nothing lost or duplicated: each scored proposal the analyst answers has exactly one
    // analysis and one insight caused by it, across the kill.
    let log = events(&store);
    for trigger in answered_triggers(&log) {
        for kind in ["AnalysisRecorded", "InsightRecorded"] {
            let n = log
                .iter()
                .filter(|e| by_advice(e) && e["type"] == kind && e["causation"] == trigger.as_str())
                .count();
            assert_eq!(n, 1, "{kind} for fitness event {trigger}: {n}");
        }
    }

    // Steering: a later proposal cites one of the analyst's insights, and says so.
    let insights: HashSet<&str> = log
        .iter()
        .filter(|e| by_advice(e) && e["type"] == "InsightRecorded")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let steered: Vec<&Value> = log
        .iter()
        .filter(|e| e["type"] == "ArchitectureProposed")
        .filter(|e| {
            e["payload"]["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| insights.contains(c.as_str().unwrap()))
        })
        .collect();
    assert!(!steered.is_empty(), "no proposal cites the attached analyst");
    let arch = steered[0]["payload"]["arch"].as_str().unwrap();
    assert!(steered[0]["payload"]["motivation"].as_str().unwrap().contains(LABEL));

    // Provenance shows the analyst in the chain; the log, insights included, verifies.
    let out = lineage(&store).args(["provenance", "live", arch, "--format", "json"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("\"{LABEL}\"")),
        "provenance misses the analyst"
    );
    // An insight that steered nothing still shows in the provenance of the architecture whose
    // score caused it.
    let cited: HashSet<&str> = log
        .iter()
        .filter(|e| e["type"] == "ArchitectureProposed")
        .flat_map(|e| e["payload"]["evidence"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()))
        .collect();
    let by_id: HashMap<&str, &Value> = log.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
    // (Where every insight steered one, any: the scored architecture's own chain does not hold
    // the proposals its insight steered.)
    let insights_of_analyst = || log.iter().filter(|e| by_advice(e) && e["type"] == "InsightRecorded");
    let idle = insights_of_analyst()
        .find(|e| !cited.contains(e["id"].as_str().unwrap()))
        .or_else(|| insights_of_analyst().next())
        .unwrap();
    let scored = by_id[idle["causation"].as_str().unwrap()]["payload"]["arch"].as_str().unwrap();
    let out = lineage(&store).args(["provenance", "live", scored, "--format", "json"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(idle["id"].as_str().unwrap()),
        "the provenance of {scored} misses the insight about it"
    );
    let out = lineage(&store).args(["verify", "live"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // Replay folds the analyst's insights like any other event.
    let out = lineage(&store).args(["replay", "live", "--json"]).output().unwrap();
    assert!(out.status.success());
    let replayed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["insights"][LABEL].as_u64(), Some(insights.len() as u64));
}

/// Stops an attach with `signal` (`INT`: Ctrl-C, as a person at the terminal would; `TERM`: as
/// a cluster manager or `kill` would).
fn stop(child: &Child, signal: &str) {
    let status =
        Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn built_in_analysts_attach_once_and_bad_analysts_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    let out = lineage(&store)
        .args(["run", "--preset", "smoke", "--seed", "2", "--name", "live", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let where_time_went = || {
        let out = lineage(&store).args(["bench", "campaign", "live", "--json"]).output().unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let before_attaching = where_time_went();
    // Without --once, an attach to a finished campaign still ends by itself: at its end.
    let mut following = lineage(&store)
        .args(["attach", "live", "--analyst", "stagnation", "--json", "--checkpoint"])
        .arg(dir.path().join("following.json"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while following.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "attach did not end at CampaignFinished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ended = following.wait_with_output().unwrap();
    assert!(ended.status.success());
    let report: Value = serde_json::from_slice(&ended.stdout).unwrap();
    assert_eq!(report["next"].as_u64(), Some(events(&store).len() as u64), "it saw the whole log");
    // With --keep-following it goes on until stopped; SIGTERM stops it as cleanly as Ctrl-C:
    // the report, then exit 143 (never 0: stopped, not finished).
    let kept = lineage(&store)
        .args(["attach", "live", "--analyst", "stagnation", "--json", "--keep-following", "--checkpoint"])
        .arg(dir.path().join("kept.json"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Caught up once its checkpoint is saved; it listens for signals from then on.
    let started = Instant::now();
    while !dir.path().join("kept.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the attach never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop(&kept, "TERM");
    let stopped = kept.wait_with_output().unwrap();
    assert_eq!(stopped.status.code(), Some(143));
    let report: Value = serde_json::from_slice(&stopped.stdout).unwrap();
    assert_eq!(report["next"].as_u64(), Some(events(&store).len() as u64));
    let attach_once = |checkpoint: &str, args: &[&str]| {
        let checkpoint = dir.path().join(format!("{checkpoint}.json"));
        lineage(&store)
            .args(["attach", "live", "--once", "--json", "--checkpoint"])
            .arg(checkpoint)
            .args(args)
            .output()
            .unwrap()
    };
    for analyst in ["edit-stats", "pareto", "stagnation"] {
        let first = attach_once(analyst, &["--analyst", analyst]);
        assert!(first.status.success(), "{analyst}: {}", String::from_utf8_lossy(&first.stderr));
        let report: Value = serde_json::from_slice(&first.stdout).unwrap();
        let written = report["written"].as_u64().unwrap();
        if analyst != "stagnation" {
            assert!(written > 0, "{analyst} concluded nothing");
        }
        let log = events(&store);
        let mine: Vec<&Value> =
            log.iter().filter(|e| e["actor"]["kind"] == "analyst" && e["actor"]["name"] == analyst).collect();
        assert_eq!(mine.len() as u64, written);
        assert!(mine.iter().all(|e| e["payload"]["analyst"] == analyst && e["causation"].is_string()));
        // Again from the start under another checkpoint: everything is re-derived, nothing is
        // written twice.
        let again = attach_once(&format!("{analyst}-again"), &["--analyst", analyst, "--from", "start"]);
        let report: Value = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(report["written"], 0, "{analyst} wrote twice");
        assert_eq!(report["already_written"].as_u64(), Some(written));
    }

    // The late analysts' conclusions took none of the campaign's time: the wait before they
    // attached is nobody's work.
    let after_attaching = where_time_went();
    assert_eq!(after_attaching["seconds"], before_attaching["seconds"]);
    assert_eq!(after_attaching["wall_s"], before_attaching["wall_s"]);
    assert!(after_attaching["side_analyst_events"].as_u64().unwrap() > 0);

    // Named in a campaign config, pareto and stagnation run inside the campaign's process
    // through the same mechanism.
    let config = dir.path().join("analysts.toml");
    std::fs::write(&config, "analysts = [\"edit-stats\", \"pareto\", \"stagnation\"]\n").unwrap();
    let out = lineage(&store)
        .args(["run", "--preset", "smoke", "--seed", "2", "--name", "inside", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = lineage(&store).args(["events", "inside", "--json"]).output().unwrap();
    let inside: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        inside.iter().any(|e| e["actor"]["name"] == "pareto" && e["type"] == "InsightRecorded"),
        "the in-process pareto analyst recorded nothing"
    );

    // A program that answers nonsense: each bad line is refused, nothing is recorded, the
    // attach carries on to the end.
    let before = events(&store).len();
    let script = dir.path().join("bad.py");
    std::fs::write(
        &script,
        r#"import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "event":
        print("not json")
        print(json.dumps({"type": "insight", "kind": "k", "text": "t", "confidence": 7, "cites": [m["event"]["id"]]}))
        print(json.dumps({"type": "insight", "kind": "k", "text": "t", "confidence": 0.5, "cites": []}))
        print(json.dumps(["insight", "k", "t", 0.5, [m["event"]["id"]]]))
        sys.stdout.flush()
        sys.stdout.buffer.write(b'{"type": "insight", "text": "caf\xe9"}\n')
        sys.stdout.buffer.write(b'{"type": "insight", "text": "' + b"x" * (1 << 20) + b'"}\n')
        sys.stdout.buffer.flush()
        print(json.dumps({"type": "done", "seq": m["event"]["seq"]}), flush=True)
"#,
    )
    .unwrap();
    let command = format!("python3 {}", script.display());
    let out = attach_once("bad", &["--exec", &command, "--name", "bad"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["written"], 0);
    let observed = report["observed"].as_u64().unwrap();
    assert!(observed > 0);
    assert_eq!(report["refused"].as_u64(), Some(6 * observed), "six bad lines per event");
    assert_eq!(events(&store).len(), before);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ignored answer line") && stderr.contains("is not in [0, 1]"), "{stderr}");
    for why in ["an answer line is one JSON object", "not UTF-8 text", "longer than 1048576 bytes"] {
        assert!(stderr.contains(why), "{why:?} not in {stderr}");
    }

    // What a program hears with `--from 5`: hello first, the five earlier events as history
    // (not answered), then every later event once, in order.
    let heard = dir.path().join("heard.jsonl");
    let echo = dir.path().join("echo.py");
    std::fs::write(
        &echo,
        format!(
            r#"import json, sys
out = open({:?}, "w")
for line in sys.stdin:
    out.write(line); out.flush()
    m = json.loads(line)
    if m["type"] == "event":
        print(json.dumps({{"type": "done", "seq": m["event"]["seq"]}}), flush=True)
"#,
            heard.display().to_string()
        ),
    )
    .unwrap();
    let out = attach_once(
        "echo",
        &["--exec", &format!("python3 {}", echo.display()), "--name", "echo", "--from", "5"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        std::fs::read_to_string(&heard).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines[0]["type"].as_str(), lines[0]["from"].as_u64()), (Some("hello"), Some(5)));
    let seqs = |kind: &str| -> Vec<u64> {
        lines.iter().filter(|l| l["type"] == kind).map(|l| l["event"]["seq"].as_u64().unwrap()).collect()
    };
    assert_eq!(seqs("history"), (0..5).collect::<Vec<_>>());
    let answered = seqs("event");
    assert_eq!(answered.first(), Some(&5));
    assert!(answered.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(lines.last().unwrap()["type"], "caught_up");

    // Bad requests: one line, non-zero, nothing written.
    let head = events(&store).len();
    let elsewhere = dir.path().join("elsewhere.json");
    std::fs::write(&elsewhere, r#"{"campaign":"other","analyst":"echo","next":3}"#).unwrap();
    let past_head = format!("--from 100000, but campaign live has {head} events");
    // Each its own checkpoint: an analyst that fails answering leaves one.
    for (checkpoint, args, expected) in [
        ("refused-1", vec!["--analyst", "nope"], "no built-in analyst"),
        ("refused-2", vec!["--analyst", "pareto", "--from", "later"], "--from takes"),
        ("refused-3", vec!["--exec", "exit 3", "--name", "gone"], "analyst gone"),
        ("refused-4", vec!["--analyst", "pareto", "--name", "analyst"], "the campaign's own Analyst"),
        ("refused-5", vec!["--analyst", "pareto", "--from", "100000"], past_head.as_str()),
        ("elsewhere", vec!["--analyst", "pareto"], "it is campaign \"other\"'s"),
    ] {
        let out = attach_once(checkpoint, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.trim_end().lines().count() == 1, "{args:?}: {stderr}");
    }
    // Which analyst, and under what name, are the command line's to require.
    for args in [vec!["--exec", "true"], vec![]] {
        let out = attach_once("refused", &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(events(&store).len(), before);

    // What a program started is ended with it: its input closed, `cat` and its `sh` exit at
    // once, and the `sleep` it left in the background goes with its process group.
    let pid_file = dir.path().join("background.pid");
    let command = format!("sleep 1000 & echo $! > {}; cat > /dev/null", pid_file.display());
    let out = lineage(&store)
        .args(["attach", "live", "--once", "--from", "now", "--name", "parent", "--exec", &command])
        .arg("--checkpoint")
        .arg(dir.path().join("parent.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    let started = Instant::now();
    // Gone, or a zombie its new parent has yet to reap.
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z')))
    };
    while running() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the background sleep {pid} outlived the attach"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Two attaches under one name at once: each conclusion is written once, by one of them,
    // and the other counts it as already in the log.
    let twins: Vec<Child> = (0..3)
        .map(|i| {
            lineage(&store)
                .args(["attach", "live", "--once", "--json", "--analyst", "edit-stats", "--name", "twin"])
                .arg("--checkpoint")
                .arg(dir.path().join(format!("twin-{i}.json")))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let reports: Vec<Value> = twins
        .into_iter()
        .map(|twin| {
            let out = twin.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let written: u64 = reports.iter().map(|r| r["written"].as_u64().unwrap()).sum();
    let twin_events = events(&store).iter().filter(|e| e["actor"]["name"] == "twin").count() as u64;
    assert!(written > 0);
    assert_eq!(written, twin_events, "{reports:?}");
}

/// The protocol is language-neutral: `examples/new_best.js`, an analyst in JavaScript, records an
/// insight each time an exploration fitness beats the best so far, exactly as many as the log
/// has such improvements, each citing its fitness event. Needs Node; without it the test says so
/// and passes, unless `LINEAGE_REQUIRE_NODE=1` (what CI sets: it installs Node).
#[test]
fn an_analyst_in_javascript_speaks_the_same_protocol() {
    if Command::new("node").arg("--version").output().is_err() {
        let required = std::env::var("LINEAGE_REQUIRE_NODE").is_ok_and(|v| v == "1");
        assert!(!required, "LINEAGE_REQUIRE_NODE=1 but node is not installed");
        eprintln!("skipped: node is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    let out = lineage(&store)
        .args(["run", "--preset", "smoke", "--seed", "3", "--name", "live", "--experiments", "20", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = events(&store);
    let mut best = f64::NEG_INFINITY;
    let mut improvements = Vec::new();
    for e in
        before.iter().filter(|e| e["type"] == "FitnessAssigned" && e["payload"]["stage"] == "exploration")
    {
        let total = e["payload"]["total"].as_f64().unwrap();
        if total > best {
            if best.is_finite() {
                improvements.push(e["id"].as_str().unwrap().to_owned());
            }
            best = total;
        }
    }
    assert!(!improvements.is_empty(), "the campaign never improved on its first fitness: a weak test");
    let script = support::repo().join("examples/new_best.js");
    let out = lineage(&store)
        .args(["attach", "live", "--once", "--json", "--name", "new-best", "--checkpoint"])
        .arg(dir.path().join("new-best.json"))
        .arg("--exec")
        .arg(format!("node {}", script.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["refused"], 0);
    let insights: Vec<Value> = events(&store)
        .into_iter()
        .filter(|e| e["type"] == "InsightRecorded" && e["actor"]["name"] == "new-best")
        .collect();
    assert_eq!(insights.len(), improvements.len());
    let cited: Vec<String> =
        insights.iter().map(|e| e["payload"]["cites"][0].as_str().unwrap().to_owned()).collect();
    assert_eq!(cited, improvements, "each insight cites the fitness event that beat the best");
}
