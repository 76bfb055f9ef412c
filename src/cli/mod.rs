//! Command-line arguments (clap). Parsing only; `commands` does the work.

use clap::{Args, Parser, Subcommand};

mod arch;
mod bench;

pub use arch::{ArchCommand, ArchTrainArgs, ExportArchArgs};
pub use bench::{BenchCommand, BenchStoreArgs, BenchTrainArgs};

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
    /// Logs that cannot be read as a campaign (`lineage verify` names what is wrong).
    Damaged,
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
        /// Only campaigns in this state. A damaged campaign is listed whatever the filters:
        /// what it records cannot be read, and its damage must not hide.
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
    /// compute on this machine. Every command is named, with no catch-all arm, so that a new
    /// command does not compile until it is classified here.
    pub fn computes(&self) -> bool {
        match self {
            Command::Run(_) | Command::Resume { .. } | Command::Worker(_) | Command::ExportArch(_) => true,
            Command::Verify { reproduce, .. } => !reproduce.is_empty(),
            Command::Arch(command) => match command {
                ArchCommand::Check { .. } | ArchCommand::Train(_) => true,
                ArchCommand::Baselines { .. } | ArchCommand::Show { .. } | ArchCommand::Diff { .. } => false,
            },
            Command::Bench(command) => match command {
                // `bench dashboard` serves a campaign it runs first.
                BenchCommand::Train(_)
                | BenchCommand::Workers { .. }
                | BenchCommand::Fitness { .. }
                | BenchCommand::Discovery { .. }
                | BenchCommand::Dashboard { .. } => true,
                // `bench recall --from` redraws recorded results.
                BenchCommand::Recall(args) => args.from.is_none(),
                BenchCommand::Store(_)
                | BenchCommand::Attach { .. }
                | BenchCommand::Replay { .. }
                | BenchCommand::Campaign { .. } => false,
            },
            Command::Campaigns { .. }
            | Command::Compare { .. }
            | Command::Events(_)
            | Command::Replay { .. }
            | Command::Anchor { .. }
            | Command::Keygen { .. }
            | Command::Completions { .. }
            | Command::Man
            | Command::Provenance { .. }
            | Command::Serve { .. }
            | Command::Export { .. }
            | Command::OperatorPrior { .. }
            | Command::Attach(_)
            | Command::Plot { .. } => false,
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
    /// Only events about this architecture: its id, or the start of only one (as every command
    /// reads an architecture). One the campaign does not hold is refused, unless following a
    /// campaign that has not finished: then it is taken as a whole id, which may yet be proposed.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Only events recorded at or after this time (RFC 3339, e.g. 2026-11-29T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

/// Arguments of `lineage attach`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").args(["analyst", "exec"]).required(true)))]
pub struct AttachArgs {
    /// The campaign.
    pub campaign: String,
    /// A built-in analyst: edit-stats, pareto or stagnation.
    #[arg(long, value_name = "NAME", conflicts_with = "exec")]
    pub analyst: Option<String>,
    /// A program speaking the JSON-lines protocol (docs/analysts.md), run with `sh -c`.
    #[arg(long, value_name = "COMMAND", requires = "name")]
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
