//! `lineage serve` in a real browser: headless Chromium driven through chromedriver (WebDriver,
//! spoken with plain HTTP), against a real campaign in a real SQLite store.
//!
//! A smoke campaign is started and killed part-way; the dashboard is opened on it; then the
//! campaign is resumed into the same store while the page is open. The test checks that the
//! campaign is listed, that an event committed after the page opened shows in it within a second
//! (timed by the page itself against the event's recorded time), that the live leaderboard ends
//! as `lineage replay --json` has it, that an architecture page shows its program and its
//! provenance graph, and that the time slider shows the campaign as it stood earlier. It saves a
//! screenshot of each page in its temporary folder, and also in `LINEAGE_DASHBOARD_FIGURES` when
//! that names a folder (how docs/figures/ was made).
//!
//! Needs `chromium` and `chromedriver` (Debian: chromium, chromium-driver). Without them the test
//! says so and passes, unless `LINEAGE_REQUIRE_BROWSER=1` (what CI sets: it installs them).

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use support::lineage;

/// How long anything the test waits for may take before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// Kills a child process when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A WebDriver session on headless Chromium.
struct Browser {
    endpoint: String,
    _driver: Reaped,
}

impl Browser {
    fn start() -> Option<Browser> {
        let chromium = ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(which)?;
        which("chromedriver")?;
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let driver = Reaped(driver);
        let base = format!("http://127.0.0.1:{port}");
        until("chromedriver", || ureq::get(&format!("{base}/status")).call().ok());
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"],
            },
        }}});
        let session = post(&format!("{base}/session"), &capabilities);
        let id = session["value"]["sessionId"].as_str().expect("a WebDriver session").to_owned();
        Some(Browser { endpoint: format!("{base}/session/{id}"), _driver: driver })
    }

    fn open(&self, url: &str) {
        post(&format!("{}/url", self.endpoint), &json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn eval(&self, script: &str) -> Value {
        post(&format!("{}/execute/sync", self.endpoint), &json!({ "script": script, "args": [] }))["value"]
            .take()
    }

    fn text(&self, selector: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(selector)
        );
        self.eval(&script).as_str().unwrap_or_default().to_owned()
    }

    fn screenshot(&self, to: &[&Path], name: &str) {
        let reply = get_json(&format!("{}/screenshot", self.endpoint));
        let png = base64::engine::general_purpose::STANDARD.decode(reply["value"].as_str().unwrap()).unwrap();
        for dir in to {
            std::fs::write(dir.join(name), &png).unwrap();
        }
    }
}

fn post(url: &str, body: &Value) -> Value {
    let reply = ureq::post(url).header("Content-Type", "application/json").send(body.to_string());
    read_json(reply.unwrap_or_else(|e| panic!("POST {url}: {e}")))
}

fn get_json(url: &str) -> Value {
    read_json(ureq::get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")))
}

fn read_json(mut reply: ureq::http::Response<ureq::Body>) -> Value {
    let text = reply.body_mut().with_config().limit(1 << 26).read_to_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn which(name: &str) -> Option<String> {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
    found.status.success().then(|| String::from_utf8_lossy(&found.stdout).trim().to_owned())
}

fn json_of(command: &mut Command) -> Value {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn events_in(store: &str, campaign: &str) -> usize {
    let out = lineage(store).args(["events", campaign]).output().unwrap();
    if out.status.success() { String::from_utf8_lossy(&out.stdout).lines().count() } else { 0 }
}

#[test]
fn the_dashboard_follows_a_campaign_live_in_a_real_browser() {
    let Some(browser) = Browser::start() else {
        let required = std::env::var("LINEAGE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "LINEAGE_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed");
        eprintln!("skipped: chromium and chromedriver are not installed (Debian: chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut shots: Vec<&Path> = vec![dir.path()];
    let figures = std::env::var_os("LINEAGE_DASHBOARD_FIGURES").map(PathBuf::from);
    shots.extend(figures.as_deref());
    let store = format!("sqlite://{}", dir.path().join("lineage.db").display());

    // A campaign stopped part-way, as after a crash.
    let run = ["run", "--preset", "smoke", "--seed", "4", "--name", "dash", "--experiments", "12"];
    let mut first =
        Reaped(lineage(&store).args(run).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    until("the campaign's first experiments", || (events_in(&store, "dash") > 60).then_some(()));
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    let mut serve = Reaped(
        lineage(&store).args(["serve", "--bind", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap(),
    );
    // Kept open to the end: serve's later lines must not meet a closed pipe.
    let mut serve_stderr = BufReader::new(serve.0.stderr.take().unwrap());
    let mut line = String::new();
    serve_stderr.read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("serve prints its address");
    let url = url.trim_end_matches('/').to_owned();

    // The campaign appears.
    browser.open(&format!("{url}/"));
    assert!(browser.text("table.campaigns").contains("dash"), "the index lists the campaign");
    browser.screenshot(&shots, "dashboard-campaigns.png");

    // Open its page, wait until it follows the log, then resume the campaign.
    browser.open(&format!("{url}/campaigns/dash"));
    until("the page to go live", || browser.text("#live-status").starts_with("live").then_some(()));
    let mut resumed = Reaped(
        lineage(&store).args(["resume", "dash"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let (seq, received_ms) = until("a new event in the open page", || {
        let fresh = browser.eval(
            "const fresh = document.querySelectorAll('#feed tr.fresh'); const r = fresh[fresh.length - 1]; \
             return r ? [r.children[0].textContent, Number(r.dataset.received)] : null;",
        );
        let seq: u64 = fresh.get(0)?.as_str()?.trim_start_matches('#').parse().ok()?;
        Some((seq, fresh.get(1)?.as_f64()?))
    });
    let event = get_json(&format!("{url}/api/campaigns/dash/events/{seq}"));
    let recorded = chrono::DateTime::parse_from_rfc3339(event["recorded_at"].as_str().unwrap()).unwrap();
    let latency_ms = received_ms - recorded.timestamp_millis() as f64;
    eprintln!("event {seq} showed in the open page {latency_ms:.0} ms after it was recorded");
    assert!(latency_ms < 1000.0, "event {seq} showed {latency_ms:.0} ms after it was recorded");

    // The campaign finishes; the live leaderboard ends as `lineage replay --json` has it.
    assert!(resumed.0.wait().unwrap().success(), "the resumed campaign finished");
    let replayed = json_of(lineage(&store).args(["replay", "dash", "--json"]));
    let top = &replayed["leaderboard"][0];
    let expected = format!("{} {:.4}", top["arch"].as_str().unwrap(), top["fitness"].as_f64().unwrap());
    until("the live leaderboard to reach the end", || {
        let row = browser.eval(
            "const r = document.querySelector('table.leaderboard tbody tr'); \
             return r ? r.children[1].textContent + ' ' + r.children[2].textContent : null;",
        );
        let finished = browser.text("#feed").contains("CampaignFinished");
        // The sections refresh a moment after the events: wait for the last one.
        let counted =
            browser.text("#events").replace(',', "").parse::<u64>().ok() == replayed["events"].as_u64();
        (finished && counted && row.as_str() == Some(expected.as_str())).then_some(())
    });
    browser.screenshot(&shots, "dashboard-campaign.png");

    // The top architecture's page: its program as recorded, and its provenance graph.
    let arch = top["arch"].as_str().unwrap();
    let provenance = json_of(lineage(&store).args(["provenance", "dash", arch, "--format", "json"]));
    let program =
        provenance["lineage"].as_array().unwrap().last().unwrap()["program"].as_str().unwrap().to_owned();
    browser.open(&format!("{url}/campaigns/dash/archs/{arch}"));
    assert_eq!(browser.text("pre.program"), program.trim_end(), "the page shows the recorded program");
    let steps = browser.eval("return document.querySelectorAll('svg.provenance rect.step').length;");
    assert_eq!(
        steps.as_u64(),
        Some(provenance["lineage"].as_array().unwrap().len() as u64),
        "one box per step"
    );
    browser.screenshot(&shots, "dashboard-arch.png");

    // The time slider: the campaign as it stood after event 40.
    browser.open(&format!("{url}/campaigns/dash?at=40"));
    assert_eq!(browser.text("#events"), "41");
    assert!(browser.text("#showing").contains("after event 40"), "{}", browser.text("#showing"));
    let earlier = json_of(lineage(&store).args(["replay", "dash", "--until", "40", "--json"]));
    let rows = browser.eval("return document.querySelectorAll('table.leaderboard tbody tr').length;");
    assert_eq!(rows.as_u64(), Some(earlier["leaderboard"].as_array().unwrap().len() as u64));
    assert_eq!(browser.text("#experiments"), earlier["experiments"].to_string());
    browser.screenshot(&shots, "dashboard-slider.png");

    browser.open(&format!("{url}/campaigns/dash/events/{seq}"));
    assert!(browser.text("pre.json").contains(event["id"].as_str().unwrap()));
    browser.screenshot(&shots, "dashboard-event.png");
}
