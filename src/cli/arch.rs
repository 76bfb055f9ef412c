//! `lineage arch …` and `lineage export-arch`: the arguments of the commands on one program.

use clap::{Args, Subcommand};

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
    /// Folder to write into (created if needed; a file already there is never replaced: the
    /// export is refused instead).
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
    /// Seed of fresh weights [default: 0]: a program's, or a campaign architecture's at the size
    /// options give (its trained weights have their run's seed).
    #[arg(long)]
    pub seed: Option<u64>,
}
