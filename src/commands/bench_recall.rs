//! `lineage bench recall`: associative recall against state size, as Zoology measures it. Trains
//! each program on MQAR alone over a cross of settings — the key-value pairs at the middle head
//! count, and the head count (state per layer d²/h) at the middle pair count — under several
//! seeds, and reports per cell the mean, the spread and how many seeds solved it, with two
//! figures. docs/baselines.md reads the baselines against the published ordering with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use lineage_actors::training::reproduce;
use lineage_arch::backend::Numerics;
use lineage_arch::lang::{self, Dims};
use lineage_arch::limits::{self, TrainSizes};
use lineage_events::payload::{StageConfig, TaskSpec};
use serde::{Deserialize, Serialize};

use super::bench_fitness::Spread;
use super::charts::{self, Line};
use crate::machine::Machine;

/// Accuracy above which a run counts as having solved the task.
const SOLVED: f64 = 0.9;

/// The grid to measure.
pub struct Options<'a> {
    pub programs: &'a [String],
    pub pairs: &'a [u32],
    pub heads: &'a [u32],
    pub seeds: u32,
    pub steps: u32,
    pub len: u32,
    pub vocab: u32,
    pub d_model: u32,
    pub lr: f64,
    pub workers: u32,
    pub out: &'a Path,
    /// A saved `--json` report to draw and print again instead of training.
    pub from: Option<&'a Path>,
    pub json: bool,
}

/// One (pairs, heads) setting of one program, over the seeds.
#[derive(Serialize, Deserialize)]
struct Cell {
    program: String,
    pairs: u32,
    heads: u32,
    /// Recurrent state per layer, d²/h numbers.
    state: u32,
    accuracy: Spread,
    /// Per seed, seeds 0, 1, ….
    by_seed: Vec<f64>,
    /// Seeds whose accuracy is above 0.9.
    solved: u32,
    params: u64,
}

#[derive(Serialize, Deserialize)]
struct Report {
    machine: Machine,
    task: String,
    steps: u32,
    batch: u32,
    d_model: u32,
    layers: u32,
    learning_rate: f64,
    seeds: u32,
    threads_per_run: u32,
    cells: Vec<Cell>,
    figures: Vec<PathBuf>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let mut report = match options.from {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str::<Report>(&text).map_err(|e| {
                anyhow::anyhow!("{} is not a `bench recall --json` report: {e}", path.display())
            })?
        }
        None => measure(options)?,
    };
    report.figures = draw(&report, options.out)?;
    if options.json {
        return crate::output::print(&serde_json::to_string_pretty(&report)?);
    }
    crate::output::print(&table(&report))
}

/// Trains every cell of the grid.
fn measure(options: &Options) -> anyhow::Result<Report> {
    let programs: Vec<(String, String)> =
        options.programs.iter().map(|p| super::arch::load(p)).collect::<anyhow::Result<_>>()?;
    let sorted = |values: &[u32]| {
        let mut values = values.to_vec();
        values.sort_unstable();
        values.dedup();
        values
    };
    let (pairs, heads) = (sorted(options.pairs), sorted(options.heads));
    let (pairs_mid, heads_mid) = (pairs[pairs.len() / 2], heads[heads.len() / 2]);
    // The cross: every pair count at the middle head count, every head count at the middle pairs.
    let mut settings: Vec<(u32, u32)> = pairs.iter().map(|&p| (p, heads_mid)).collect();
    settings.extend(heads.iter().filter(|&&h| h != heads_mid).map(|&h| (pairs_mid, h)));
    for &(pairs, heads) in &settings {
        let spec = format!("mqar:pairs={pairs},len={},vocab={}", options.len, options.vocab);
        lineage_arch::tasks::from_spec(&spec).map_err(|e| anyhow::anyhow!("{spec}: {e}"))?;
        let sizes = TrainSizes {
            d_model: options.d_model,
            heads,
            layers: 2,
            steps: options.steps,
            batch: 16,
            learning_rate: options.lr,
        };
        limits::check_train(&sizes, limits::train_flag)?;
        for (source, name) in &programs {
            let program = super::arch::parsed(source, name)?;
            if lang::check(&program, Dims { d: options.d_model, h: heads }).graph.is_none() {
                bail!("{name} does not check at d = {}, h = {heads}", options.d_model);
            }
        }
    }
    let task = |pairs: u32| TaskSpec {
        name: "mqar".into(),
        settings: BTreeMap::from([
            ("pairs".to_owned(), f64::from(pairs)),
            ("len".to_owned(), f64::from(options.len)),
            ("vocab".to_owned(), f64::from(options.vocab)),
        ]),
        corpus: None,
    };
    let stage = |pairs: u32, heads: u32| StageConfig {
        layers: 2,
        d_model: options.d_model,
        heads,
        steps: options.steps,
        batch: 16,
        learning_rate: options.lr,
        run_wall_s_max: 3600,
        seeds: options.seeds,
        tasks: vec![task(pairs)],
        eval_batches: 32,
    };
    let jobs: Vec<(usize, (u32, u32), u64)> = (0..programs.len())
        .flat_map(|p| {
            settings.iter().flat_map(move |&s| (0..u64::from(options.seeds)).map(move |seed| (p, s, seed)))
        })
        .collect();
    let threads = (lineage_arch::backend::threads() / options.workers.max(1)).max(1);
    let device = lineage_arch::backend::device();
    let results = super::jobs::run_all(options.workers, jobs.len(), |i| {
        let (p, (pairs, heads), seed) = jobs[i];
        let (source, name) = &programs[p];
        eprintln!(
            "lineage bench recall: {name} pairs {pairs} heads {heads} seed {seed} ({} of {})",
            i + 1,
            jobs.len()
        );
        reproduce(source, &stage(pairs, heads), seed, threads, Numerics::CURRENT, &device)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))
    });
    let mut runs = BTreeMap::<(usize, u32, u32), Vec<(f64, u64)>>::new();
    for (&(p, (pairs, heads), _), result) in jobs.iter().zip(results) {
        let metrics = result?;
        let accuracy = metrics.tasks.get("mqar").and_then(|t| t.accuracy).unwrap_or(0.0);
        runs.entry((p, pairs, heads)).or_default().push((accuracy, metrics.params));
    }
    let cells: Vec<Cell> = (0..programs.len())
        .flat_map(|p| settings.iter().map(move |&s| (p, s)))
        .map(|(p, (pairs, heads))| {
            let seeds = &runs[&(p, pairs, heads)];
            let by_seed: Vec<f64> = seeds.iter().map(|r| r.0).collect();
            Cell {
                program: display_name(&programs[p].1),
                pairs,
                heads,
                state: options.d_model * options.d_model / heads,
                accuracy: Spread::of(&by_seed),
                solved: by_seed.iter().filter(|&&a| a > SOLVED).count() as u32,
                by_seed,
                params: seeds[0].1,
            }
        })
        .collect();
    Ok(Report {
        machine: Machine::detect(),
        task: format!("mqar:len={},vocab={}", options.len, options.vocab),
        steps: options.steps,
        batch: 16,
        d_model: options.d_model,
        layers: 2,
        learning_rate: options.lr,
        seeds: options.seeds,
        threads_per_run: threads,
        cells,
        figures: Vec::new(),
    })
}

/// `baselines/gla.arch` or `bench/recall/gla_noconv.arch` as `gla`, `gla_noconv`.
fn display_name(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.strip_suffix(".arch").unwrap_or(file).to_owned()
}

/// The (pairs, heads) settings of the grid, in the order measured.
fn settings(cells: &[Cell]) -> Vec<(u32, u32)> {
    let mut settings: Vec<(u32, u32)> = Vec::new();
    for c in cells {
        if !settings.contains(&(c.pairs, c.heads)) {
            settings.push((c.pairs, c.heads));
        }
    }
    settings
}

fn table(report: &Report) -> String {
    let settings = settings(&report.cells);
    let mut out = format!(
        "machine: {}\n{} · d {} · {} layers · {} steps of batch {} · lr {} · {} seeds · {} threads per run\n\
         cells: mean accuracy ± std (seeds above {SOLVED} of {})\n\n{:<24}",
        report.machine,
        report.task,
        report.d_model,
        report.layers,
        report.steps,
        report.batch,
        report.learning_rate,
        report.seeds,
        report.threads_per_run,
        report.seeds,
        "program"
    );
    for (pairs, heads) in &settings {
        out += &format!(" {:>18}", format!("pairs {pairs} h {heads}"));
    }
    out += "\n";
    for row in report.cells.chunks(settings.len()) {
        out += &format!("{:<24}", row[0].program);
        for cell in row {
            out += &format!(
                " {:>18}",
                format!("{:.2} ± {:.2} ({})", cell.accuracy.mean, cell.accuracy.std, cell.solved)
            );
        }
        out += "\n";
    }
    if !report.figures.is_empty() {
        let shown: Vec<String> = report.figures.iter().map(|f| f.display().to_string()).collect();
        out += &format!("\nfigures: {}", shown.join(", "));
    }
    out
}

/// Accuracy against pairs (at the middle head count) and against state size (at the middle
/// pairs), one line per program, SVG and PNG.
fn draw(report: &Report, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let cells = &report.cells;
    // The middle of each axis, where the other one is measured (as `measure` chose them).
    let middle = |of: fn(&Cell) -> u32| {
        let mut values: Vec<u32> = cells.iter().map(of).collect();
        values.sort_unstable();
        values.dedup();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    let (pairs_mid, heads_mid) = (middle(|c| c.pairs), middle(|c| c.heads));
    charts::register_font();
    let mut names: Vec<&str> = cells.iter().map(|c| c.program.as_str()).collect();
    names.dedup();
    // The settings of one axis in order, and each program's line over them.
    let axis = |of: &dyn Fn(&Cell) -> Option<u32>| -> (Vec<String>, Vec<Line>) {
        let mut values: Vec<u32> = cells.iter().filter_map(of).collect();
        values.sort_unstable();
        values.dedup();
        let lines = names
            .iter()
            .map(|name| Line {
                label: (*name).to_owned(),
                points: cells
                    .iter()
                    .filter(|c| c.program == *name)
                    .filter_map(|c| {
                        let at = values.iter().position(|v| Some(*v) == of(c))?;
                        let lo = c.by_seed.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = c.by_seed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        Some((at, c.accuracy.mean, lo, hi))
                    })
                    .collect(),
            })
            .collect();
        (values.iter().map(u32::to_string).collect(), lines)
    };
    let (pairs, by_pairs) = axis(&|c| (c.heads == heads_mid).then_some(c.pairs));
    let (states, by_state) = axis(&|c| (c.pairs == pairs_mid).then_some(c.state));
    let title = format!("{}, d {}, {} steps of {}", report.task, report.d_model, report.steps, report.batch);
    let mut written = Vec::new();
    for ext in ["svg", "png"] {
        let path = out.join(format!("recall-pairs.{ext}"));
        charts::lines(&path, &title, &format!("key-value pairs (h = {heads_mid})"), &pairs, &by_pairs)?;
        written.push(path);
        let path = out.join(format!("recall-state.{ext}"));
        let x_desc = format!("recurrent state per layer, d²/h (pairs = {pairs_mid})");
        charts::lines(&path, &title, &x_desc, &states, &by_state)?;
        written.push(path);
    }
    Ok(written)
}
