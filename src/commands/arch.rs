//! `lineage arch …`: check, list, show and compare architecture programs.

use std::io::Write;

use anyhow::{Context, bail};
use lineage_actors::config::Resources;
use lineage_arch::baselines;
use lineage_arch::checks::{self, Budget, CHECK_DIMS, Verdict};
use lineage_arch::cost::TrainShape;
use lineage_arch::lang::{self, Diagnostic, Dims, Program, check, parse};
use lineage_arch::limits::{self, TrainSizes};
use lineage_arch::tasks::{self, Task};
use lineage_arch::train::{TrainConfig, TrainReport, train};
use serde::Serialize;

use crate::cli::{ArchCommand, ArchTrainArgs};
use crate::output;

pub async fn run(store_url: &str, command: &ArchCommand) -> anyhow::Result<()> {
    let load = |argument: &str| load_any(store_url, argument.to_owned());
    match command {
        ArchCommand::Baselines { json } => list_baselines(*json),
        ArchCommand::Show { program, canonical } => {
            let (source, name) = load(program).await?;
            let program = parsed(&source, &name)?;
            let text = if *canonical { lang::canonical_text(&program) } else { lang::print(&program) };
            // A comment may hold what a model wrote: shown, never obeyed, by the terminal.
            write!(std::io::stdout().lock(), "{}", crate::output::shown(&text, true))?;
            Ok(())
        }
        ArchCommand::Diff { a, b, json } => {
            let (source_a, name_a) = load(a).await?;
            let (source_b, name_b) = load(b).await?;
            let diff = lang::diff(&parsed(&source_a, &name_a)?, &parsed(&source_b, &name_b)?);
            if *json {
                let out = serde_json::json!({
                    "from": name_a,
                    "to": name_b,
                    "equivalent": diff.equivalent,
                    "changes": diff.changes,
                    "lines": diff.lines,
                });
                return crate::output::print(&serde_json::to_string_pretty(&out)?);
            }
            write!(
                std::io::stdout().lock(),
                "{}",
                crate::output::shown(&diff.render(&name_a, &name_b), true)
            )?;
            Ok(())
        }
        ArchCommand::Check { program, json } => {
            let (source, name) = load(program).await?;
            check_program(&source, &name, *json)
        }
        ArchCommand::Train(args) => {
            let (source, name) = load(&args.program).await?;
            train_program(&source, &name, args)
        }
    }
}

/// A program argument of `arch …`: a baseline name, a file, or `CAMPAIGN/ARCH` — the program in
/// force (after its repairs) of an architecture of a campaign in the store, each part an id or
/// a unique prefix of one. Returns the source and the name to show.
async fn load_any(store_url: &str, argument: String) -> anyhow::Result<(String, String)> {
    let Some((campaign, arch)) = campaign_arch(&argument) else {
        if is_program(&argument) {
            return load(&argument);
        }
        bail!(
            "cannot read program {argument:?}: not a file, not a baseline (see `lineage arch baselines`), and not CAMPAIGN/ARCH"
        );
    };
    let store = super::open_existing(store_url).await?;
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    let state = lineage_replay::fold_log(store.as_ref(), &campaign, |_| true).await?;
    let arch = state.resolve_arch(arch)?;
    Ok((state.archs[arch].program().to_owned(), format!("{campaign}/{arch}")))
}

/// The campaign and architecture a `CAMPAIGN/ARCH` argument names, when it is neither a
/// baseline nor an existing file.
pub(super) fn campaign_arch(argument: &str) -> Option<(&str, &str)> {
    if is_program(argument) {
        return None;
    }
    argument.split_once('/').filter(|(c, a)| !c.is_empty() && !a.is_empty())
}

/// Whether an argument names a program directly: a baseline or an existing file.
fn is_program(argument: &str) -> bool {
    baselines::get(argument).is_some() || std::path::Path::new(argument).exists()
}

/// A program argument: a baseline name, or else a file.
pub(super) fn load(argument: &str) -> anyhow::Result<(String, String)> {
    if let Some(baseline) = baselines::get(argument) {
        return Ok((baseline.source.to_owned(), format!("baselines/{}.arch", baseline.name)));
    }
    let file = match std::fs::File::open(argument) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no program {argument:?}: not a file, and not a baseline (see `lineage arch baselines`)")
        }
        opened => opened.with_context(|| format!("cannot read program {argument:?}"))?,
    };
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        bail!("program {argument:?} is a directory, not a file");
    }
    // Read no more than the language accepts (a pipe or `/dev/stdin` works as well as a file).
    let limit = lineage_arch::limits::PROGRAM_BYTES_MAX;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit as u64 + 1), &mut bytes)
        .with_context(|| format!("cannot read program {argument:?}"))?;
    if bytes.len() > limit {
        bail!("program {argument:?} is over the limit of {limit} bytes: a mixer is a few dozen lines");
    }
    let Ok(source) = String::from_utf8(bytes) else { bail!("program {argument:?} is not UTF-8 text") };
    Ok((source, argument.to_owned()))
}

/// Parses or fails with the rendered syntax errors.
pub(super) fn parsed(source: &str, name: &str) -> anyhow::Result<Program> {
    parse(source).or_else(|diagnostics| {
        eprint!("{}", render_all(&diagnostics, source, name));
        bail!("{name}: {} syntax error{}", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" })
    })
}

fn render_all(diagnostics: &[Diagnostic], source: &str, name: &str) -> String {
    diagnostics.iter().map(|d| d.render(source, name) + "\n").collect()
}

#[derive(Serialize)]
struct BaselineLine<'a> {
    name: &'a str,
    summary: &'a str,
    /// At the exploration width ([`Dims::DEFAULT`]); `arch check` counts at its own, smaller one.
    params_per_block_at_d64: u64,
    program_hash: String,
}

// The key above names the width.
const _: () = assert!(Dims::DEFAULT.d == 64);

fn list_baselines(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(out, "{:<20} {:>17}  {:<14} summary", "name", "params/block@d64", "program hash")?;
    }
    for baseline in baselines::ALL {
        let program = baseline.program();
        let graph = check(&program, Dims::DEFAULT).graph.context("a baseline failed to check")?;
        let line = BaselineLine {
            name: baseline.name,
            summary: baseline.summary,
            params_per_block_at_d64: graph.block_params(),
            program_hash: lang::program_hash(&program).to_hex(),
        };
        if json {
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{:<20} {:>17}  {:<14} {}",
                line.name,
                line.params_per_block_at_d64,
                &line.program_hash[..12],
                line.summary
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct CheckReport<'a> {
    program: &'a str,
    program_hash: Option<String>,
    passed: bool,
    checks: &'a [Verdict],
    syntax_errors: &'a [Diagnostic],
}

/// What `arch check` holds a program to: training at the default campaign's (the `quick`
/// preset's) two sizes within the machine's default memory budget per run.
fn default_budget() -> anyhow::Result<Budget> {
    let (config, resources) = lineage_actors::config::resolve("quick", None, &Default::default())?;
    Ok(lineage_actors::training::budget(&config, resources.per_run(config.trainers)))
}

fn check_program(source: &str, name: &str, json: bool) -> anyhow::Result<()> {
    let parsed = parse(source);
    let verdicts = match &parsed {
        Ok(program) => checks::run_all_within(program, &lineage_arch::backend::device(), &default_budget()?),
        Err(_) => Vec::new(),
    };
    let syntax_errors = parsed.as_ref().err().cloned().unwrap_or_default();
    let passed = parsed.is_ok() && verdicts.iter().all(|v| v.passed);
    if json {
        let report = CheckReport {
            program: name,
            program_hash: parsed.as_ref().ok().map(|p| lang::program_hash(p).to_hex()),
            passed,
            checks: &verdicts,
            syntax_errors: &syntax_errors,
        };
        output::print(&serde_json::to_string_pretty(&report)?)?;
    } else {
        let mut out = std::io::stdout().lock();
        write!(out, "{}", render_all(&syntax_errors, source, name))?;
        for verdict in &verdicts {
            write!(out, "{}", render_all(&verdict.diagnostics, source, name))?;
            let status = if verdict.passed { "pass" } else { "FAIL" };
            writeln!(out, "{:<11} {status}  {}", verdict.check, shown_numbers(verdict))?;
        }
    }
    if !passed {
        let failed: Vec<&str> = verdicts.iter().filter(|v| !v.passed).map(|v| v.check).collect();
        let what = if syntax_errors.is_empty() { failed.join(", ") } else { "syntax".to_owned() };
        bail!("{name} failed: {what}");
    }
    Ok(())
}

/// A verdict's numbers as `arch check` shows them, by name, with the complexity check's
/// allowance among them as 1 or 0, where it has always been shown.
fn shown_numbers(verdict: &Verdict) -> String {
    let allowance = (verdict.check == "complexity")
        .then(|| ("quadratic_allowed", f64::from(u8::from(verdict.quadratic_allowed))));
    let mut numbers: Vec<(&str, f64)> =
        verdict.numbers.iter().map(|(k, v)| (k.as_str(), *v)).chain(allowance).collect();
    numbers.sort_by(|a, b| a.0.cmp(b.0));
    numbers.iter().map(|(k, v)| format!("{} {}", shown_name(k), short(*v))).collect::<Vec<_>>().join(", ")
}

/// The name a recorded number is shown under, where its recorded key leaves out what it
/// depends on: the type-shape check counts a block's parameters at the check's width, not at
/// the exploration width `arch baselines` lists.
fn shown_name(key: &str) -> String {
    match key {
        "params_per_block" => format!("params_per_block_at_d{}", CHECK_DIMS.d),
        other => other.to_owned(),
    }
}

#[derive(Serialize)]
struct TaskLine<'a> {
    task: &'a str,
    accuracy: Option<f64>,
    loss: f64,
}

#[derive(Serialize)]
struct TrainLine<'a> {
    program: &'a str,
    program_hash: String,
    backend: String,
    threads: u32,
    seed: u64,
    params: u64,
    steps: u32,
    tokens_seen: u64,
    tokens_per_s: f64,
    wall_ms: u64,
    loss_train_final: f64,
    benchmark_mean: f64,
    stopped: Option<String>,
    tasks: Vec<TaskLine<'a>>,
    loss_curve: &'a [(u32, f64)],
}

fn train_program(source: &str, name: &str, args: &ArchTrainArgs) -> anyhow::Result<()> {
    let sizes = TrainSizes {
        d_model: args.d_model,
        heads: args.heads,
        layers: args.layers,
        steps: args.steps,
        batch: args.batch,
        learning_rate: args.lr,
    };
    limits::check_train(&sizes, limits::train_flag)?;
    let program = parsed(source, name)?;
    let dims = Dims { d: args.d_model, h: args.heads };
    let checked = check(&program, dims);
    let Some(graph) = checked.graph else {
        eprint!("{}", render_all(&checked.diagnostics, source, name));
        bail!("{name} does not check at d = {}, h = {}", dims.d, dims.h);
    };
    let tasks = args
        .tasks
        .iter()
        .map(|task| match (task.as_str(), &args.text) {
            ("lm", Some(path)) => Ok(Box::new(tasks::lm::LanguageModel::from_file(path)?) as Box<dyn Task>),
            (spec, _) => tasks::from_spec(spec),
        })
        .collect::<Result<Vec<_>, _>>()?;
    fits_in_memory(&program, dims, &tasks, args)?;
    // Warm-up over a tenth of the steps, as in a campaign's stages (`for_stage`), so that a
    // short run leaves it.
    let wall_s_max = TrainConfig::exploration(args.seed).wall_s_max;
    let stage = TrainConfig::for_stage(args.layers, args.steps, args.batch, args.lr, wall_s_max, args.seed);
    let config = TrainConfig { warmup_steps: args.warmup_steps.unwrap_or(stage.warmup_steps), ..stage };
    let every = (args.steps / 10).max(1);
    let device = lineage_arch::backend::device();
    // On a pool of this process's threads, as a campaign's trainer trains: the training thread
    // takes a piece of each split operation and the others stay awake (`lineage_arch::hot_pool`).
    let pool = lineage_actors::training::pool(lineage_arch::backend::threads());
    let report = pool.install(|| {
        train(&graph, &tasks, &config, &device, |p| {
            if (p.step + 1) % every == 0 && !args.json {
                eprintln!(
                    "step {:>5}  loss {:.4}  lr {:.2e}  {:.1} s",
                    p.step + 1,
                    p.loss,
                    p.learning_rate,
                    p.wall_ms as f64 / 1000.0
                );
            }
        })
    });
    print_train_report(name, &program, &report, args)?;
    match lineage_arch::train::below_floor(&report.tasks, &tasks) {
        Some(leak) => bail!("{name}: {leak}"),
        None => Ok(()),
    }
}

/// Refuses, before anything is allocated, a model whose estimated training memory is over the
/// machine's default budget (the one a campaign's checks use), with the estimate in the message.
fn fits_in_memory(
    program: &Program,
    dims: Dims,
    tasks: &[Box<dyn Task>],
    args: &ArchTrainArgs,
) -> anyhow::Result<()> {
    let shape = TrainShape::of(tasks, args.layers, args.batch, args.steps);
    let budget = Budget {
        runs: vec![("this".to_owned(), dims, shape)],
        memory_bytes: Resources::of_machine().memory_bytes,
    };
    match lineage_arch::checks::resources(program, &budget) {
        Some(verdict) if !verdict.passed => {
            let message =
                verdict.diagnostics.first().map_or("over the memory budget".into(), |d| d.message.clone());
            bail!("{message}")
        }
        _ => Ok(()),
    }
}

fn print_train_report(
    name: &str,
    program: &Program,
    report: &TrainReport,
    args: &ArchTrainArgs,
) -> anyhow::Result<()> {
    let line = TrainLine {
        program: name,
        program_hash: lang::program_hash(program).to_hex(),
        backend: lineage_arch::backend::label(),
        threads: lineage_arch::backend::threads(),
        seed: args.seed,
        params: report.params,
        steps: report.steps,
        tokens_seen: report.tokens_seen,
        tokens_per_s: report.tokens_per_s(),
        wall_ms: report.wall_ms,
        loss_train_final: report.loss_train_final,
        benchmark_mean: report.benchmark_mean(),
        stopped: report.stop.as_ref().map(|s| format!("{s:?}")),
        tasks: report
            .tasks
            .iter()
            .map(|t| TaskLine { task: &t.task, accuracy: t.accuracy, loss: t.loss })
            .collect(),
        loss_curve: &report.loss_curve,
    };
    if args.json {
        return output::print(&serde_json::to_string_pretty(&line)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{name}: {} parameters, {} steps, {:.0} tokens/s on {} ({} threads), {:.1} s",
        line.params,
        line.steps,
        line.tokens_per_s,
        line.backend,
        line.threads,
        line.wall_ms as f64 / 1000.0
    )?;
    writeln!(out, "final training loss {:.4}", line.loss_train_final)?;
    for task in &line.tasks {
        match task.accuracy {
            Some(accuracy) => {
                writeln!(out, "  {:<16} accuracy {:.3}  loss {:.4}", task.task, accuracy, task.loss)?
            }
            None => writeln!(out, "  {:<16} loss {:.4}", task.task, task.loss)?,
        }
    }
    if let Some(stop) = &line.stopped {
        writeln!(out, "stopped early: {stop}")?;
    }
    Ok(())
}

/// A number for a table: whole numbers without decimals, small ones in scientific notation.
fn short(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e12 {
        format!("{value:.0}")
    } else if value != 0.0 && value.abs() < 0.01 {
        format!("{value:.2e}")
    } else {
        format!("{value:.3}")
    }
}
