//! Command-line arguments (clap). Parsing only; `commands` does the work.

use clap::{Args, Parser, Subcommand};

/// The store used when neither `--store` nor `LINEAGE_STORE` is given.
pub const DEFAULT_STORE: &str = "sqlite://lineage.db";

/// Autonomous neural-architecture discovery on a hash-chained event log.
///
/// Every decision of a campaign is an event in an append-only log whose hash chain proves it was
/// not edited. These commands inspect and follow that log.
#[derive(Parser, Debug)]
#[command(name = "lineage", version, propagate_version = true)]
pub struct Cli {
    /// Event store: sqlite://PATH (embedded, the default: sqlite://lineage.db in the current
    /// directory) or postgres://USER@HOST:PORT/DB (shared by many machines).
    #[arg(long, global = true, env = "LINEAGE_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The store URL to use: the flag, the environment, or the default.
    pub fn store_url(&self) -> &str {
        self.store.as_deref().unwrap_or(DEFAULT_STORE)
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the campaigns in the store, with their event counts and head hashes.
    Campaigns {
        /// One JSON object per campaign, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a campaign's events, one per line; with --follow, keep printing new ones live.
    ///
    /// Every event printed has passed the hash-chain check; if the log was edited, printing
    /// stops at the first bad event and the command fails, naming it.
    Events(EventsArgs),
    /// Measure performance (results are meant for docs/performance.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Arguments of `lineage events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The campaign (see `lineage campaigns`). Validated by the command, so that a bad id is
    /// reported like every other bad input: one line.
    pub campaign: String,
    /// Start at this sequence number.
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    pub from: u64,
    /// After the stored events, wait for new ones and print them as they are committed.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// JSON lines with seq, id, type, version, actor, recorded_at, causation, correlation,
    /// prev_hash, hash and payload.
    #[arg(long)]
    pub json: bool,
}

/// `lineage bench …`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Event-store throughput and follower latency: batched and single durable appends,
    /// sequential reads, chain-verified decoding, and commit-to-follower latency measured with a
    /// second `lineage events --follow` process.
    ///
    /// Without --store it uses a fresh SQLite file in a temporary directory.
    Store(BenchStoreArgs),
}

/// Arguments of `lineage bench store`.
#[derive(Args, Debug)]
pub struct BenchStoreArgs {
    /// Events written by batched appends (and then read back).
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Events per batched append.
    #[arg(long, default_value_t = 1_000)]
    pub batch: u32,
    /// Single-event durable appends to time.
    #[arg(long, default_value_t = 1_000)]
    pub single: u64,
    /// Commit-to-follower latency samples.
    #[arg(long, default_value_t = 500)]
    pub latency_samples: u32,
    /// Campaign id to write (default: a fresh `bench-…` id).
    #[arg(long)]
    pub campaign: Option<String>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}
