//! `lineage bench …`: the benchmarks' arguments.

use clap::{Args, Subcommand};

/// `lineage bench …`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Event-store throughput and follower latency: batched and single durable appends,
    /// sequential reads, chain-verified decoding, and commit-to-follower latency measured with a
    /// second `lineage events --follow` process.
    ///
    /// Without --store it uses a fresh SQLite file in a temporary directory.
    Store(BenchStoreArgs),
    /// Training throughput of every baseline at the exploration size (tokens/s), and achieved
    /// GFLOP/s against this machine's measured matrix-multiply peak.
    Train(BenchTrainArgs),
    /// Whether open dashboard pages slow a campaign's log writes: a real smoke campaign's log
    /// written again, one event per append, with no pages and with --pages pages following it
    /// live in `lineage serve` (rounds alternating), and how soon the pages get each event.
    Dashboard {
        /// Pages following the campaign in the rounds with pages.
        #[arg(long, default_value_t = 100)]
        pages: u32,
        /// Rounds of each kind (without pages, with pages), alternating.
        #[arg(long, default_value_t = 2)]
        rounds: u32,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attach latency: from an event's commit to an attached analyst receiving it (and, with
    /// --exec, to that program's answer), through a separate store handle on a SQLite file.
    Attach {
        /// Events to time.
        #[arg(long, default_value_t = 500)]
        samples: u32,
        /// Also time a program speaking the analyst protocol, e.g. 'python3 examples/operator_advice.py'.
        #[arg(long, value_name = "COMMAND")]
        exec: Option<String>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay speed: write a large synthetic campaign log to a temporary SQLite file and time
    /// what `lineage replay` does with it (fold from the store, then the summary).
    Replay {
        /// Events in the synthetic log.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
        events: u64,
        /// Write the log to this new SQLite file and keep it (campaign `bench-replay`), to time
        /// `lineage --store sqlite://FILE replay bench-replay` on it.
        #[arg(long, value_name = "FILE")]
        keep: Option<std::path::PathBuf>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Experiments per hour with 0, 1, 2, 4 … `lineage worker` processes on this machine (each
    /// child process one compute thread), and the log's coordination cost per job (claim, lease
    /// renewal, result as conditional appends) against plain appends. Use --store
    /// postgres://… for the real measurement; without --store, a fresh SQLite file.
    Workers {
        /// The campaigns' preset.
        #[arg(long, default_value = "smoke")]
        preset: String,
        /// Proposed experiments per campaign.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
        experiments: u32,
        /// Worker counts to compare; 0 (the campaign training alone) is the anchor.
        #[arg(long, value_delimiter = ',', default_value = "0,1,2,4", value_name = "N,N,…")]
        workers: Vec<u32>,
        /// Campaigns per worker count (interleaved across counts).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Scheduled runs claimed, renewed and finished to time the coordination cost.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=9999))]
        jobs: u32,
        /// Print the results as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// How much of a fitness value is seed noise: every baseline of a preset trained at its
    /// exploration stage under several campaign seeds (as those campaigns train them), with the
    /// spread of the loss, the benchmark score and the fitness terms.
    Fitness {
        /// The preset whose exploration stage and fitness constants are measured.
        #[arg(long, default_value = "quick")]
        preset: String,
        /// Campaign seeds 1..=N.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=100))]
        seeds: u32,
        /// Print the results as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Whether the proposer's policy beats chance: campaigns under the preset's policy (or the
    /// policies named) and under the random-search control (`selection.policy = "random"`), same
    /// seeds and budgets, each a `lineage run` process; best fitness against experiments,
    /// verified gains, discoveries, a paired t-test per policy against the control, and a
    /// figure. Without --store, a fresh SQLite file.
    Discovery {
        /// The campaigns' preset.
        #[arg(long, default_value = "quick")]
        preset: String,
        /// The policies to run, the control `random` among them (default: the preset's policy
        /// and `random`).
        #[arg(long, value_delimiter = ',', value_name = "P,P,…")]
        policies: Vec<String>,
        /// Campaigns per policy, seeds FIRST..FIRST+N-1.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
        seeds: u32,
        /// The first seed: measure on seeds other campaigns have not seen (a policy tuned on
        /// seeds 1-10 is tested on 11-20).
        #[arg(long, default_value_t = 1, value_name = "FIRST", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        first_seed: u64,
        /// Proposed experiments per campaign (default: the preset's budget).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        experiments: Option<u32>,
        /// Folder for the figure (SVG and PNG).
        #[arg(long, default_value = "plots/bench-discovery")]
        out: std::path::PathBuf,
        /// Print the results as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Associative recall against state size, as Zoology measures it: each program trained on
    /// MQAR alone, every pair count at the middle head count and every head count (state d²/h)
    /// at the middle pair count, several seeds; mean, spread and seeds solved per cell, and
    /// two figures.
    Recall(RecallArgs),
    /// Where a recorded campaign's wall time went: training versus everything around it
    /// (proposals, checks, repairs, analysis, scheduling, the log), from the event timestamps.
    Campaign {
        /// The campaign (see `lineage campaigns`).
        campaign: String,
        /// Print the breakdown as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `lineage bench train`.
#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    /// Training steps timed per baseline (MQAR and language modelling, alternating).
    #[arg(long, default_value_t = 40)]
    pub steps: u32,
    /// Only these baselines (default: all; with --pytorch, deltanet, gla and linear_attention).
    #[arg(long = "baseline")]
    pub baselines: Vec<String>,
    /// Compare with the same models trained by PyTorch (bench/pytorch/train.py, run from the
    /// repository's root) through this Python, interleaved, and print the ratio.
    #[arg(long, value_name = "PYTHON")]
    pub pytorch: Option<std::path::PathBuf>,
    /// With --pytorch: also at 4× the exploration size (d 128, 4 blocks, 256 tokens).
    #[arg(long, requires = "pytorch")]
    pub large: bool,
    /// With --pytorch: rounds of lineage then PyTorch per baseline and size (medians reported).
    #[arg(long, default_value_t = 3, requires = "pytorch", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
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

/// The grid of `lineage bench recall`.
#[derive(Args, Debug)]
pub struct RecallArgs {
    /// Programs: baseline names or `.arch` files.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "P,P,…",
        default_value = "deltanet,gated_deltanet,gla,mamba2,retnet,rwkv7,linear_attention,softmax_attention"
    )]
    pub programs: Vec<String>,
    /// Key-value pairs per sequence.
    #[arg(long, value_delimiter = ',', value_name = "N,N,…", default_value = "4,8,16")]
    pub pairs: Vec<u32>,
    /// Head counts (state per layer d²/h).
    #[arg(long, value_delimiter = ',', value_name = "H,H,…", default_value = "2,4,8")]
    pub heads: Vec<u32>,
    /// Seeds 0..N per cell.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub seeds: u32,
    /// Optimiser steps per run (batch 16).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub steps: u32,
    /// Sequence length.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub len: u32,
    /// Vocabulary (keys and values each take half).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=65_536))]
    pub vocab: u32,
    /// Model width.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=1024))]
    pub d_model: u32,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-2)]
    pub lr: f64,
    /// Runs at once, each on its share of the compute threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// Folder for the figures (SVG and PNG).
    #[arg(long, default_value = "plots/bench-recall")]
    pub out: std::path::PathBuf,
    /// Draw the figures and print the table of a saved `--json` report instead of training.
    #[arg(long, value_name = "REPORT.json")]
    pub from: Option<std::path::PathBuf>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}
