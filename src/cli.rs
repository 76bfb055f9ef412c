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

    /// Log more: -v what each step does, -vv debugging detail. `LINEAGE_LOG` or `RUST_LOG`
    /// (tracing's filter syntax, e.g. `lineage_actors=debug`), when set, decide instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour in what lineage logs: auto (when stderr is a terminal and NO_COLOR is unset),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorWhen,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `lineage campaigns delete|rename`.
#[derive(Subcommand, Debug)]
pub enum CampaignsAction {
    /// Destroy a campaign's record: every event is deleted from the store, and nothing can
    /// verify, replay or recover it afterwards. Asks you to type the campaign's id first.
    Delete {
        /// The campaign (id, unique prefix or name).
        campaign: String,
        /// Delete without asking (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Give a campaign a name that commands accept in place of its id. The id never changes;
    /// the name is recorded in the campaign's log (a `CampaignNamed` event).
    Rename {
        /// The campaign (id, unique prefix or name).
        campaign: String,
        /// The new name: letters, digits, '-', '_' and '.', no other campaign's name or id.
        name: String,
    },
}

/// `campaigns --state`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    /// Recorded their end.
    Finished,
    /// Paused and not resumed since.
    Paused,
    /// Neither: running, or stopped without a pause.
    Unfinished,
}

/// `campaigns --sort`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignOrder {
    /// The store's order: oldest first.
    Created,
    /// Most recently appended first.
    Updated,
    /// Best exploration fitness first.
    Best,
    /// Most experiments first.
    Experiments,
    /// By id.
    Name,
}

/// `--color`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    /// When stderr is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl Cli {
    /// The log filter set in the environment: `LINEAGE_LOG`, else `RUST_LOG` (unset or empty:
    /// none).
    pub fn env_log_filter() -> Option<String> {
        ["LINEAGE_LOG", "RUST_LOG"].into_iter().find_map(|v| std::env::var(v).ok().filter(|f| !f.is_empty()))
    }

    /// The log filter: the environment's, else the level `-q`/`-v` ask for.
    pub fn log_filter(&self) -> String {
        Self::env_log_filter().unwrap_or_else(|| {
            match (self.quiet, self.verbose) {
                (true, _) => "error",
                (false, 0) => "warn",
                (false, 1) => "info",
                (false, _) => "debug",
            }
            .to_owned()
        })
    }

    /// Whether to colour the log.
    pub fn log_in_colour(&self) -> bool {
        match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }

    /// The store URL to use: the flag, the environment, or the default.
    pub fn store_url(&self) -> &str {
        self.store.as_deref().unwrap_or(DEFAULT_STORE)
    }

    /// The command line as parsed, documented and completed: the derived one, with `--store`
    /// left out of the help of the commands that read no store.
    pub fn command() -> clap::Command {
        let hide_store = |command: clap::Command| {
            // A subcommand's own argument named like a global one takes its place there:
            // accepted (a script may pass --store to every command) but not shown.
            command.arg(clap::Arg::new("store").long("store").value_name("URL").hide(true).global(false))
        };
        let mut command = <Self as clap::CommandFactory>::command();
        for name in STORELESS {
            command = command.mut_subcommand(name, hide_store);
        }
        command = command.mut_subcommand("arch", |arch| arch.mut_subcommand("baselines", hide_store));
        command.mut_subcommand("bench", |mut bench| {
            for name in STORELESS_BENCHMARKS {
                bench = bench.mut_subcommand(name, hide_store);
            }
            bench
        })
    }

    /// Parses the process's arguments (exits with clap's message on bad ones).
    pub fn parse_args() -> Self {
        let matches = Self::command().get_matches();
        <Self as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// The commands that read no store.
const STORELESS: [&str; 3] = ["keygen", "completions", "man"];

/// The benchmarks that read no store (each makes its own scratch stores where it needs one).
const STORELESS_BENCHMARKS: [&str; 6] = ["train", "replay", "dashboard", "attach", "fitness", "recall"];

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the campaigns in the store: state (finished, paused, or unfinished: running, or
    /// stopped without a pause), preset, seed, experiments of budget, best fitness,
    /// discoveries, events and head. Reads every campaign's log.
    #[command(args_conflicts_with_subcommands = true)]
    Campaigns {
        /// Delete or rename a campaign (without one: list them).
        #[command(subcommand)]
        action: Option<CampaignsAction>,
        /// One JSON object per campaign, one per line.
        #[arg(long)]
        json: bool,
        /// Only campaigns in this state.
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
        /// Only campaigns started from this preset.
        #[arg(long)]
        preset: Option<String>,
        /// Order: created (the store's order), updated (most recent first), best (best fitness
        /// first), experiments (most first) or name.
        #[arg(long, value_enum, default_value = "created")]
        sort: CampaignOrder,
    },
    /// Two campaigns side by side: state, preset and seed, experiments of budget, training
    /// time, best fitness, discoveries, state hash, their leaderboards and their discovery
    /// curves.
    Compare {
        /// The first campaign (id or unique prefix).
        a: String,
        /// The second campaign.
        b: String,
        /// Rows of each leaderboard.
        #[arg(long, default_value_t = 10, value_name = "N")]
        top: usize,
        /// Print both as JSON: each campaign's listing (as `campaigns --json`), training time,
        /// state hash, discoveries, leaderboard (as `replay --json`) and its curve (the best
        /// proposed fitness after each experiment).
        #[arg(long)]
        json: bool,
    },
    /// Print a campaign's events, one per line; with --follow, keep printing new ones live.
    ///
    /// Every event printed has passed the hash-chain check; if the log was edited, printing
    /// stops at the first bad event and the command fails, naming it.
    Events(EventsArgs),
    /// Run a discovery campaign: seed with the baselines, then propose, check, repair, train
    /// and analyse architectures until the budget is spent; verify the best; print the
    /// leaderboard, the campaign id and the hash of the final state.
    Run(RunArgs),
    /// Continue a campaign after a crash or Ctrl-C from its log: finished work is not repeated,
    /// unfinished work is dispatched again. With --experiments, raise its budget first (a
    /// finished campaign is reopened: more experiments, then a new verification round).
    Resume {
        /// The campaign (see `lineage campaigns`).
        campaign: String,
        /// The new experiment budget (proposed experiments, more than the one in force),
        /// recorded as a `CampaignExtended` event.
        #[arg(long, value_name = "N")]
        experiments: Option<u32>,
        /// Print a JSON summary instead of the leaderboard.
        #[arg(long)]
        json: bool,
        /// Sign checkpoints of the head with this Ed25519 key (see `lineage run --signing-key`).
        #[arg(long, value_name = "FILE")]
        signing_key: Option<std::path::PathBuf>,
        /// The model's server, where it is now (a campaign started with `--llm` whose server
        /// moved); the model and every other setting stay as recorded.
        #[arg(long, value_name = "URL")]
        llm: Option<String>,
    },
    /// Rebuild a campaign's state from its log and print the leaderboard and the state hash
    /// (the one the live run printed at the same point). Trains nothing.
    Replay {
        /// The campaign.
        campaign: String,
        /// Stop after this event number, or at this RFC 3339 time: the campaign as it stood then.
        #[arg(long, value_name = "SEQ|TIME")]
        until: Option<String>,
        /// Counterfactual: re-rank under other fitness weights, e.g. 'loss=0.5,bench=0.5,judge=0',
        /// or under a named fitness ('calibrated', 'asi-arch'), its terms recomputed from the
        /// recorded metrics.
        #[arg(long, value_name = "WEIGHTS")]
        fitness: Option<String>,
        /// Counterfactual: other selection rules, e.g. 'pool=20,parents=1-5'.
        #[arg(long, value_name = "RULES")]
        policy: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove a campaign's record intact: hash chain, schemas, references, internal consistency,
    /// nothing past its end, signed checkpoints, replayed state hash; with --head, that the log
    /// still extends a head published earlier; with --public-key, that its signatures are by
    /// that key; with --reproduce, train named architectures again and compare their metrics.
    /// Exit 0 only when everything holds.
    Verify {
        /// The campaign.
        campaign: String,
        /// Architecture (id or unique prefix) to train again from the log and compare.
        #[arg(long, value_name = "ARCH")]
        reproduce: Vec<String>,
        /// A head published earlier (as `run`, `replay`, `campaigns` and `anchor` print it): the
        /// event at SEQ must still have that hash, the chain from event 0 intact.
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
        /// The Ed25519 public key (64 hex digits, as `lineage keygen` printed it) every signed
        /// checkpoint must be made with; a finished campaign's end must be signed.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Print the checks as one JSON object (`verified`, and each check's name, verdict and
        /// detail), on failure too.
        #[arg(long)]
        json: bool,
    },
    /// A compact statement of a verified campaign's head — id, head SEQ:HASH and its time,
    /// state hash, last signature — to paste into a paper, a commit or a timestamping service.
    Anchor {
        /// The campaign.
        campaign: String,
        /// Print the statement as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a new Ed25519 signing key for `run --signing-key`: write its secret to FILE (mode
    /// 0600; never overwritten) and print its public key, for `verify --public-key`.
    Keygen {
        /// The key file to create.
        file: std::path::PathBuf,
    },
    /// Print a completion script for a shell: `lineage completions bash > ~/.local/share/bash-completion/completions/lineage`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `lineage man > lineage.1; man ./lineage.1`.
    Man,
    /// The decision chain of one architecture back to the seed baselines: selections, pools,
    /// motivations and their evidence, programs and diffs, verdicts, repairs, training,
    /// analyses, fitness, promotion.
    Provenance {
        /// The campaign.
        campaign: String,
        /// Architecture id or unique id prefix.
        arch: String,
        /// text, json, dot (Graphviz) or prov (W3C PROV-JSON).
        #[arg(long, value_enum, default_value = "text")]
        format: ProvenanceFormat,
    },
    /// A live web dashboard of the store's campaigns, read-only: each campaign's leaderboard,
    /// discovery curve, family tree, budget and events, updated the moment an event is
    /// committed, and as it stood after any event; every architecture's program, diff,
    /// training and provenance; every event as stored. The JSON behind each page is under
    /// /api/. See docs/dashboard.md.
    Serve {
        /// Address and port to listen on (port 0: any free one). Loopback by default: the log
        /// holds programs and prompts, so listening beyond this machine must be asked for.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
        bind: std::net::SocketAddr,
    },
    /// One row per architecture — lineage, verdicts, metrics per task, fitness components,
    /// verification — for pandas, DuckDB or a spreadsheet.
    Export {
        /// The campaign.
        campaign: String,
        /// csv (with a header) or jsonl (one JSON object per line).
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
    /// Take an architecture out to PyTorch: DIR/model.py (a self-contained nn.Module with the
    /// program's names, the naive and the chunked form of `recur`), DIR/weights.safetensors,
    /// DIR/check.py (compares PyTorch's logits with lineage's on a recorded input) and
    /// DIR/README.md (provenance). Give CAMPAIGN ARCH (or CAMPAIGN/ARCH, as `arch` takes it) for
    /// a campaign's architecture with the
    /// weights of its exploration run (trained again from the recorded seed, and compared with
    /// the recorded metrics), or a baseline name or `.arch` file for fresh weights.
    ExportArch(ExportArchArgs),
    /// What earlier campaigns learned about the built-in operators: each operator's uses and
    /// mean fitness gain over the parent, pooled over the campaigns named, printed as a
    /// `[selection.operator_prior]` table — a config file for `run --config` (docs/discovery.md).
    OperatorPrior {
        /// Campaigns (id, unique prefix or name), or PREFIX* for every campaign whose id begins
        /// with PREFIX.
        #[arg(required = true)]
        campaigns: Vec<String>,
    },
    /// Attach an analyst to a campaign (running or not): it catches up, follows live, and
    /// records its analyses and insights, which the campaign's researcher reads.
    Attach(AttachArgs),
    /// Train the runs of campaigns in a shared store, on this machine (docs/scale-out.md): claim
    /// a scheduled run with a lease, keep it alive, record the result once. Start any number,
    /// anywhere the store can be reached; start campaigns with --parallel N (and --trainers 0 to
    /// leave them every run).
    Worker(WorkerArgs),
    /// Figures as PNG and SVG: the discovery curve against experiments and against compute,
    /// the family tree coloured by fitness, and fitness against parameter count.
    Plot {
        /// The campaign.
        campaign: String,
        /// Folder for the figures [default: plots/CAMPAIGN].
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// Which files: png, svg (repeat, or comma-separated) [default: both]. (PDF: convert
        /// the SVG, e.g. `rsvg-convert -f pdf`; the plotting library writes none.)
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = [PlotFormat::Png, PlotFormat::Svg])]
        format: Vec<PlotFormat>,
    },
    /// Measure performance (results are meant for docs/performance.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Work with architecture programs: check, compare, list and show the baselines.
    #[command(subcommand)]
    Arch(ArchCommand),
}

/// Output formats of `lineage provenance`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ProvenanceFormat {
    /// For reading.
    Text,
    /// Every event of the chain, as stored.
    Json,
    /// Graphviz: the family tree of the chain with its references.
    Dot,
    /// W3C PROV-JSON: programs and results, the activities that made them, the actors.
    Prov,
}

/// Files `lineage plot` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    /// Raster, 1100 × 680.
    Png,
    /// Vector.
    Svg,
}

impl Command {
    /// Whether the command trains or runs a model (a campaign may), so needs its backend to
    /// compute on this machine.
    pub fn computes(&self) -> bool {
        match self {
            Command::Run(_) | Command::Resume { .. } | Command::Worker(_) | Command::ExportArch(_) => true,
            Command::Verify { reproduce, .. } => !reproduce.is_empty(),
            Command::Arch(command) => matches!(command, ArchCommand::Check { .. } | ArchCommand::Train(_)),
            // `bench dashboard` serves a campaign it runs first; `bench recall --from` redraws.
            Command::Bench(BenchCommand::Recall(args)) => args.from.is_none(),
            Command::Bench(command) => matches!(
                command,
                BenchCommand::Train(_)
                    | BenchCommand::Workers { .. }
                    | BenchCommand::Fitness { .. }
                    | BenchCommand::Discovery { .. }
                    | BenchCommand::Dashboard { .. }
            ),
            _ => false,
        }
    }
}

impl PlotFormat {
    /// The file extension.
    pub fn extension(&self) -> &'static str {
        match self {
            PlotFormat::Png => "png",
            PlotFormat::Svg => "svg",
        }
    }
}

/// Output formats of `lineage export`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ExportFormat {
    /// Comma-separated, with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Arguments of `lineage run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Preset to start from: smoke (seconds, for CI), quick (about 5 minutes on 2 cores),
    /// standard (hours) [default: quick, said on stderr].
    #[arg(long)]
    pub preset: Option<String>,
    /// TOML file overriding any of the preset's keys (see docs/campaigns.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Proposed experiments (baselines not counted).
    #[arg(long, value_name = "N")]
    pub experiments: Option<u32>,
    /// Wall-clock budget, e.g. 15m or 2h: no new experiment starts after it.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub time: Option<std::time::Duration>,
    /// Training runs this process trains at once, each on its share of the machine's threads;
    /// 0 leaves every run to workers (`lineage worker`).
    #[arg(long, value_name = "N")]
    pub trainers: Option<u32>,
    /// Runs in flight at once, trained here or by workers [default: --trainers]. Any value
    /// decides the same things on every run of a seed, whoever trains; 1 is one sequence.
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Base URL of an OpenAI-compatible chat-completions server (e.g. http://127.0.0.1:8080/v1):
    /// the researcher, debugger, analyst and judge ask its model, falling back to the built-in
    /// rules when it gives no usable reply (docs/llm.md). The API key is read from the variable
    /// named by llm.api_key_env (OPENAI_API_KEY) and never recorded.
    #[arg(long, value_name = "URL", env = "LINEAGE_LLM_URL")]
    pub llm: Option<String>,
    /// The model to ask (with --llm).
    #[arg(long, value_name = "NAME", env = "LINEAGE_LLM_MODEL")]
    pub model: Option<String>,
    /// Campaign seed: every random draw derives from it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Campaign id (default: a random one).
    #[arg(long)]
    pub name: Option<String>,
    /// Print a JSON summary instead of the leaderboard.
    #[arg(long)]
    pub json: bool,
    /// Sign checkpoints of the log's head (at each pause and at the end) with this Ed25519 key
    /// file (from `lineage keygen`); without it, the key in the environment variable
    /// LINEAGE_SIGNING_KEY (64 hex digits), if set. The key is never recorded.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<std::path::PathBuf>,
}

/// `lineage arch …`. A PROGRAM argument is a baseline name, a file path, or CAMPAIGN/ARCH: an
/// architecture of a campaign in the store, its program as in force after its repairs (each
/// part an id or a unique prefix).
#[derive(Subcommand, Debug)]
pub enum ArchCommand {
    /// Check a program: syntax, types and shapes (at the exploration sizes and at a second set
    /// of sizes), then the run-time checks. Exit 0 only if every check passes.
    Check {
        /// Baseline name, program file or CAMPAIGN/ARCH.
        program: String,
        /// Print the verdicts and diagnostics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the baseline architectures.
    Baselines {
        /// One JSON object per baseline, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a program: a baseline's, a campaign architecture's (CAMPAIGN/ARCH), or a file's in
    /// canonical layout.
    Show {
        /// Baseline name (see `lineage arch baselines`), program file or CAMPAIGN/ARCH.
        program: String,
        /// Print the canonical form (names, order and inlining normalised) instead.
        #[arg(long)]
        canonical: bool,
    },
    /// Train a program on generated tasks and report held-out accuracy (and loss).
    Train(ArchTrainArgs),
    /// Show how two programs differ, binding by binding and line by line.
    Diff {
        /// First program (baseline name, file or CAMPAIGN/ARCH).
        a: String,
        /// Second program (baseline name, file or CAMPAIGN/ARCH).
        b: String,
        /// Print the diff as JSON: `equivalent`, the per-binding `changes` and the line diff.
        #[arg(long)]
        json: bool,
    },
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
    /// After the stored events, wait for new ones and print them as they are committed, until
    /// the campaign records its end.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// With --follow: keep following after the campaign's end (a log continued past it fails
    /// verification, but this shows it).
    #[arg(long, requires = "follow")]
    pub keep_following: bool,
    /// JSON lines with seq, id, type, version, actor, recorded_at, causation, correlation,
    /// prev_hash, hash and payload.
    #[arg(long)]
    pub json: bool,
    /// Only events of this type (e.g. FitnessAssigned); repeat for several.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only events recorded by this actor: a kind (`analyst`) or kind/name (`trainer/trainer-0`).
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Only events about this architecture (its id).
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Only events recorded at or after this time (RFC 3339, e.g. 2026-11-29T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
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

/// Arguments of `lineage attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The campaign.
    pub campaign: String,
    /// A built-in analyst: edit-stats, pareto or stagnation.
    #[arg(long, value_name = "NAME", conflicts_with = "exec")]
    pub analyst: Option<String>,
    /// A program speaking the JSON-lines protocol (docs/analysts.md), run with `sh -c`.
    #[arg(long, value_name = "COMMAND")]
    pub exec: Option<String>,
    /// Where to start on a first attach: start, now, or an event number (a checkpoint wins).
    #[arg(long, value_name = "start|now|SEQ", default_value = "start")]
    pub from: String,
    /// The name its conclusions are recorded under [default: the built-in's name].
    #[arg(long, value_name = "LABEL")]
    pub name: Option<String>,
    /// Checkpoint file [default: .lineage/attach/CAMPAIGN/LABEL.json].
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Stop once caught up instead of following live.
    #[arg(long)]
    pub once: bool,
    /// Keep following after the campaign's end (by default an attach ends there).
    #[arg(long, conflicts_with = "once")]
    pub keep_following: bool,
    /// Print the final report as JSON.
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

/// Arguments of `lineage arch train`.
#[derive(Args, Debug)]
pub struct ArchTrainArgs {
    /// Baseline name, program file or CAMPAIGN/ARCH.
    pub program: String,
    /// Task to train on (repeat for several; trained round-robin): mqar, noisy-recall, parity,
    /// modular, selective-copy, lm — optionally with settings, e.g. `mqar:pairs=4,len=32`;
    /// `lm:corpus=kjv` is language modelling on real English text (the King James Bible).
    #[arg(long = "task", default_values_t = ["mqar".to_owned(), "lm".to_owned()])]
    pub tasks: Vec<String>,
    /// Train the `lm` task on this UTF-8 text file instead of the generated corpus.
    #[arg(long, value_name = "FILE")]
    pub text: Option<std::path::PathBuf>,
    /// Optimiser steps.
    #[arg(long, default_value_t = 300)]
    pub steps: u32,
    /// Sequences per step.
    #[arg(long, default_value_t = 16)]
    pub batch: u32,
    /// Blocks.
    #[arg(long, default_value_t = 2)]
    pub layers: u32,
    /// Model width.
    #[arg(long, default_value_t = 64)]
    pub d_model: u32,
    /// Heads.
    #[arg(long, default_value_t = 4)]
    pub heads: u32,
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Steps of linear learning-rate warm-up [default: a tenth of --steps, at least 1, as in a
    /// campaign's stages].
    #[arg(long, value_name = "N")]
    pub warmup_steps: Option<u32>,
    /// Seed of weights and data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `lineage export-arch`.
#[derive(Args, Debug)]
pub struct ExportArchArgs {
    /// CAMPAIGN ARCH or CAMPAIGN/ARCH (each an id or unique prefix), or one program: a baseline
    /// name or an `.arch` file.
    #[arg(value_name = "CAMPAIGN ARCH | PROGRAM", num_args = 1..=2, required = true)]
    pub what: Vec<String>,
    /// Folder to write into (created; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub pytorch: std::path::PathBuf,
    /// Model width [default: the campaign's exploration size, else 64]. For a campaign's
    /// architecture, any size option gives fresh weights at that size instead of the trained ones.
    #[arg(long)]
    pub d_model: Option<u32>,
    /// Heads [default: the exploration size's, else 4].
    #[arg(long)]
    pub heads: Option<u32>,
    /// Blocks [default: the exploration size's, else 2].
    #[arg(long)]
    pub layers: Option<u32>,
    /// Vocabulary [default: the exploration tasks', else 256].
    #[arg(long)]
    pub vocab: Option<u32>,
    /// Seed of fresh weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `lineage worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Only this campaign (repeat for several); the worker ends when they have all finished.
    /// Without it: every live campaign in the store, including ones started later, until
    /// stopped.
    #[arg(long = "campaign", value_name = "CAMPAIGN")]
    pub campaigns: Vec<String>,
    /// Runs trained at once, each on its share of the compute threads (RAYON_NUM_THREADS sets
    /// them; default: the cores).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub trainers: u32,
    /// The worker's name in the log [default: HOST-PID].
    #[arg(long)]
    pub name: Option<String>,
    /// How long a claim holds without a sign of life before anyone may release it, e.g. 30s.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lease: std::time::Duration,
    /// Print the last line as JSON.
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
