//! Workers (`lineage worker`) as real processes: a campaign whose runs a worker trains ends in
//! the state the campaign reaches training them itself, and a chaos run — a real PostgreSQL
//! server, the campaign process and three workers on loopback; one worker killed with SIGKILL
//! mid-training, one stopped with SIGSTOP past its lease, the server restarted, the campaign
//! process killed and resumed — finishes, verifies, and counts exactly one result per run.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lineage;
use support::postgres::PrivateCluster;
use tempfile::TempDir;

/// One campaign at a time: the "too slow" sanity stop compares a run's wall time with its
/// peers', so a campaign competing with another for the two cores could decide differently.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Children killed when the test ends, whatever happened.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            signal(child, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
}

fn events(store: &str, campaign: &str) -> Vec<Value> {
    let out = lineage(store).args(["events", campaign, "--json"]).output().unwrap();
    if !out.status.success() {
        return Vec::new(); // the server restarting: look again
    }
    String::from_utf8(out.stdout).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> impl Iterator<Item = &'a Value> {
    events.iter().filter(move |e| e["type"] == kind)
}

/// Waits (polling the log) until `done` holds of it; panics after `limit`.
fn wait_for(
    store: &str,
    campaign: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let log = events(store, campaign);
        if done(&log) {
            return log;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The run a worker holds now: its latest start with no expiry and no result after it.
fn held_by(events: &[Value], worker: &str) -> Option<String> {
    let mut holder: BTreeMap<String, Option<String>> = BTreeMap::new();
    for e in events {
        let p = &e["payload"];
        let run = p["run"].as_str().unwrap_or_default().to_owned();
        match e["type"].as_str().unwrap_or_default() {
            "TrainingStarted" => {
                holder.insert(run, p["trainer"].as_str().map(str::to_owned));
            }
            "LeaseExpired" | "TrainingFinished" | "TrainingFailed" => {
                holder.insert(run, None);
            }
            _ => {}
        }
    }
    holder.into_iter().find(|(_, h)| h.as_deref() == Some(worker)).map(|(run, _)| run)
}

/// Stops `worker` (SIGSTOP) at a moment it holds a run, and returns that run: the log read
/// after the stop — once anything it sent has landed — must still show the run as its, or it
/// is let go on and caught again (its result may have landed between the read and the stop).
fn stop_while_holding(store: &str, campaign: &str, child: &Child, worker: &str) -> String {
    for _ in 0..20 {
        let log = wait_for(store, campaign, Duration::from_secs(180), "a worker to train a run", |e| {
            held_by(e, worker).is_some()
        });
        let run = held_by(&log, worker).unwrap();
        signal(child, libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(500));
        if held_by(&events(store, campaign), worker).as_deref() == Some(run.as_str()) {
            return run;
        }
        signal(child, libc::SIGCONT);
    }
    panic!("{worker} was never caught holding a run");
}

fn worker(store: &str, campaign: &str, name: &str, lease: &str) -> Child {
    lineage(store)
        .args(["worker", "--campaign", campaign, "--name", name, "--lease", lease, "--json"])
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output_of(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("a process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status, out, err)
}

/// Every scheduled run has exactly one result (finished or failed); the counts by type.
fn one_result_per_run(events: &[Value]) -> BTreeMap<&'static str, usize> {
    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    for e in of_type(events, "TrainingScheduled") {
        results.insert(e["payload"]["run"].as_str().unwrap().to_owned(), 0);
    }
    for e in of_type(events, "TrainingFinished").chain(of_type(events, "TrainingFailed")) {
        *results.get_mut(e["payload"]["run"].as_str().unwrap()).expect("a result of a scheduled run") += 1;
    }
    let wrong: Vec<_> = results.iter().filter(|(_, n)| **n != 1).collect();
    assert!(wrong.is_empty(), "runs without exactly one result: {wrong:?}");
    let kinds = [
        "TrainingScheduled",
        "TrainingStarted",
        "TrainingFinished",
        "TrainingFailed",
        "LeaseRenewed",
        "LeaseExpired",
    ];
    kinds.into_iter().map(|k| (k, of_type(events, k).count())).collect()
}

#[test]
fn a_campaign_trained_by_a_worker_ends_in_the_state_it_reaches_training_itself() {
    let _one = ONE_AT_A_TIME.blocking_lock();
    let dir = TempDir::new().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    let run = |name: &str, extra: &[&str]| {
        lineage(&store)
            .args(["run", "--preset", "smoke", "--seed", "2", "--name", name, "--json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (status, out, err) = output_of(run("here", &[]), Duration::from_secs(600));
    assert!(status.success(), "{err}");
    let here: Value = serde_json::from_str(&out).unwrap();

    // As the smoke preset trains itself: two runs in flight, each worker on as many threads as
    // one of the campaign's own trainers had (the same count, the same numbers).
    let campaign = run("there", &["--trainers", "0", "--parallel", "2"]);
    wait_for(&store, "there", Duration::from_secs(60), "the campaign to start", |e| !e.is_empty());
    // Two workers race for every run (two in flight, whichever ends first): each run is
    // claimed once.
    let here_threads =
        of_type(&events(&store, "here"), "TrainingFinished").next().unwrap()["payload"]["threads"]
            .as_u64()
            .unwrap()
            .to_string();
    let spawn = |name: &str| {
        lineage(&store)
            .args(["worker", "--campaign", "there", "--name", name, "--json"])
            .env("RAYON_NUM_THREADS", &here_threads)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let workers = [spawn("w1"), spawn("w2")];
    let (status, out, err) = output_of(campaign, Duration::from_secs(600));
    assert!(status.success(), "{err}");
    let there: Value = serde_json::from_str(&out).unwrap();
    let reports: Vec<Value> = workers
        .into_iter()
        .map(|w| {
            let (status, report, err) = output_of(w, Duration::from_secs(60));
            assert!(status.success(), "a worker ends when its campaign does: {err}");
            serde_json::from_str(&report).unwrap()
        })
        .collect();

    assert_eq!(there["state_hash"], here["state_hash"], "the same decisions and measurements, bit for bit");
    let log = events(&store, "there");
    let counts = one_result_per_run(&log);
    let claimed: u64 = reports.iter().map(|r| r["claimed"].as_u64().unwrap()).sum();
    assert_eq!(claimed, counts["TrainingScheduled"] as u64, "one claim per run: {reports:?}");
    assert_eq!(counts["TrainingStarted"], counts["TrainingScheduled"]);
    for r in &reports {
        assert_eq!((&r["results"], r["lost"].as_u64()), (&r["claimed"], Some(0)), "no claim lost: {r}");
    }
    for e in of_type(&log, "TrainingStarted") {
        assert!(["w1", "w2"].contains(&e["payload"]["trainer"].as_str().unwrap()));
        assert_eq!(e["payload"]["lease_ms"].as_u64(), Some(30_000));
    }
    let verify = lineage(&store).args(["verify", "there"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("lease events checked against the runs' claims")
    );
}

/// Runs long enough to be caught mid-training: the smoke campaign with more steps.
const CHAOS_CONFIG: &str = "\
[budget]
experiments_max = 6
[exploration]
steps = 240
[verification]
steps = 240
";

#[tokio::test(flavor = "multi_thread")]
async fn chaos_three_workers_a_kill_a_stop_a_server_restart_and_a_resume_count_each_result_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = PrivateCluster::start();
    let store = cluster.fresh_database().await;
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("chaos.toml");
    std::fs::write(&config, CHAOS_CONFIG).unwrap();
    let lease = "3s";
    let campaign = "chaos";
    let start_campaign = |command: &str| {
        let mut c = lineage(&store);
        if command == "run" {
            c.args(["run", "--preset", "smoke", "--seed", "2", "--name", campaign]);
            c.args(["--config", config.to_str().unwrap(), "--trainers", "0", "--parallel", "3"]);
        } else {
            c.args(["resume", campaign]);
        }
        c.arg("--json").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let mut campaign_process = Some(start_campaign("run"));
    wait_for(&store, campaign, Duration::from_secs(120), "the campaign to start", |e| !e.is_empty());
    let mut workers =
        Processes(["w1", "w2", "w3"].iter().map(|n| worker(&store, campaign, n, lease)).collect());
    let minute = Duration::from_secs(60);

    // SIGKILL w1 while it trains.
    let killed_run = stop_while_holding(&store, campaign, &workers.0[0], "w1");
    signal(&workers.0[0], libc::SIGKILL);

    // SIGSTOP w2 while it trains, past its lease: someone records the expiry; then SIGCONT.
    let stopped_run = stop_while_holding(&store, campaign, &workers.0[1], "w2");
    let expired = |e: &[Value], worker: &str| {
        of_type(e, "LeaseExpired")
            .any(|x| x["payload"]["worker"] == worker && x["payload"]["silent_ms"].as_u64() > Some(0))
    };
    wait_for(&store, campaign, 2 * minute, "w2's lease to expire", |e| expired(e, "w2"));
    // Partitioned until its run is someone else's: its late result must not count.
    let taken = |e: &[Value], run: &str, worker: &str| {
        of_type(e, "TrainingStarted").any(|x| x["payload"]["run"] == run && x["payload"]["trainer"] != worker)
    };
    wait_for(&store, campaign, 3 * minute, "w2's run to be reassigned", |e| taken(e, &stopped_run, "w2"));
    signal(&workers.0[1], libc::SIGCONT);

    // Restart the server under load, then kill the campaign process and resume it while the
    // workers go on.
    let cluster_restart = tokio::task::spawn_blocking(move || {
        cluster.restart_after(Duration::from_secs(2));
        cluster
    });
    let cluster = cluster_restart.await.unwrap();
    let results = |e: &[Value]| of_type(e, "TrainingFinished").count() + of_type(e, "TrainingFailed").count();
    let before = results(&events(&store, campaign));
    wait_for(&store, campaign, 2 * minute, "progress after the restart", |e| results(e) > before);
    let mut first = campaign_process.take().unwrap();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the campaign ended before it could be killed: make it longer"
    );
    let _ = first.kill();
    let _ = first.wait();
    let resumed = start_campaign("resume");
    let (status, out, err) = output_of(resumed, 10 * minute);
    assert!(status.success(), "the resumed campaign finishes: {err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["finished"], true, "{summary}");

    // The workers still alive end by themselves with the campaign.
    let reports: Vec<Value> = workers
        .0
        .drain(1..)
        .map(|w| {
            let (status, out, err) = output_of(w, minute);
            assert!(status.success(), "a worker ends when its campaign does: {err}");
            serde_json::from_str(&out).unwrap()
        })
        .collect();
    // Woken after its lease lapsed, w2 drops its run one of two ways, whichever its timing
    // meets first: a renewal finds the lease gone and stops the training (`lost`), or the
    // training ends first and the result, checked against the lease, is not recorded
    // (`discarded`). Either way nothing of it counts (checked below, run by run).
    let dropped = reports[0]["lost"].as_u64().unwrap() + reports[0]["discarded"].as_u64().unwrap();
    assert!(dropped >= 1, "w2 found its lease expired and dropped its run: {}", reports[0]);

    let log = events(&store, campaign);
    let counts = one_result_per_run(&log);
    // The expiries and reassignments are recorded: the killed and the stopped worker's runs
    // started again by someone else.
    for (worker, run) in [("w1", &killed_run), ("w2", &stopped_run)] {
        assert!(expired(&log, worker), "{worker}'s lease expiry is recorded");
        let restarted = taken(&log, run, worker);
        let finished_by_other = of_type(&log, "TrainingFinished")
            .chain(of_type(&log, "TrainingFailed"))
            .any(|e| e["payload"]["run"] == run.as_str() && e["actor"]["name"] != worker);
        assert!(
            restarted && finished_by_other,
            "{run} of {worker} was trained again by another: {restarted} {finished_by_other}"
        );
    }
    let verify = lineage(&store).args(["verify", campaign]).output().unwrap();
    let verdict = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{verdict}");
    eprintln!("chaos counts: {counts:?}; worker reports: {reports:?}");
    eprintln!("{verdict}");
    drop(cluster);
}
