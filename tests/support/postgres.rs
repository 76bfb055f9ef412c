//! A real PostgreSQL server for the tests.
//!
//! With `LINEAGE_TEST_POSTGRES_URL` set, tests create their databases on that server. Otherwise
//! the first test that needs one starts a throwaway cluster (`initdb` + `pg_ctl` on a free port,
//! in a temporary directory) and the cluster is stopped and deleted when the test process exits.
//! As root (CI), the cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.
//!
//! A test that stops or restarts its server starts a [`PrivateCluster`] of its own, the same
//! way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

struct Cluster {
    admin_url: String,
    base_url: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static STOP: OnceLock<Server> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The URL of a new, empty database on the test server.
pub async fn fresh_database() -> String {
    let cluster = CLUSTER.get_or_init(|| match std::env::var("LINEAGE_TEST_POSTGRES_URL") {
        Ok(url) => Cluster {
            base_url: url.rsplit_once('/').map(|(base, _)| base.to_owned()).unwrap_or(url.clone()),
            admin_url: url,
        },
        Err(_) => start_cluster(),
    });
    let name = create_database(&cluster.admin_url).await;
    format!("{}/{name}", cluster.base_url)
}

fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries.flatten().map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some(dir) = versions.pop() {
        return dir;
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL \
         (Debian: apt-get install postgresql) or set LINEAGE_TEST_POSTGRES_URL"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A PostgreSQL tool, run as `user` when given.
fn tool_command(bin: &Path, tool: &str, user: Option<&str>) -> Command {
    match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(tool));
            c
        }
        None => Command::new(bin.join(tool)),
    }
}

/// Runs a PostgreSQL tool and insists that it succeeds.
fn run(bin: &Path, tool: &str, args: &[&str], user: Option<&str>) {
    let out = tool_command(bin, tool, user)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server started by the tests: its binaries, its directory (data, socket, log), the user it
/// runs as, and its port.
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    user: Option<String>,
    port: u16,
}

impl Server {
    /// `initdb` and `pg_ctl start` on a free port in a new temporary directory. As root, the
    /// server runs as the `postgres` user.
    fn start() -> Server {
        let bin = bin_dir();
        let is_root = unsafe { libc::geteuid() } == 0;
        let user = is_root.then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new().prefix("lineage-pg-").tempdir().unwrap().keep();
        if is_root {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id").args([flag, "postgres"]).output().expect("run id");
                assert!(out.status.success(), "running the test cluster as root needs a `postgres` user");
                String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
            };
            std::os::unix::fs::chown(&dir, Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let server = Server { bin, dir, user, port: free_port() };
        server.pg(
            "initdb",
            &[
                "-D",
                server.data().to_str().unwrap(),
                "-U",
                "lineage",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.up();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs a PostgreSQL tool as the server's user; it must succeed.
    fn pg(&self, tool: &str, args: &[&str]) {
        run(&self.bin, tool, args, self.user.as_deref());
    }

    /// `pg_ctl start`, waiting until the server accepts connections.
    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let data = self.data();
        let log = self.dir.join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// `pg_ctl stop` in `mode` (`fast`: sessions are told the server is shutting down;
    /// `immediate`: the server quits without a checkpoint, as in a crash, and recovers from its
    /// write-ahead log on the next start).
    fn down(&self, mode: &str) {
        let data = self.data();
        self.pg("pg_ctl", &["-D", data.to_str().unwrap(), "-m", mode, "-w", "-t", "60", "stop"]);
    }

    fn base_url(&self) -> String {
        format!("postgres://lineage@127.0.0.1:{}", self.port)
    }

    /// Stops the server, if it runs, and deletes its directory.
    fn remove(&self) {
        let data = self.data();
        let _ = tool_command(&self.bin, "pg_ctl", self.user.as_deref())
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates an empty database on the server `admin_url` reaches, and returns its name.
async fn create_database(admin_url: &str) -> String {
    let name = format!("lineage_test_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin_url}: {e}"));
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    name
}

fn start_cluster() -> Cluster {
    let server = Server::start();
    let base_url = server.base_url();
    STOP.set(server).ok();
    unsafe { libc::atexit(stop_cluster) };
    Cluster { admin_url: format!("{base_url}/postgres"), base_url }
}

extern "C" fn stop_cluster() {
    if let Some(server) = STOP.get() {
        server.remove();
    }
}

/// A cluster of this test's own, which it may stop and restart (the shared one is used by many
/// tests at once, and `LINEAGE_TEST_POSTGRES_URL` may name a server the tests must not touch).
/// Always a local throwaway server, whatever `LINEAGE_TEST_POSTGRES_URL` says; stopped and
/// deleted when dropped.
pub struct PrivateCluster {
    server: Server,
}

impl PrivateCluster {
    /// Starts a new cluster (`initdb` + `pg_ctl start`), as the shared one is started.
    pub fn start() -> PrivateCluster {
        PrivateCluster { server: Server::start() }
    }

    /// The URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.server.base_url())
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The server's log (`pg_ctl -l`), for what the server saw.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.server.dir.join("server.log")).unwrap_or_default()
    }

    /// The URL of a new, empty database on this cluster.
    pub async fn fresh_database(&self) -> String {
        let name = create_database(&self.url("postgres")).await;
        self.url(&name)
    }

    /// Restarts the server as a crash would: `pg_ctl stop -m immediate` (every session is cut
    /// off, nothing is checkpointed), then `pg_ctl start` on the same port, which recovers from
    /// the write-ahead log. Blocks until the server accepts connections again.
    pub fn restart(&self) {
        self.restart_after(std::time::Duration::ZERO);
    }

    /// [`PrivateCluster::restart`], with the server down for at least `down` in between, so that
    /// clients find it refusing connections for a while.
    pub fn restart_after(&self, down: std::time::Duration) {
        self.stop();
        std::thread::sleep(down);
        self.start_again();
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop(&self) {
        self.server.down("immediate");
    }

    /// Stops the server as an administrator would (`pg_ctl stop -m fast`: each session is told
    /// the server is shutting down, 57P01).
    pub fn stop_fast(&self) {
        self.server.down("fast");
    }

    /// Starts the stopped server again, on the same port, waiting until it accepts connections.
    pub fn start_again(&self) {
        self.server.up();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.server.remove();
    }
}
