//! The PostgreSQL store rides through server restarts: on a real server of the test's own
//! (`support::postgres::PrivateCluster`), stopped — as a crash does, or as an administrator
//! does — and started again under load, writers, readers and followers reconnect with backoff
//! and carry on, and no acknowledged event is lost or written twice.
//!
//! A TCP proxy in front of the server cuts the writer's connection at a chosen point of an
//! append, to show both sides of the ambiguous case: an append cut off after it committed is
//! found in place by the retry, one cut off before it committed commits once.
//!
//! No case measures time: waits are hang guards, far longer than the reconnect window.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lineage_events::{
    CampaignId, EventId, EventStore, Seq, StoreError, Subscription, open_store, open_store_read_only,
    verify_campaign,
};
use support::postgres::PrivateCluster;
use support::{append_at_head, campaign, events};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::NoTls;

/// How long a condition may take to become true before the test fails: a hang guard, well past
/// the store's reconnect window, never a measurement.
const PATIENCE: Duration = Duration::from_secs(300);

/// Waits until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first column of the first row of `query` on a new connection; `None` while the server
/// cannot be reached.
async fn query_i64(url: &str, query: &str) -> Option<i64> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.ok()?;
    tokio::spawn(connection);
    client.query_one(query, &[]).await.ok().map(|row| row.get(0))
}

async fn sql(url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Runs a `pg_ctl` step on the cluster off the runtime's threads.
async fn on_cluster(cluster: &Arc<PrivateCluster>, step: impl FnOnce(&PrivateCluster) + Send + 'static) {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || step(&cluster)).await.unwrap();
}

fn database(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Every event id of the log, in order.
async fn log_ids(store: &dyn EventStore, c: &CampaignId) -> Vec<EventId> {
    let mut ids = Vec::new();
    loop {
        let batch = store.read(c, Seq(ids.len() as u64), 1_000).await.unwrap();
        if batch.is_empty() {
            return ids;
        }
        ids.extend(batch.iter().map(|e| e.id));
    }
}

/// The sessions of `db` that are LISTENing (their last statement).
fn listening_sessions(db: &str) -> String {
    format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND query = 'LISTEN lineage_events'"
    )
}

/// One writer, as an actor writes: appends a batch at its own idea of the head and, on a
/// conflict, re-reads the head and appends again. Runs until `stop`; returns every batch that was
/// acknowledged, in order. `acked` counts acknowledged events across writers.
async fn write_until(
    store: Arc<dyn EventStore>,
    c: CampaignId,
    writer: &'static str,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Vec<Vec<EventId>> {
    let mut batches: Vec<Vec<EventId>> = Vec::new();
    let mut head = Seq(0);
    let mut written = 0;
    while !stop.load(Ordering::Relaxed) {
        let n = 1 + batches.len() % 4;
        let batch = events(&c, writer, written, n);
        loop {
            match store.append(&c, head, batch.clone()).await {
                Ok(appended) => {
                    head = appended.head.next;
                    break;
                }
                Err(StoreError::Conflict { .. }) => {
                    head = store
                        .head(&c)
                        .await
                        .unwrap_or_else(|e| panic!("writer {writer}: reading the head: {e}"))
                        .map_or(Seq(0), |h| h.next);
                }
                Err(e) => panic!("writer {writer}: append failed: {e}"),
            }
        }
        batches.push(batch.iter().map(|e| e.id).collect());
        written += n;
        acked.fetch_add(n, Ordering::Relaxed);
    }
    batches
}

/// Two writers (each its own store handle, as two processes have) append continuously while a
/// follower on a third, read-only handle reads along; the server is stopped twice under that
/// load — once as in a crash (`immediate`), once as an administrator does (`fast`, 57P01) — and
/// started again after a while down. Every acknowledged event is in the log exactly once, in the
/// order its writer had it acknowledged; nothing else is; the chain verifies; the follower saw
/// every event in log order; the writers went on after each restart; every handle LISTENs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_and_a_follower_carry_on_through_two_restarts() {
    let cluster = Arc::new(PrivateCluster::start());
    let url = cluster.fresh_database().await;
    let admin = cluster.url("postgres");
    let db = database(&url);
    let c = campaign("restarts");
    let writers = [open_store(&url).await.unwrap(), open_store(&url).await.unwrap()];
    let reader = open_store_read_only(&url).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = writers
        .iter()
        .zip(["a", "b"])
        .map(|(store, name)| {
            tokio::spawn(write_until(store.clone(), c.clone(), name, stop.clone(), acked.clone()))
        })
        .collect();
    // The follower stops at an end marker appended after the writers stopped.
    let end = events(&c, "end", 0, 1);
    let end_id = end[0].id;
    let follower = tokio::spawn({
        let (reader, c) = (reader.clone(), c.clone());
        async move {
            let mut follow = Subscription::new(reader, c, Seq(0));
            let mut seen = Vec::new();
            loop {
                let event = follow.next().await.unwrap_or_else(|e| panic!("the follower failed: {e}"));
                seen.push(event.id);
                if event.id == end_id {
                    return seen;
                }
            }
        }
    });

    let acked_at_least = |n: usize| {
        let acked = acked.clone();
        move || {
            let acked = acked.clone();
            async move { acked.load(Ordering::Relaxed) >= n }
        }
    };
    eventually("the writers are under way", acked_at_least(50)).await;
    assert_eq!(query_i64(&admin, &listening_sessions(&db)).await, Some(3), "one LISTEN per handle");
    for (round, mode) in ["immediate", "fast"].into_iter().enumerate() {
        let before = acked.load(Ordering::Relaxed);
        on_cluster(&cluster, move |cluster| match mode {
            "immediate" => cluster.stop(),
            _ => cluster.stop_fast(),
        })
        .await;
        // Down for a while, so that the stores find it refusing connections and back off.
        tokio::time::sleep(Duration::from_millis(700)).await;
        on_cluster(&cluster, PrivateCluster::start_again).await;
        eventually(
            &format!("the writers append after restart {round} ({mode})"),
            acked_at_least(before + 50),
        )
        .await;
        let listening = listening_sessions(&db);
        eventually(&format!("every handle LISTENs again after restart {round}"), || {
            let (admin, listening) = (admin.clone(), listening.clone());
            async move { query_i64(&admin, &listening).await == Some(3) }
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(tokio::time::timeout(PATIENCE, task).await.expect("a writer hung").unwrap());
    }
    append_at_head(&*writers[0], &c, end).await;
    let seen = tokio::time::timeout(PATIENCE, follower).await.expect("the follower hung").unwrap();

    let head = verify_campaign(&*reader, &c).await.unwrap();
    let log = log_ids(&*reader, &c).await;
    assert_eq!(log.len() as u64, head.next.0);
    assert_eq!(log.iter().collect::<HashSet<_>>().len(), log.len(), "an event is in the log twice");
    for (name, batches) in ["a", "b"].iter().zip(&acknowledged) {
        let mine: Vec<EventId> = batches.concat();
        let theirs: HashSet<&EventId> = mine.iter().collect();
        let in_log: Vec<EventId> = log.iter().filter(|id| theirs.contains(id)).copied().collect();
        assert_eq!(in_log.len(), mine.len(), "writer {name}: acknowledged events are missing from the log");
        assert_eq!(in_log, mine, "writer {name}: the log holds its events out of order");
    }
    let total: usize = acknowledged.iter().flatten().map(Vec::len).sum();
    assert_eq!(log.len(), total + 1, "the log holds events that no writer had acknowledged");
    assert_eq!(log.last(), Some(&end_id));
    assert_eq!(seen, log, "the follower missed, repeated or reordered events");
}

/// Log lines written on this thread, to count what the store logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// A read-only handle whose server goes away: a read started while the server is down waits
/// for it with backoff (one warning for the outage, however many attempts) and returns the
/// events; the new sessions are read-only again (the server's statement log shows each of them
/// setting `default_transaction_read_only`), appends are still refused, and it follows again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_reconnects_and_stays_read_only() {
    let cluster = Arc::new(PrivateCluster::start());
    let url = cluster.fresh_database().await;
    let admin = cluster.url("postgres");
    let db = database(&url);
    sql(&admin, &format!("ALTER DATABASE {db} SET log_statement = 'all'")).await;
    let c = campaign("read-only");
    {
        let writer = open_store(&url).await.unwrap();
        writer.append(&c, Seq(0), events(&c, "w", 0, 10)).await.unwrap();
    }
    let reader = open_store_read_only(&url).await.unwrap();
    let written = reader.read(&c, Seq(0), 100).await.unwrap();
    assert_eq!(written.len(), 10);

    // The store's reads run on this thread (tokio::join! below), so a subscriber set here sees
    // what the reader logs.
    let captured = Captured::default();
    // tracing caches, per call site, whether anyone listens. With one subscriber registered it
    // asks only the thread that first reaches the call site — perhaps a worker thread with no
    // subscriber, which would silence the call site for good; with two registered, it asks both.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let logging = tracing::subscriber::set_default(subscriber);
    on_cluster(&cluster, PrivateCluster::stop).await;
    let (read, ()) = tokio::join!(reader.read(&c, Seq(0), 100), async {
        // Down long enough for several refused attempts.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        on_cluster(&cluster, PrivateCluster::start_again).await;
    });
    assert_eq!(read.unwrap_or_else(|e| panic!("the read did not ride through the restart: {e}")), written);
    drop(logging);
    let log = captured.text();
    assert_eq!(log.matches("lost the reader connection").count(), 1, "one warning per outage:\n{log}");
    assert_eq!(log.matches("reconnected the reader connection").count(), 1, "{log}");

    // Still read-only: refused before reaching the server ...
    let err = reader.append(&c, Seq(10), events(&c, "w", 10, 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    // ... and by the server: the session that serves reads now, and the LISTEN session, each
    // made every transaction read-only when they began.
    assert_eq!(verify_campaign(&*reader, &c).await.unwrap().next, Seq(10));
    let listening = listening_sessions(&db);
    eventually("the read-only handle LISTENs again", || {
        let (admin, listening) = (admin.clone(), listening.clone());
        async move { query_i64(&admin, &listening).await == Some(1) }
    })
    .await;
    reader.read(&c, Seq(0), 1).await.unwrap();
    for (what, last_statement) in [
        ("reader", "query LIKE 'SELECT seq, id, prev_hash%'"),
        ("listener", "query = 'LISTEN lineage_events'"),
    ] {
        let pid = query_i64(
            &admin,
            &format!("SELECT pid::bigint FROM pg_stat_activity WHERE datname = '{db}' AND {last_statement}"),
        )
        .await
        .unwrap_or_else(|| panic!("no {what} session after the restart"));
        let server_log = cluster.server_log();
        assert!(
            server_log.lines().any(|line| line.contains(&format!("[{pid}]"))
                && line.contains("statement: SET default_transaction_read_only = on")),
            "the {what} session {pid} did not make itself read-only:\n{server_log}"
        );
    }

    // And it follows what a writer appends after the restart.
    let mut follow = Subscription::new(reader.clone(), c.clone(), Seq(10));
    let writer = open_store(&url).await.unwrap();
    writer.append(&c, Seq(10), events(&c, "w", 10, 3)).await.unwrap();
    for expected in 10..13 {
        let event = tokio::time::timeout(PATIENCE, follow.next()).await.expect("the follower hung").unwrap();
        assert_eq!(event.seq, Seq(expected));
    }
}

/// The server ending the store's sessions (`pg_terminate_backend`, 57P01, as a fast shutdown
/// does): the same handle reconnects and goes on, and nothing half-written is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_sessions_are_reconnected_on_the_same_handle() {
    let cluster = PrivateCluster::start();
    let url = cluster.fresh_database().await;
    let admin = cluster.url("postgres");
    let db = database(&url);
    let store = open_store(&url).await.unwrap();
    let c = campaign("terminated");
    store.append(&c, Seq(0), events(&c, "w", 0, 5)).await.unwrap();
    // With a timeout, pg_terminate_backend returns once the sessions have ended.
    sql(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    let appended = store.append(&c, Seq(5), events(&c, "w", 5, 1)).await.unwrap();
    assert_eq!((appended.head.next, appended.already_present), (Seq(6), 0));
    assert_eq!(store.read(&c, Seq(0), 10).await.unwrap().len(), 6);
    assert_eq!(store.head(&c).await.unwrap().map(|h| h.next), Some(Seq(6)));
    assert_eq!(verify_campaign(&*store, &c).await.unwrap().next, Seq(6));
    let listening = listening_sessions(&db);
    eventually("the handle LISTENs again", || {
        let (admin, listening) = (admin.clone(), listening.clone());
        async move { query_i64(&admin, &listening).await == Some(1) }
    })
    .await;
    // A conflict is not a lost connection: it is returned, not retried.
    let err = store.append(&c, Seq(3), events(&c, "other", 0, 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
}

/// Where [`CuttingProxy`] cuts a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// When the client sends the INSERT of an append: the transaction never commits.
    BeforeInsert,
    /// When the server answers the COMMIT of an append: committed, but the client never hears so.
    AfterCommit,
}

/// The simple-query message `COMMIT` (how tokio-postgres commits a transaction).
const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";
/// The server's CommandComplete for it.
const COMMITTED: &[u8] = b"C\0\0\0\x0bCOMMIT\0";
const INSERT: &[u8] = b"INSERT INTO lineage_events";

/// A TCP proxy in front of the server that passes every connection through, except that, once
/// armed, it cuts the first one that reaches the chosen point of an append (both sides closed,
/// nothing more forwarded).
struct CuttingProxy {
    port: u16,
    armed: Arc<Mutex<Option<Cut>>>,
    fired: Arc<AtomicBool>,
}

impl CuttingProxy {
    async fn start(upstream: u16) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(Mutex::new(None));
        let fired = Arc::new(AtomicBool::new(false));
        let (a, f) = (armed.clone(), fired.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pass(client, upstream, a.clone(), f.clone()));
            }
        });
        CuttingProxy { port, armed, fired }
    }

    fn arm(&self, cut: Cut) {
        *self.armed.lock().unwrap() = Some(cut);
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn pass(client: TcpStream, upstream: u16, armed: Arc<Mutex<Option<Cut>>>, fired: Arc<AtomicBool>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut committing = false;
    loop {
        tokio::select! {
            n = from_client.read(&mut up) => {
                let Ok(n @ 1..) = n else { return };
                let chunk = &up[..n];
                {
                    let mut armed = armed.lock().unwrap();
                    if *armed == Some(Cut::BeforeInsert) && contains(chunk, INSERT) {
                        *armed = None;
                        fired.store(true, Ordering::SeqCst);
                        return;
                    }
                    if *armed == Some(Cut::AfterCommit) && contains(chunk, COMMIT) {
                        *armed = None;
                        committing = true;
                    }
                }
                if to_server.write_all(chunk).await.is_err() {
                    return;
                }
            }
            n = from_server.read(&mut down) => {
                let Ok(n @ 1..) = n else { return };
                let chunk = &down[..n];
                if committing {
                    // Withhold the answer; once the server says it committed, cut.
                    if contains(chunk, COMMITTED) {
                        fired.store(true, Ordering::SeqCst);
                        return;
                    }
                    continue;
                }
                if to_client.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A store reached through a [`CuttingProxy`], with 3 events appended.
async fn behind_a_proxy(label: &str) -> (PrivateCluster, CuttingProxy, Arc<dyn EventStore>, CampaignId) {
    let cluster = PrivateCluster::start();
    let proxy = CuttingProxy::start(cluster.port()).await;
    let url = cluster
        .fresh_database()
        .await
        .replace(&format!(":{}/", cluster.port()), &format!(":{}/", proxy.port));
    let store = open_store(&url).await.unwrap();
    let c = campaign(label);
    store.append(&c, Seq(0), events(&c, "w", 0, 3)).await.unwrap();
    (cluster, proxy, store, c)
}

/// The ambiguous case: the append committed, but its connection was cut before the answer
/// arrived. The store's retry at the same position finds the events in place: acknowledged
/// once, written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_cut_off_after_it_committed_is_found_not_written_twice() {
    let (_cluster, proxy, store, c) = behind_a_proxy("cut-after-commit").await;
    let batch = events(&c, "w", 3, 4);
    let ids: Vec<EventId> = batch.iter().map(|e| e.id).collect();
    proxy.arm(Cut::AfterCommit);
    let appended = store.append(&c, Seq(3), batch).await.unwrap();
    assert!(proxy.fired(), "the proxy never cut the append");
    assert_eq!(appended.already_present, 4, "the retry found the committed events in place");
    assert_eq!((appended.first, appended.head.next), (Seq(3), Seq(7)));
    let log = log_ids(&*store, &c).await;
    assert_eq!(log[3..], ids[..], "{log:?}");
    assert_eq!(verify_campaign(&*store, &c).await.unwrap().next, Seq(7));
    store.append(&c, Seq(7), events(&c, "w", 7, 1)).await.unwrap();
}

/// The other side: the connection was cut before the append committed. The retry commits it,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_cut_off_before_it_committed_commits_once() {
    let (_cluster, proxy, store, c) = behind_a_proxy("cut-before-commit").await;
    let batch = events(&c, "w", 3, 4);
    let ids: Vec<EventId> = batch.iter().map(|e| e.id).collect();
    proxy.arm(Cut::BeforeInsert);
    let appended = store.append(&c, Seq(3), batch).await.unwrap();
    assert!(proxy.fired(), "the proxy never cut the append");
    assert_eq!(appended.already_present, 0, "nothing had committed");
    assert_eq!((appended.first, appended.head.next), (Seq(3), Seq(7)));
    let log = log_ids(&*store, &c).await;
    assert_eq!(log[3..], ids[..], "{log:?}");
    assert_eq!(verify_campaign(&*store, &c).await.unwrap().next, Seq(7));
}
