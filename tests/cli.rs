//! The `lineage campaigns` and `lineage events` commands, driven as a user would, and the errors
//! a user gets for bad input: one clear line, a non-zero exit, nothing lost.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use lineage_events::{
    ActorRef, CampaignId, EventId, EventStore, Hash, NewEvent, Seq, SqliteStore, synthetic,
};
use support::{events, file_digest, lineage};
use tempfile::TempDir;

/// A SQLite store with one campaign of `n` events, written through the library.
async fn store_with_campaign(n: usize) -> (TempDir, String, CampaignId) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let campaign = CampaignId::new("demo-1").unwrap();
    for start in (0..n).step_by(500) {
        let count = (n - start).min(500);
        store.append(&campaign, Seq(start as u64), events(&campaign, "w", start, count)).await.unwrap();
    }
    (dir, format!("sqlite://{}", path.display()), campaign)
}

fn run(store: &str, args: &[&str]) -> Output {
    lineage(store).args(args).output().unwrap()
}

/// The JSON lines a successful command printed.
fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// The command failed with exactly one line on stderr containing `needle`, and printed nothing.
fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, got success; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "expected one line on stderr, got:\n{stderr}");
    assert!(stderr.starts_with("lineage: error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout on error");
}

#[test]
fn unknown_url_scheme_is_one_clear_line() {
    assert_one_line_error(&run("mysql://localhost/db", &["campaigns"]), "unknown scheme \"mysql\"");
    assert_one_line_error(&run("lineage.db", &["campaigns"]), "expected SCHEME://");
    assert_one_line_error(&run("kurrentdb://localhost:2113", &["campaigns"]), "not available in this build");
}

#[test]
fn unreachable_postgres_is_one_clear_line() {
    // Port 1 on loopback: nothing listens there.
    let output = run("postgres://lineage@127.0.0.1:1/nothing", &["campaigns"]);
    assert_one_line_error(&output, "cannot reach postgres://lineage@127.0.0.1:1/nothing");
}

#[test]
fn a_random_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(300)).unwrap();
    let before = file_digest(&path);
    let output = run(&format!("sqlite://{}", path.display()), &["campaigns"]);
    assert_one_line_error(&output, "is not a lineage event store: the file is not a SQLite database");
    assert_eq!(file_digest(&path), before);
    assert_only_file(dir.path(), "notes.txt");
}

#[test]
fn another_applications_sqlite_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos VALUES (1, 'cat');",
    )
    .unwrap();
    drop(conn);
    let before = file_digest(&path);
    let output = run(&format!("sqlite://{}", path.display()), &["events", "x"]);
    assert_one_line_error(&output, "SQLite database of another application");
    assert_eq!(file_digest(&path), before);
    assert_only_file(dir.path(), "other.db");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let (dir, url, _) = store_with_campaign(3).await;
    let path = dir.path().join("lineage.db");
    rusqlite::Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    let before = file_digest(&path);
    let output = run(&url, &["campaigns"]);
    assert_one_line_error(&output, "uses store schema 99");
    assert_eq!(file_digest(&path), before);
}

#[tokio::test]
async fn a_corrupt_database_file_is_one_clear_line() {
    let (dir, url, campaign) = store_with_campaign(2000).await;
    let path = dir.path().join("lineage.db");
    // Overwrite most pages after the header with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024, "the test needs a multi-page database");
    for (i, b) in bytes[8192..].iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let output = run(&url, &["events", campaign.as_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is damaged") || stderr.contains("not a lineage event store"), "{stderr}");
}

#[tokio::test]
async fn unknown_campaign_is_one_clear_line() {
    let (_dir, url, _) = store_with_campaign(3).await;
    assert_one_line_error(&run(&url, &["events", "no-such-campaign"]), "unknown campaign no-such-campaign");
    assert_one_line_error(&run(&url, &["events", "bad id!"]), "invalid campaign id");
}

#[tokio::test]
async fn a_campaign_is_named_by_its_id_or_a_unique_prefix_of_it() {
    let (_dir, url, _) = store_with_campaign(3).await;
    let store = SqliteStore::open(url.strip_prefix("sqlite://").unwrap()).await.unwrap();
    for name in ["demo-2", "other"] {
        let campaign = CampaignId::new(name).unwrap();
        store.append(&campaign, Seq(0), events(&campaign, "w", 0, 2)).await.unwrap();
    }
    let events_of = |name: &str| run(&url, &["events", name, "--json"]);
    // The whole id, even where it begins another; a unique prefix; not an ambiguous one.
    let lines = |output: Output| String::from_utf8(output.stdout).unwrap().lines().count();
    assert_eq!(lines(events_of("demo-1")), 3);
    assert_eq!(lines(events_of("oth")), 2);
    assert_one_line_error(&events_of("demo"), "\"demo\" begins 2 campaigns (demo-1, demo-2)");
    assert_one_line_error(&events_of("x"), "unknown campaign x");
    let replayed = run(&url, &["replay", "oth", "--json"]);
    assert!(replayed.status.success(), "{}", String::from_utf8_lossy(&replayed.stderr));
}

#[tokio::test]
async fn campaigns_show_their_state_and_filter_and_sort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let of_type = |name: &str| synthetic::one_of_each().into_iter().find(|p| p.type_name() == name).unwrap();
    for (name, lifecycle) in
        [("c-run", vec![]), ("b-paused", vec!["CampaignPaused"]), ("a-done", vec!["CampaignFinished"])]
    {
        let campaign = CampaignId::new(name).unwrap();
        let payloads: Vec<_> =
            std::iter::once(of_type("CampaignStarted")).chain(lifecycle.into_iter().map(of_type)).collect();
        let actor = ActorRef::new("test", "w");
        let events: Vec<NewEvent> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| NewEvent::new(EventId::derive(&campaign, &i.to_string()), actor.clone(), p))
            .collect();
        store.append(&campaign, Seq(0), events).await.unwrap();
    }
    let url = format!("sqlite://{}", path.display());
    let listed = |args: &[&str]| json_lines(&run(&url, &[&["campaigns", "--json"], args].concat()));
    let all = listed(&[]);
    let states: Vec<(&str, &str)> =
        all.iter().map(|c| (c["campaign"].as_str().unwrap(), c["state"].as_str().unwrap())).collect();
    assert_eq!(
        states,
        [("c-run", "unfinished"), ("b-paused", "paused"), ("a-done", "finished")],
        "the store's order"
    );
    assert!(all[0]["seed"].is_string(), "seeds as strings: {}", all[0]["seed"]);
    let names = |cs: Vec<serde_json::Value>| {
        cs.iter().map(|c| c["campaign"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(names(listed(&["--sort", "name"])), ["a-done", "b-paused", "c-run"]);
    assert_eq!(names(listed(&["--state", "paused"])), ["b-paused"]);
    assert_eq!(names(listed(&["--preset", "no-such-preset"])), Vec::<String>::new());
    let text = String::from_utf8(run(&url, &["campaigns"]).stdout).unwrap();
    assert!(text.contains("paused") && text.contains("unfinished") && text.contains("finished"), "{text}");

    // Following a finished campaign ends at its end; --keep-following does not.
    let follow = |extra: &[&str]| {
        lineage(&url)
            .args([&["events", "a-done", "-f"], extra].concat())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut ended = follow(&[]);
    let started = std::time::Instant::now();
    while ended.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "events -f did not end at CampaignFinished"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = ended.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.lines().last().is_some_and(|l| l.contains("CampaignFinished")), "{printed}");
    let mut kept = follow(&["--keep-following"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(kept.try_wait().unwrap().is_none(), "--keep-following goes on after the end");
    kept.kill().unwrap();
    kept.wait().unwrap();
}

#[tokio::test]
async fn events_filter_by_type_actor_architecture_and_time() {
    let (_dir, url, _) = store_with_campaign(120).await;
    let lines = |args: &[&str]| json_lines(&run(&url, &[&["events", "demo-1", "--json"], args].concat()));
    let all = lines(&[]);
    assert_eq!(all.len(), 120);
    let count = |keep: &dyn Fn(&serde_json::Value) -> bool| all.iter().filter(|e| keep(e)).count();

    let fitness = lines(&["--type", "FitnessAssigned", "--type", "AnalysisRecorded"]);
    let expected = count(&|e| e["type"] == "FitnessAssigned" || e["type"] == "AnalysisRecorded");
    assert!(expected > 0);
    assert_eq!(fitness.len(), expected);
    let about = lines(&["--arch", "a-0002"]);
    assert_eq!(about.len(), count(&|e| e["correlation"] == "a-0002"));
    assert!(!about.is_empty());
    // An architecture is named as every command names one (the start of an id: recorded_log.rs).
    assert_one_line_error(
        &run(&url, &["events", "demo-1", "--arch", "a-"]),
        "\"a-\" is ambiguous: a-0001, a-0002",
    );
    assert_one_line_error(&run(&url, &["events", "demo-1", "--arch", "nope"]), "no architecture \"nope\"");
    let kind = all[0]["actor"]["kind"].as_str().unwrap().to_owned();
    assert_eq!(lines(&["--actor", &kind]).len(), count(&|e| e["actor"]["kind"] == kind.as_str()));
    assert_eq!(lines(&["--actor", &format!("{kind}/nobody")]).len(), 0);
    let middle = all[60]["recorded_at"].as_str().unwrap().to_owned();
    let since = lines(&["--since", &middle]);
    assert_eq!(since.len(), count(&|e| e["recorded_at"].as_str().unwrap() >= middle.as_str()));
    assert_one_line_error(&run(&url, &["events", "demo-1", "--type", "Fitness"]), "no such event type");
    assert_one_line_error(&run(&url, &["events", "demo-1", "--since", "today"]), "RFC 3339");
    assert_one_line_error(
        &run(&url, &["events", "demo-1", "--actor", ""]),
        "--actor takes KIND or KIND/NAME",
    );
    assert_one_line_error(
        &run(&url, &["events", "demo-1", "--actor", "test/"]),
        "--actor takes KIND or KIND/NAME",
    );
}

#[test]
fn the_log_says_warnings_plainly_and_heeds_rust_log_and_the_verbosity_flags() {
    // More compute threads than cores is worth a warning.
    let threads = std::thread::available_parallelism().unwrap().get() + 1;
    let stderr = |args: &[&str], rust_log: Option<&str>| {
        let mut command = std::process::Command::new(support::lineage_bin());
        command
            .env_remove("LINEAGE_LOG")
            .env_remove("RUST_LOG")
            .env("RAYON_NUM_THREADS", threads.to_string());
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let output = command
            .args(args)
            .args(["arch", "train", "deltanet", "--steps", "1", "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stderr).unwrap()
    };
    let plain = stderr(&[], None);
    assert!(plain.contains(&format!("WARN {threads} compute threads on ")), "{plain}");
    assert!(!plain.contains("lineage_arch::"), "no module paths for users: {plain}");
    assert_eq!(stderr(&["-q"], None), "", "-q: errors only");
    assert_eq!(stderr(&[], Some("error")), "", "RUST_LOG decides when set");
    let verbose = stderr(&["-v"], None);
    assert!(verbose.contains("lineage_arch::backend"), "-v shows where: {verbose}");
    assert!(!verbose.contains('\u{1b}'), "no colour when stderr is not a terminal");
    assert!(stderr(&["--color", "always"], None).contains('\u{1b}'), "--color always");
}

#[test]
fn a_backend_this_build_lacks_is_one_error_before_anything_trains() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lineage.db").display());
    for (backend, needle) in [
        (
            "no-such-backend",
            "LINEAGE_BACKEND=\"no-such-backend\" is not a backend of this build; it has flex",
        ),
        ("cuda", "LINEAGE_BACKEND=\"cuda\" is not a backend of this build (build with --features cuda)"),
    ]
    .into_iter()
    .filter(|(backend, _)| *backend != "cuda" || cfg!(not(feature = "cuda")))
    {
        let lineage = || {
            let mut command = std::process::Command::new(support::lineage_bin());
            command.env("LINEAGE_BACKEND", backend).env_remove("LINEAGE_LOG").env_remove("RUST_LOG");
            command
        };
        let train = lineage().args(["arch", "train", "deltanet", "--steps", "1"]).output().unwrap();
        assert_one_line_error(&train, needle);
        let campaign = lineage().args(["--store", &url, "run", "--preset", "smoke"]).output().unwrap();
        assert_one_line_error(&campaign, needle);
        assert!(!dir.path().join("lineage.db").exists(), "a refused campaign leaves no store behind");
        // Commands that train nothing do not care.
        assert!(lineage().args(["arch", "baselines"]).output().unwrap().status.success());
    }
}

#[test]
fn completions_and_the_manual_come_from_the_parser() {
    let out = |args: &[&str]| {
        let output = std::process::Command::new(support::lineage_bin()).args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let bash = out(&["completions", "bash"]);
    // The script loads in bash and registers a completion for lineage, with every subcommand.
    let loaded = std::process::Command::new("bash")
        .args(["-c", "eval \"$1\" && complete -p lineage", "-", &bash])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("_lineage lineage"), "{loaded:?}");
    for subcommand in ["serve", "replay", "provenance", "export-arch", "completions"] {
        assert!(bash.contains(subcommand), "bash completion lacks {subcommand}");
        assert!(out(&["completions", "fish"]).contains(subcommand), "fish completion lacks {subcommand}");
    }
    assert!(out(&["completions", "zsh"]).starts_with("#compdef lineage"));
    let manual = out(&["man"]);
    assert!(manual.contains(".TH lineage 1") && manual.contains("serve"), "{manual}");
    let bad =
        std::process::Command::new(support::lineage_bin()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "a bad argument exits 2, as clap's do");
}

#[test]
fn reading_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lineage.db").display());
    assert_one_line_error(&run(&url, &["campaigns"]), "no event store at");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn campaigns_lists_counts_and_head_hashes() {
    let (_dir, url, campaign) = store_with_campaign(42).await;
    let output = run(&url, &["campaigns", "--json"]);
    assert!(output.status.success());
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["campaign"], campaign.as_str());
    assert_eq!(line["events"], 42);
    let store = SqliteStore::open(url.strip_prefix("sqlite://").unwrap()).await.unwrap();
    let head = store.head(&campaign).await.unwrap().unwrap();
    assert_eq!(line["head_hash"], head.hash.to_hex());

    let text = String::from_utf8(run(&url, &["campaigns"]).stdout).unwrap();
    assert!(text.contains("demo-1") && text.contains(&head.hash.to_hex()), "{text}");
}

#[tokio::test]
async fn events_json_lines_carry_the_documented_fields() {
    let (_dir, url, campaign) = store_with_campaign(30).await;
    let output = run(&url, &["events", campaign.as_str(), "--json", "--from", "4"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        output.stdout.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    assert_eq!(lines.len(), 26);
    let mut prev: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        for key in [
            "seq",
            "id",
            "type",
            "version",
            "actor",
            "recorded_at",
            "causation",
            "correlation",
            "prev_hash",
            "hash",
            "payload",
        ] {
            assert!(line.get(key).is_some(), "missing {key} in {line}");
        }
        assert_eq!(line["seq"], 4 + i as u64);
        assert!(line["payload"].is_object());
        if let Some(prev) = &prev {
            assert_eq!(&line["prev_hash"], prev.as_str(), "each line links to the previous one");
        }
        prev = Some(line["hash"].as_str().unwrap().to_owned());
    }
}

#[tokio::test]
async fn events_text_lines_are_one_per_event() {
    let (_dir, url, campaign) = store_with_campaign(16).await;
    let output = run(&url, &["events", campaign.as_str()]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 16);
    assert!(text.lines().next().unwrap().contains("ParentSelected"), "{text}");
    assert!(text.contains("ArchitectureProposed") && text.contains("a-0001"), "{text}");
}

/// The chain rule exactly as docs/events.md states it, checked on raw rows with nothing but SQL
/// and SHA-256: `hash_n = SHA-256(hash_{n-1} || body_n)`, `hash_{-1}` = 32 zero bytes.
#[tokio::test]
async fn the_documented_chain_rule_verifies_raw_rows() {
    let (dir, _url, campaign) = store_with_campaign(50).await;
    let conn = rusqlite::Connection::open(dir.path().join("lineage.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, prev_hash, hash, body FROM lineage_events WHERE campaign = ?1 ORDER BY seq")
        .unwrap();
    let rows = stmt
        .query_map([campaign.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .unwrap();
    let mut prev = [0u8; 32];
    let mut count = 0;
    for row in rows {
        let (seq, prev_hex, hash_hex, body) = row.unwrap();
        assert_eq!(seq, count);
        assert_eq!(prev_hex, hex(&prev));
        let mut input = prev.to_vec();
        input.extend_from_slice(body.as_bytes());
        let hash = Hash::of(&input);
        assert_eq!(hash_hex, hash.to_hex(), "event {seq}");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["seq"], seq);
        prev = hash.0;
        count += 1;
    }
    assert_eq!(count, 50);
    let head: String = conn
        .query_row("SELECT head_hash FROM lineage_campaigns WHERE id = ?1", [campaign.as_str()], |r| r.get(0))
        .unwrap();
    assert_eq!(head, hex(&prev));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn events_stop_at_a_tampered_event_and_fail_naming_it() {
    let (dir, url, campaign) = store_with_campaign(20).await;
    let conn = rusqlite::Connection::open(dir.path().join("lineage.db")).unwrap();
    conn.execute(
        "UPDATE lineage_events SET body = replace(body, '\"step\":', '\"step\" :') WHERE seq = 9",
        [],
    )
    .unwrap();
    let output = run(&url, &["events", campaign.as_str(), "--json"]);
    assert_one_line_error_after_output(&output, "event 9");
    assert_eq!(output.stdout.lines().count(), 9, "events before the tampered one are shown");
}

/// A log rewritten with its chain recomputed, in which an event is about an architecture that no
/// event proposes: replay and provenance refuse it in one line naming the event (they used to
/// panic), and verify fails its reference check.
#[tokio::test]
async fn an_event_about_an_unknown_architecture_is_refused_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let campaign = CampaignId::new("forged").unwrap();
    // CampaignStarted, then an experiment without its ArchitectureProposed: event 2 judges the
    // novelty of a-0001, which nothing proposed.
    let mut payloads = vec![synthetic::one_of_each().remove(0)];
    payloads
        .extend(synthetic::experiment(1).into_iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, p)| p));
    assert_eq!(payloads[2].type_name(), "NoveltyJudged");
    let actor = ActorRef::new("forger", "f");
    let events = payloads.iter().map(|p| NewEvent::new(EventId::random(), actor.clone(), p)).collect();
    store.append(&campaign, Seq(0), events).await.unwrap();
    let url = format!("sqlite://{}", path.display());

    let needle = "event 2 (";
    for args in [&["replay", "forged"][..], &["provenance", "forged", "a-0001"]] {
        let output = run(&url, args);
        assert_one_line_error(&output, needle);
        assert_one_line_error(&output, "is about architecture a-0001, which no earlier event records");
    }
    let output = run(&url, &["verify", "forged"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    // verify checks every reference, so it stops earlier: event 1 selects gated-deltanet, which
    // this log never proposes either.
    assert!(stdout.contains("FAIL references: event 1 "), "{stdout}");
}

fn assert_one_line_error_after_output(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

#[tokio::test]
async fn a_closed_pipe_is_not_an_error() {
    let (_dir, url, campaign) = store_with_campaign(3000).await;
    let mut child = lineage(&url)
        .args(["events", campaign.as_str(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout); // like `| head -1`
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

fn assert_only_file(dir: &Path, name: &str) {
    let names: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(names, vec![dir.join(name)], "no -wal/-shm or other files were created");
}

/// The standalone verifier shipped in examples/ (an independent implementation of the documented
/// rule, in Python) accepts a clean log and names a tampered event.
#[tokio::test]
async fn the_python_verifier_accepts_a_clean_log_and_names_a_tampered_event() {
    let (dir, _url, campaign) = store_with_campaign(40).await;
    let db = dir.path().join("lineage.db");
    let script = &support::repo().join("examples/verify_chain.py");
    let verify = || {
        std::process::Command::new("python3").arg(script).arg(&db).arg(campaign.as_str()).output().unwrap()
    };
    let clean = verify();
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stdout).starts_with("ok: 40 events"));

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE lineage_events SET body = replace(body, ',\"id\"', ', \"id\"') WHERE seq = 17", [])
        .unwrap();
    drop(conn);
    let tampered = verify();
    assert!(!tampered.status.success());
    assert!(
        String::from_utf8_lossy(&tampered.stderr).contains("event 17"),
        "{}",
        String::from_utf8_lossy(&tampered.stderr)
    );
}

/// How the reader of a command's stdout goes away.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// Closed before the command writes anything: its first write fails, every time.
    GoneAtOnce,
    /// Reads the first line, then closes (`| head -1`): a later write fails whenever the
    /// command has more to print than the pipe holds, or is still printing.
    AfterFirstLine,
}

/// Runs `lineage` with `reader` on its stdout; why it did not take the closed pipe as success
/// (a non-zero exit or a panic), if it did not.
fn closed_pipe_failure(store: &str, args: &[String], reader: Reader) -> Option<String> {
    let mut child = lineage(store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    if let Reader::AfterFirstLine = reader {
        stdout.read_line(&mut String::new()).unwrap();
    }
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (!output.status.success() || stderr.contains("panicked"))
        .then(|| format!("lineage {} ({reader:?}): {}: {}", args.join(" "), output.status, stderr.trim()))
}

/// Runs a campaign of one experiment with its stdout closed, and resumes a second one, killed
/// mid-training, the same way; both must still finish and exit 0. Returns the failures.
fn run_and_resume_with_a_closed_pipe(store: &str) -> Vec<String> {
    let run = |name: &str| -> Vec<String> {
        ["run", "--preset", "smoke", "--experiments", "1", "--name", name].map(str::to_owned).to_vec()
    };
    let mut failures: Vec<String> =
        closed_pipe_failure(store, &run("piped"), Reader::GoneAtOnce).into_iter().collect();
    let mut killed =
        lineage(store).args(run("killed")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let path = store.strip_prefix("sqlite://").unwrap();
    let training = || {
        let db =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        db.query_row(
            "SELECT count(*) FROM lineage_events WHERE campaign = 'killed' AND type = 'TrainingProgress'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .ok()
    };
    while training().unwrap_or(0) == 0 {
        assert!(killed.try_wait().unwrap().is_none(), "the campaign ended before it trained");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    let resume = ["resume", "killed"].map(str::to_owned).to_vec();
    failures.extend(closed_pipe_failure(store, &resume, Reader::GoneAtOnce));
    failures
}

/// Every command that prints treats a closed stdout (`lineage … | head -1`) as success: exit 0,
/// no panic. The campaign commands read a real campaign, recorded by `lineage run` here.
#[test]
fn every_printing_command_survives_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());
    let mut failures = run_and_resume_with_a_closed_pipe(&store);
    let plots = dir.path().join("plots").display().to_string();
    let mut commands: Vec<String> = [
        "campaigns",
        "campaigns --json",
        "events piped",
        "events piped --json",
        "events piped --follow",
        "replay piped",
        "replay piped --json",
        "replay piped --until 40 --json",
        "replay piped --fitness loss=0,bench=1,judge=0 --policy parents=1-2",
        "replay piped --fitness loss=0,bench=1,judge=0 --json",
        "verify piped",
        "anchor piped",
        "anchor piped --json",
        "provenance piped e0001",
        "provenance piped e0001 --format json",
        "provenance piped e0001 --format dot",
        "provenance piped e0001 --format prov",
        "export piped",
        "export piped --format jsonl",
        "arch baselines",
        "arch baselines --json",
        "arch show deltanet",
        "arch show deltanet --canonical",
        "arch diff deltanet gated_deltanet",
        "arch check deltanet",
        "arch check deltanet --json",
        "arch train deltanet --steps 2 --batch 2",
        "arch train deltanet --steps 2 --batch 2 --json",
        "bench store --events 2 --batch 1 --single 1 --latency-samples 1",
        "bench store --events 2 --batch 1 --single 1 --latency-samples 1 --json",
        "bench replay --events 15",
        "bench replay --events 15 --json",
        "bench attach --samples 1",
        "bench attach --samples 1 --json",
        "bench campaign piped",
        "bench campaign piped --json",
    ]
    .map(str::to_owned)
    .to_vec();
    commands.push(format!("plot piped --out {plots}"));
    for reader in [Reader::GoneAtOnce, Reader::AfterFirstLine] {
        for command in &commands {
            let args: Vec<String> = command.split(' ').map(str::to_owned).collect();
            failures.extend(closed_pipe_failure(&store, &args, reader));
        }
        // Each attach with a checkpoint of its own, so each one catches up and reports.
        for (i, format) in ["", " --json"].iter().enumerate() {
            let checkpoint = dir.path().join(format!("attach-{reader:?}-{i}.json")).display().to_string();
            let command = format!("attach piped --analyst pareto --once --checkpoint {checkpoint}{format}");
            let args: Vec<String> = command.split(' ').map(str::to_owned).collect();
            failures.extend(closed_pipe_failure(&store, &args, reader));
        }
    }
    // Training benchmarks take seconds each: once per format, with the pipe gone at once.
    for command in
        ["bench train --steps 2 --baseline deltanet", "bench train --steps 2 --baseline deltanet --json"]
    {
        let args: Vec<String> = command.split(' ').map(str::to_owned).collect();
        failures.extend(closed_pipe_failure(&store, &args, Reader::GoneAtOnce));
    }
    assert!(failures.is_empty(), "commands that failed on a closed pipe:\n{}", failures.join("\n"));
}

/// The campaign recorded in `tests/fixtures/recorded-v1`.
const RECORDED: &str = "recorded-v1";

/// A copy of the recorded campaign's database in `dir`.
fn recorded_copy(dir: &Path) -> PathBuf {
    let path = dir.join("lineage.db");
    let fixture = support::repo().join("tests/fixtures/recorded-v1/lineage.db");
    std::fs::copy(fixture, &path).unwrap();
    path
}

/// Every reading command, each reading the whole recorded campaign; `plot` writes into `figures`.
fn reading_commands(figures: &Path) -> Vec<Vec<String>> {
    let figures = figures.display().to_string();
    [
        vec!["campaigns"],
        vec!["events", RECORDED, "--json"],
        vec!["verify", RECORDED],
        vec!["replay", RECORDED, "--json"],
        vec!["provenance", RECORDED, "e0001", "--format", "json"],
        vec!["export", RECORDED, "--format", "csv"],
        vec!["plot", RECORDED, "--out", &figures],
        vec!["bench", "campaign", RECORDED, "--json"],
    ]
    .iter()
    .map(|args| args.iter().map(|a| a.to_string()).collect())
    .collect()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Puts modes back when a test ends, so that its temporary directory can be removed.
struct RestoreModes(Vec<(PathBuf, u32)>);

impl Drop for RestoreModes {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        for (path, mode) in &self.0 {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode));
        }
    }
}

/// As root: a command prefix that runs a program as `nobody` (`runuser`, else `setpriv`), if one
/// works here. Not as root, `None`: this process is unprivileged already.
fn as_nobody() -> Option<Vec<&'static str>> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let candidates: [&[&'static str]; 2] = [
        &["runuser", "-u", "nobody", "--"],
        &["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"],
    ];
    candidates.into_iter().map(|prefix| prefix.to_vec()).find(|prefix| {
        std::process::Command::new(prefix[0])
            .args(&prefix[1..])
            .arg("true")
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

/// The `lineage` binary where any user may run it (the build directory may be private).
fn public_binary(dir: &Path) -> PathBuf {
    let bin = dir.join("lineage");
    if std::fs::hard_link(support::lineage_bin(), &bin).is_err() {
        std::fs::copy(support::lineage_bin(), &bin).unwrap();
    }
    set_mode(&bin, 0o755);
    bin
}

/// Runs every reading command through `runner` and checks that each succeeds and leaves the
/// store's directory holding the unchanged database file alone.
fn reads_change_nothing(who: &str, runner: &dyn Fn(&[String]) -> Output, db: &Path) {
    let digest = file_digest(db);
    // Figures go to a directory anyone may write.
    let figures = tempfile::tempdir().unwrap();
    set_mode(figures.path(), 0o777);
    for args in reading_commands(figures.path()) {
        let output = runner(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{who}: lineage {} failed: {stderr}", args.join(" "));
        if args[0] == "verify" {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains(&format!("campaign {RECORDED} verified")), "{who}: {stdout}");
        }
        assert_only_file(db.parent().unwrap(), "lineage.db");
        assert_eq!(file_digest(db), digest, "{who}: lineage {} changed the database", args.join(" "));
    }
}

/// Auditing a store one may only read: the database file has mode 0444 and its directory 0555.
/// Every reading command succeeds, changes no byte of the file, and creates no `-wal`/`-shm`
/// file beside it. Run as root (where the modes bind nobody) the same commands run again as
/// `nobody`, for whom they do; and as `nobody` once more with the directory's mode saying
/// "writable" (0755) although it belongs to root, which only SQLite's refusal reveals.
#[test]
fn reading_commands_audit_a_store_they_may_not_write_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = recorded_copy(dir.path());
    let url = format!("sqlite://{}", db.display());
    let _restore = RestoreModes(vec![(dir.path().to_owned(), 0o755), (db.clone(), 0o644)]);
    set_mode(&db, 0o444);
    set_mode(dir.path(), 0o555);
    let as_this_user = |args: &[String]| run(&url, &args.iter().map(String::as_str).collect::<Vec<_>>());
    reads_change_nothing("this user", &as_this_user, &db);

    let Some(prefix) = as_nobody() else {
        eprintln!(
            "not run as another user: {}",
            if unsafe { libc::geteuid() } != 0 {
                "this test runs unprivileged already, so the modes above were enforced"
            } else {
                "neither runuser nor setpriv can switch to nobody here"
            }
        );
        return;
    };
    let bin_dir = tempfile::tempdir().unwrap();
    set_mode(bin_dir.path(), 0o755);
    let bin = public_binary(bin_dir.path());
    let as_nobody = |args: &[String]| {
        std::process::Command::new(prefix[0])
            .args(&prefix[1..])
            .arg(&bin)
            .env_remove("LINEAGE_STORE")
            .env_remove("LINEAGE_LOG")
            .args(["--store", &url])
            .args(args)
            .output()
            .unwrap()
    };
    eprintln!("running the reading commands as nobody with {}", prefix[0]);
    reads_change_nothing("nobody, directory 0555", &as_nobody, &db);
    set_mode(dir.path(), 0o755);
    set_mode(&db, 0o644);
    reads_change_nothing("nobody, directory 0755 of root", &as_nobody, &db);
}

#[test]
fn an_empty_file_is_not_a_store_for_reading_commands_and_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    std::fs::write(&path, b"").unwrap();
    let url = format!("sqlite://{}", path.display());
    assert_one_line_error(&run(&url, &["campaigns"]), "nothing has been recorded there yet");
    assert_one_line_error(&run(&url, &["verify", "x"]), "nothing has been recorded there yet");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    assert_only_file(dir.path(), "lineage.db");
}

/// A campaign whose PostgreSQL sessions the server ends (what a restart does) reconnects and
/// carries on: it finishes by itself, says once on stderr that it lost and regained the
/// connection (naming the store without a password), and the log verifies.
#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_whose_postgres_sessions_are_ended_reconnects_and_finishes() {
    let url = support::postgres::fresh_database().await;
    let database = url.rsplit('/').next().unwrap().to_owned();
    let name = "pg-lost";
    let mut child = lineage(&url)
        .args(["run", "--preset", "smoke", "--seed", "2", "--name", name, "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // Mid-training of a baseline, as in tests/campaign.rs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let progress: i64 = client
            .query_one(
                "SELECT count(*) FROM lineage_events WHERE campaign = $1 AND type = 'TrainingProgress'",
                &[&name],
            )
            .await
            .map_or(0, |row| row.get(0)); // no table yet
        if progress >= 3 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the campaign ended before its connections were cut");
        assert!(std::time::Instant::now() < deadline, "the campaign never started training");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let terminated: i64 = client
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM
             (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) AS s",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(terminated >= 1, "no session of the campaign was found");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the campaign stopped at a lost connection: {stderr}");
    assert!(stderr.contains("postgres://"), "the reconnect is said, naming the store: {stderr}");
    assert!(stderr.contains(&format!("/{database}")), "{stderr}");
    if let Some((_, password)) =
        url.split_once("://").and_then(|(_, rest)| rest.split_once('@')?.0.split_once(':'))
    {
        assert!(!stderr.contains(password), "the password is printed: {stderr}");
    }
    let verify = lineage(&url).args(["verify", name]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[tokio::test]
async fn text_a_model_wrote_reaches_the_terminal_escaped_and_the_json_as_recorded() {
    const HOSTILE: &str = "A\u{1b}[31mRED\u{1b}]0;pwned\u{7} \u{202e}DESREVER\r done";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let campaign = CampaignId::new("hostile").unwrap();
    let events =
        synthetic::seed_campaign(&campaign, "seed", "mixer m {\n  return proj(x, d)\n}\n", HOSTILE, "seed");
    store.append(&campaign, Seq(0), events).await.unwrap();
    let url = format!("sqlite://{}", path.display());

    let escaped = "A\\u{1b}[31mRED\\u{1b}]0;pwned\\u{7} \\u{202e}DESREVER\\u{d} done";
    for args in [&["events", "hostile"][..], &["provenance", "hostile", "seed", "--format", "text"]] {
        let out = run(&url, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(escaped), "{args:?}: {text}");
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}', '\r']), "{args:?} shows it raw: {text:?}");
    }
    // JSON is data: the text as recorded, in JSON's own escapes.
    let json = json_lines(&run(&url, &["events", "hostile", "--json"]));
    assert_eq!(json[1]["payload"]["motivation"], HOSTILE);
}
