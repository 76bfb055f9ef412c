//! `lineage bench train --pytorch PYTHON`: lineage's training step against the same model in
//! a PyTorch eager loop (`bench/pytorch/train.py`: same shapes, weights layout, optimiser and
//! clipping), interleaved round by round on the same threads, and the ratio of their tokens/s.
//! PyTorch is only ever run as that script: it is no build or test dependency.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use lineage_arch::baselines;
use lineage_arch::lang::{Dims, check};
use lineage_arch::tasks::{self, Task};
use lineage_arch::train::{TrainConfig, train};
use serde::{Deserialize, Serialize};

use crate::cli::BenchTrainArgs;
use crate::machine::Machine;
use crate::output;

/// Where the PyTorch side lives, from the repository's root.
const SCRIPT: &str = "bench/pytorch/train.py";
/// The baselines compared when none is named.
const DEFAULT_BASELINES: [&str; 3] = ["deltanet", "gla", "linear_attention"];

/// A model size, as lineage's tasks and as the script's flags for the same batches.
struct Size {
    name: &'static str,
    dims: Dims,
    layers: u32,
    /// lineage's tasks, trained round-robin.
    tasks: &'static [&'static str],
    /// The same, for the script: the length and the task of each step in turn.
    lengths: &'static str,
    script_tasks: &'static str,
}

const EXPLORATION: Size = Size {
    name: "exploration",
    dims: Dims { d: 64, h: 4 },
    layers: 2,
    tasks: &["mqar", "lm"],
    lengths: "64,96",
    script_tasks: "mqar,lm",
};
/// 4× the exploration size in width × depth, 256 tokens a step: where matmuls dominate.
const LARGE: Size = Size {
    name: "large",
    dims: Dims { d: 128, h: 4 },
    layers: 4,
    tasks: &["mqar:len=256,vocab=256"],
    lengths: "256,256",
    script_tasks: "mqar,mqar",
};

/// What the script prints with `--json`.
#[derive(Deserialize)]
struct ScriptRow {
    params: u64,
    tokens_per_s: f64,
    torch_version: String,
    threads: u32,
    form: String,
}

#[derive(Serialize)]
struct Row {
    size: &'static str,
    baseline: String,
    params: u64,
    /// Recurrence form the PyTorch side used.
    pytorch_form: String,
    lineage_tokens_per_s: Vec<f64>,
    pytorch_tokens_per_s: Vec<f64>,
    /// Median of the rounds' ratios, lineage over PyTorch.
    ratio: f64,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    backend: String,
    threads: u32,
    torch_version: String,
    torch_threads: u32,
    steps: u32,
    rounds: u32,
    rows: Vec<Row>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}

/// lineage's tokens/s and parameters for `steps` timed steps after one untimed step (the
/// script times the same way).
fn lineage_row(baseline: &str, size: &Size, steps: u32) -> anyhow::Result<(f64, u64)> {
    let program =
        baselines::get(baseline).with_context(|| format!("unknown baseline {baseline:?}"))?.program();
    let graph = check(&program, size.dims).graph.context("a baseline failed to check")?;
    let task_list: Vec<Box<dyn Task>> =
        size.tasks.iter().map(|spec| tasks::from_spec(spec)).collect::<Result<_, _>>()?;
    let config = TrainConfig { layers: size.layers, steps: steps + 1, ..TrainConfig::exploration(1) };
    let mut after_first = None;
    let report = train(&graph, &task_list, &config, &lineage_arch::backend::device(), |p| {
        if p.step == 0 {
            after_first = Some((p.tokens_seen, p.wall_ms));
        }
    });
    let (tokens, ms) = after_first.context("no step was trained")?;
    if report.steps != steps + 1 {
        bail!("{baseline} stopped after {} steps ({:?})", report.steps, report.stop);
    }
    let seconds = report.train_ms.saturating_sub(ms).max(1) as f64 / 1000.0;
    Ok(((report.tokens_seen - tokens) as f64 / seconds, report.params))
}

fn pytorch_row(
    python: &Path,
    baseline: &str,
    size: &Size,
    steps: u32,
    threads: u32,
) -> anyhow::Result<ScriptRow> {
    let output = Command::new(python)
        .arg(SCRIPT)
        .args(["--baseline", baseline, "--json"])
        .args(["--steps", &steps.to_string(), "--threads", &threads.to_string()])
        .args(["--d-model", &size.dims.d.to_string(), "--heads", &size.dims.h.to_string()])
        .args(["--layers", &size.layers.to_string()])
        .args(["--lengths", size.lengths, "--tasks", size.script_tasks])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        bail!("{SCRIPT} --baseline {baseline} failed: {why}");
    }
    let line =
        stdout.lines().rev().find(|l| l.starts_with('{')).context("the script printed no JSON line")?;
    serde_json::from_str(line).with_context(|| format!("unreadable line from {SCRIPT}: {line}"))
}

pub fn run(args: &BenchTrainArgs, python: &Path) -> anyhow::Result<()> {
    if !Path::new(SCRIPT).is_file() {
        bail!("{SCRIPT} not found: run `lineage bench train --pytorch` from the repository's root");
    }
    if args.steps < 2 {
        bail!("--steps must be at least 2");
    }
    let chosen: Vec<&str> = if args.baselines.is_empty() {
        DEFAULT_BASELINES.to_vec()
    } else {
        args.baselines.iter().map(String::as_str).collect()
    };
    for name in &chosen {
        baselines::get(name).with_context(|| format!("unknown baseline {name:?}"))?;
    }
    let threads = lineage_arch::backend::threads();
    let sizes: Vec<&Size> = if args.large { vec![&EXPLORATION, &LARGE] } else { vec![&EXPLORATION] };
    let (mut rows, mut torch) = (Vec::new(), None);
    for size in sizes {
        for baseline in &chosen {
            let (mut ours, mut theirs, mut ratios, mut form) =
                (Vec::new(), Vec::new(), Vec::new(), String::new());
            let mut params = 0;
            for round in 0..args.rounds {
                // Alternate who goes first, so neither always runs on a cooler machine.
                let (lineage, script) = if round % 2 == 0 {
                    let l = lineage_row(baseline, size, args.steps)?;
                    (l, pytorch_row(python, baseline, size, args.steps, threads)?)
                } else {
                    let s = pytorch_row(python, baseline, size, args.steps, threads)?;
                    (lineage_row(baseline, size, args.steps)?, s)
                };
                if script.params != lineage.1 {
                    bail!(
                        "{baseline} at the {} size: {} parameters in lineage, {} in PyTorch",
                        size.name,
                        lineage.1,
                        script.params
                    );
                }
                ratios.push(lineage.0 / script.tokens_per_s);
                ours.push(lineage.0);
                theirs.push(script.tokens_per_s);
                params = lineage.1;
                form = script.form.clone();
                torch = Some((script.torch_version, script.threads));
            }
            if !args.json {
                eprintln!("{} {baseline}: {:.2}x PyTorch", size.name, median(&ratios));
            }
            rows.push(Row {
                size: size.name,
                baseline: (*baseline).to_owned(),
                params,
                pytorch_form: form,
                lineage_tokens_per_s: ours,
                pytorch_tokens_per_s: theirs,
                ratio: median(&ratios),
            });
        }
    }
    let (torch_version, torch_threads) = torch.context("nothing was compared")?;
    let report = Report {
        machine: Machine::detect(),
        backend: lineage_arch::backend::label(),
        threads,
        torch_version,
        torch_threads,
        steps: args.steps,
        rounds: args.rounds,
        rows,
    };
    print_report(&report, args.json)
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        return output::print(&serde_json::to_string_pretty(report)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "machine: {}", report.machine)?;
    writeln!(
        out,
        "lineage: {} ({} threads); PyTorch {} eager ({} threads); {} rounds of {} timed steps, medians",
        report.backend,
        report.threads,
        report.torch_version,
        report.torch_threads,
        report.rounds,
        report.steps
    )?;
    writeln!(
        out,
        "{:<12} {:<18} {:>9} {:>14} {:>14} {:>7}  PyTorch form",
        "size", "baseline", "params", "lineage tok/s", "PyTorch tok/s", "ratio"
    )?;
    for row in &report.rows {
        writeln!(
            out,
            "{:<12} {:<18} {:>9} {:>14.0} {:>14.0} {:>6.2}x  {}",
            row.size,
            row.baseline,
            row.params,
            median(&row.lineage_tokens_per_s),
            median(&row.pytorch_tokens_per_s),
            row.ratio,
            row.pytorch_form
        )?;
    }
    Ok(())
}
