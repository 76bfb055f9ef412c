//! A real PostgreSQL server for the tests.
//!
//! With `LINEAGE_TEST_POSTGRES_URL` set, tests create their databases on that server. Otherwise
//! the first test that needs one starts a throwaway cluster (`initdb` + `pg_ctl` on a free port,
//! in a temporary directory) and the cluster is stopped and deleted when the test process exits.
//! As root (CI), the cluster runs as the `postgres` user, since PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

struct Cluster {
    admin_url: String,
    base_url: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static STOP: OnceLock<(PathBuf, PathBuf, Option<String>)> = OnceLock::new();
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
    let name = format!("lineage_test_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
    let (client, connection) = tokio_postgres::connect(&cluster.admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {}: {e}", cluster.admin_url));
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
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

fn start_cluster() -> Cluster {
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
    let data = dir.join("data");
    let port = free_port();
    run(
        &bin,
        "initdb",
        &["-D", data.to_str().unwrap(), "-U", "lineage", "--auth=trust", "-E", "UTF8", "--no-sync"],
        user.as_deref(),
    );
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
        dir.display()
    );
    let log = dir.join("server.log");
    run(
        &bin,
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
        user.as_deref(),
    );
    STOP.set((bin, dir.clone(), user)).ok();
    unsafe { libc::atexit(stop_cluster) };
    let base_url = format!("postgres://lineage@127.0.0.1:{port}");
    Cluster { admin_url: format!("{base_url}/postgres"), base_url }
}

extern "C" fn stop_cluster() {
    if let Some((bin, dir, user)) = STOP.get() {
        let data = dir.join("data");
        let _ = tool_command(bin, "pg_ctl", user.as_deref())
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(dir);
    }
}
