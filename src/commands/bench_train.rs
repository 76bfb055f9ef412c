//! `lineage bench train`: training tokens/s of every baseline at the exploration size, and the
//! achieved GFLOP/s against the machine's measured matrix-multiply peak.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::{Device, Tensor};
use lineage_arch::baselines;
use lineage_arch::lang::{Dims, check};
use lineage_arch::tasks::{self, Task};
use lineage_arch::train::{TrainConfig, train};
use serde::Serialize;

use super::bench_recur::{self, RecurRow};
use crate::cli::BenchTrainArgs;
use crate::machine::Machine;
use crate::output;

#[derive(Serialize)]
struct Row {
    baseline: String,
    params: u64,
    tokens_per_s: f64,
    step_ms: f64,
    gflops: f64,
    share_of_peak: f64,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    backend: String,
    threads: u32,
    matmul_peak_gflops: f64,
    config: String,
    rows: Vec<Row>,
    recur_forms: Vec<RecurRow>,
}

/// Best GFLOP/s of square f32 matrix multiplies on the backend.
fn matmul_peak(device: &Device) -> f64 {
    let mut best = 0f64;
    for n in [256usize, 512, 1024] {
        let a = Tensor::<2>::ones([n, n], device);
        let b = Tensor::<2>::ones([n, n], device);
        let _ = a.clone().matmul(b.clone()).into_data(); // warm-up
        let reps = (2_000_000_000 / (2 * n * n * n)).clamp(2, 50);
        let start = Instant::now();
        for _ in 0..reps {
            let _ = a.clone().matmul(b.clone()).into_data();
        }
        let seconds = start.elapsed().as_secs_f64();
        best = best.max(2.0 * (n * n * n) as f64 * reps as f64 / seconds / 1e9);
    }
    best
}

pub fn run(args: &BenchTrainArgs) -> anyhow::Result<()> {
    // Trained as a campaign's trainer trains: on a pool of this process's threads, the training
    // thread one of them, so that flex's split operations keep a piece on it.
    let threads = lineage_arch::backend::threads();
    lineage_actors::training::pool(threads).install(|| run_on_pool(args))
}

fn run_on_pool(args: &BenchTrainArgs) -> anyhow::Result<()> {
    if let Some(python) = &args.pytorch {
        return super::bench_pytorch::run(args, python);
    }
    let device = lineage_arch::backend::device();
    let chosen: Vec<&baselines::Baseline> = if args.baselines.is_empty() {
        baselines::ALL.iter().collect()
    } else {
        args.baselines
            .iter()
            .map(|name| baselines::get(name).with_context(|| format!("unknown baseline {name:?}")))
            .collect::<anyhow::Result<_>>()?
    };
    if args.steps < 2 {
        bail!("--steps must be at least 2");
    }
    let peak = matmul_peak(&device);
    let dims = Dims::DEFAULT;
    let config = TrainConfig { steps: args.steps, ..TrainConfig::exploration(1) };
    let task_list: Vec<Box<dyn Task>> = vec![tasks::by_name("mqar")?, tasks::by_name("lm")?];
    let mut rows = Vec::new();
    for baseline in chosen {
        let graph = check(&baseline.program(), dims).graph.context("a baseline failed to check")?;
        let report = train(&graph, &task_list, &config, &device, |_| {});
        // MQAR (64 tokens) and LM (96 tokens) steps alternate.
        let ops_per_step_pair =
            lineage_arch::cost::training_step_ops(&graph, config.layers, 256, config.batch, 64)
                + lineage_arch::cost::training_step_ops(&graph, config.layers, 256, config.batch, 96);
        let seconds = report.train_ms as f64 / 1000.0;
        let gflops = ops_per_step_pair * report.steps as f64 / 2.0 / seconds / 1e9;
        rows.push(Row {
            baseline: baseline.name.to_owned(),
            params: report.params,
            tokens_per_s: report.tokens_per_s(),
            step_ms: report.train_ms as f64 / report.steps.max(1) as f64,
            gflops,
            share_of_peak: gflops / peak,
        });
        if !args.json {
            eprintln!("{}: {:.0} tokens/s", baseline.name, rows.last().expect("pushed").tokens_per_s);
        }
    }
    let report = Report {
        machine: Machine::detect(),
        backend: lineage_arch::backend::label(),
        threads: lineage_arch::backend::threads(),
        matmul_peak_gflops: peak,
        config: format!(
            "d {} h {} layers {} batch {} steps {} (MQAR 64 tokens / LM 96 tokens alternating)",
            dims.d, dims.h, config.layers, config.batch, config.steps
        ),
        rows,
        recur_forms: bench_recur::compare(&device),
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
        "backend: {} ({} threads), matmul peak {:.1} GFLOP/s",
        report.backend, report.threads, report.matmul_peak_gflops
    )?;
    writeln!(out, "config:  {}", report.config)?;
    writeln!(
        out,
        "{:<20} {:>9} {:>12} {:>9} {:>9} {:>8}",
        "baseline", "params", "tokens/s", "step ms", "GFLOP/s", "of peak"
    )?;
    for row in &report.rows {
        writeln!(
            out,
            "{:<20} {:>9} {:>12.0} {:>9.1} {:>9.2} {:>7.1}%",
            row.baseline,
            row.params,
            row.tokens_per_s,
            row.step_ms,
            row.gflops,
            100.0 * row.share_of_peak
        )?;
    }
    writeln!(out, "recur, forward + backward, batch 16, d 64, h 4:")?;
    writeln!(
        out,
        "{:<20} {:>6} {:>12} {:>12} {:>8}",
        "update", "length", "stepwise ms", "chunked ms", "speedup"
    )?;
    for row in &report.recur_forms {
        writeln!(
            out,
            "{:<20} {:>6} {:>12.1} {:>12.1} {:>7.1}x",
            row.update,
            row.steps,
            row.stepwise_ms,
            row.chunked_ms,
            row.stepwise_ms / row.chunked_ms
        )?;
    }
    Ok(())
}
