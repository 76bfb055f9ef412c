//! Bad input that reaches past argument parsing: a store whose head disagrees with its events,
//! a name already taken, files already there, counterfactuals that mean nothing. Each is one
//! clear line and a non-zero exit, with nothing written, nothing overwritten, and no hang.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use support::{file_digest, lineage};

/// The recorded campaign (tests/fixtures/recorded-v1), 259 events, copied into `dir`.
fn recorded_copy(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("lineage.db");
    std::fs::copy(support::repo().join("tests/fixtures/recorded-v1/lineage.db"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    (path, url)
}

fn sql(db: &Path, statement: &str) {
    rusqlite::Connection::open(db).unwrap().execute_batch(statement).unwrap();
}

/// Runs the command; a refusal must not hang, so one still running after a minute is killed
/// and fails the test. Output goes to files, so that a full pipe cannot stall it.
fn run(url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = lineage(url)
        .args(args)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("lineage {args:?} still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: std::fs::read(out).unwrap(), stderr: std::fs::read(err).unwrap() }
}

/// A new directory `name` in `dir`.
fn subdir(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir(&path).unwrap();
    path
}

/// Failed with one line on stderr containing `needle`.
fn assert_refused(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got:\n{stderr}");
    assert!(stderr.starts_with("lineage: error: ") && stderr.contains(needle), "{needle:?} not in: {stderr}");
}

#[test]
fn a_head_that_disagrees_with_the_events_is_named_by_every_command_and_resume_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    // Events 250.. deleted, the head still says 259: missing at the end.
    let (missing, missing_url) = recorded_copy(&subdir(dir.path(), "missing"));
    sql(&missing, "DELETE FROM lineage_events WHERE seq >= 250");
    // The head moved back one event: the last event lies past it.
    let (past, past_url) = recorded_copy(&subdir(dir.path(), "past"));
    sql(
        &past,
        "UPDATE lineage_campaigns SET head_seq = 258,
           head_hash = (SELECT hash FROM lineage_events WHERE seq = 257)",
    );
    for (db, url, needle) in [
        (
            &missing,
            &missing_url,
            "event 250: log ends early: the store's head says 259 events, but event 250 is not there",
        ),
        (
            &past,
            &past_url,
            "event 258: log runs past the store's head: the head says 258 events, 259 present",
        ),
    ] {
        let before = file_digest(db);
        for args in [
            &["replay", "recorded-v1"][..],
            &["events", "recorded-v1"],
            // Following stops at the campaign's end, event 258, once the head vouches for it.
            &["events", "recorded-v1", "--follow"],
            &["export", "recorded-v1"],
            &["campaigns"],
            &["resume", "recorded-v1", "--experiments", "20"],
        ] {
            assert_refused(&run(url, args), needle);
        }
        assert_eq!(file_digest(db), before, "nothing written");
    }
}

#[test]
fn a_damaged_campaign_is_listed_as_damaged_and_the_others_still_are() {
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = recorded_copy(dir.path());
    // The recorded log copied under another id: each body names recorded-v1, so `copied`
    // fails its placement check at event 0, while recorded-v1 stays whole.
    sql(
        &db,
        "INSERT INTO lineage_events SELECT 'copied', seq, id, type, recorded_at, prev_hash, hash, body
           FROM lineage_events WHERE campaign = 'recorded-v1';
         INSERT INTO lineage_campaigns SELECT 'copied', head_seq, head_hash, created_at, updated_at
           FROM lineage_campaigns WHERE id = 'recorded-v1';",
    );
    let before = file_digest(&db);
    let needle = "campaign copied is damaged: event 0 (0dc10748514076e78c0ef343ff16b3e4): body records campaign \
                  recorded-v1, but it is stored as copied";

    let listed = run(&url, &["campaigns"]);
    assert_refused(&listed, needle);
    let rows: Vec<Vec<String>> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().take(3).map(str::to_owned).collect())
        .collect();
    assert_eq!(rows, [["copied", "damaged", "-"], ["recorded-v1", "finished", "smoke"]]);

    // A damaged campaign is listed whatever the filters, and only it under `--state damaged`.
    for (args, expected) in [
        (&["campaigns", "--json", "--state", "finished"][..], &["copied", "recorded-v1"][..]),
        (&["campaigns", "--json", "--state", "damaged"], &["copied"]),
    ] {
        let output = run(&url, args);
        assert_refused(&output, needle);
        let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let names: Vec<&str> = listed.iter().map(|l| l["campaign"].as_str().unwrap()).collect();
        assert_eq!(names, expected, "{args:?}");
        assert_eq!(listed[0]["state"], "damaged");
        assert_eq!(listed[0]["experiments"], serde_json::Value::Null, "unknown, not 0");
    }
    // The healthy campaign is still read by every other command.
    let replayed = run(&url, &["replay", "recorded-v1"]);
    assert!(replayed.status.success(), "{}", String::from_utf8_lossy(&replayed.stderr));
    assert_eq!(file_digest(&db), before, "nothing written");
}

#[test]
fn a_new_campaign_cannot_take_another_campaigns_name_and_a_refused_run_leaves_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = recorded_copy(dir.path());
    let renamed = run(&url, &["campaigns", "rename", "recorded-v1", "taken"]);
    assert!(renamed.status.success(), "{}", String::from_utf8_lossy(&renamed.stderr));
    let before = file_digest(&db);
    assert_refused(
        &run(&url, &["run", "--preset", "smoke", "--name", "taken"]),
        "name \"taken\" is already campaign recorded-v1's: pick another",
    );
    assert_eq!(file_digest(&db), before);

    // A model that cannot be reached is refused before anything is recorded, and the store the
    // run would have created is not left behind.
    let empty = subdir(dir.path(), "empty");
    let output = run(
        &format!("sqlite://{}", empty.join("fresh.db").display()),
        &["run", "--preset", "smoke", "--llm", "http://127.0.0.1:1/v1", "--model", "m"],
    );
    assert_refused(&output, "cannot be reached");
    let left: Vec<_> = std::fs::read_dir(&empty).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_export_refuses_sizes_past_its_limits_and_a_seed_it_would_ignore_leaving_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = recorded_copy(dir.path());
    let out = dir.path().join("out");
    let to = out.to_str().unwrap();
    for (args, expected) in [
        (&["export-arch", "deltanet", "--pytorch", to, "--vocab", "0"][..], "--vocab = 0 is out of range"),
        (&["export-arch", "deltanet", "--pytorch", to, "--layers", "0"], "--layers = 0 is out of range"),
        (&["export-arch", "deltanet", "--pytorch", to, "--d-model", "100000"], "--d-model = 100000"),
        (
            &[
                "export-arch",
                "deltanet",
                "--pytorch",
                to,
                "--d-model",
                "4096",
                "--layers",
                "128",
                "--vocab",
                "1000000",
            ],
            "is over the export's limit of 1073741824",
        ),
        (
            &["export-arch", "recorded-v1", "e0001", "--pytorch", to, "--seed", "5"],
            "but e0001's are its trained run's",
        ),
    ] {
        assert_refused(&run(&url, args), expected);
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
}

#[test]
fn an_export_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("model.py"), "my own model\n").unwrap();
    let unused = format!("sqlite://{}", dir.path().join("unused.db").display());
    assert_refused(
        &run(&unused, &["export-arch", "deltanet", "--pytorch", out.to_str().unwrap()]),
        "already has model.py: export to another directory, or delete it first",
    );
    assert_eq!(std::fs::read_to_string(out.join("model.py")).unwrap(), "my own model\n");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "nothing else written");
    // A dangling link is not written through either.
    let target = dir.path().join("elsewhere.py");
    std::fs::remove_file(out.join("model.py")).unwrap();
    std::os::unix::fs::symlink(&target, out.join("model.py")).unwrap();
    assert_refused(
        &run(&unused, &["export-arch", "deltanet", "--pytorch", out.to_str().unwrap()]),
        "already has model.py",
    );
    assert!(!target.exists());
}

#[test]
fn counterfactuals_and_time_travel_that_mean_nothing_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = recorded_copy(dir.path());
    for (args, needle) in [
        (&["--fitness", "loss=1,loss=0"][..], "--fitness: loss is given twice"),
        (&["--fitness", "loss=0,bench=0,judge=0"], "the weights are all 0"),
        (&["--policy", "pool=0"], "--policy: pool = 0 is out of range: allowed 1..=10000"),
        (&["--policy", "parents=1-20000"], "--policy: parents = 20000 is out of range"),
        (&["--until", "259"], "campaign recorded-v1 has events 0 to 258; there is no event 259"),
    ] {
        let mut full = vec!["replay", "recorded-v1"];
        full.extend_from_slice(args);
        assert_refused(&run(&url, &full), needle);
    }
    let last = run(&url, &["replay", "recorded-v1", "--until", "258"]);
    assert!(last.status.success(), "{}", String::from_utf8_lossy(&last.stderr));
}

#[test]
fn a_program_argument_out_of_range_is_reported_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let unused = format!("sqlite://{}", dir.path().join("unused.db").display());
    let shown = run(&unused, &["arch", "show", "deltanet"]);
    let source = String::from_utf8(shown.stdout).unwrap();
    assert!(source.contains("conv(proj(x, d), 4)"), "{source}");
    for (kernel, needle) in [
        ("9", "expected a kernel length: a whole number from 1 to 8, not 9"),
        ("100000000000", "from 1 to 8, not 100000000000"),
        ("1e300", "from 1 to 8, not 1e300"),
    ] {
        let path = dir.path().join(format!("k{kernel}.arch"));
        std::fs::write(
            &path,
            source.replacen("conv(proj(x, d), 4)", &format!("conv(proj(x, d), {kernel})"), 1),
        )
        .unwrap();
        let output = run(&unused, &["arch", "check", path.to_str().unwrap()]);
        assert!(!output.status.success());
        // The report (stdout) names the argument.
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(report.contains(needle), "{needle:?} not in:\n{report}");
    }
    let binary = dir.path().join("binary.arch");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    assert_refused(&run(&unused, &["arch", "check", binary.to_str().unwrap()]), "is not UTF-8 text");
}
