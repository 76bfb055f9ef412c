//! `lineage`: the command-line interface. Glue only: parse arguments, open the store, call the
//! library crates, print, and map the outcome to an exit code.

// Everything printed goes through `output`, where a closed pipe (`lineage … | head -1`) is
// success; `println!` would panic there.
#![deny(clippy::print_stdout)]

mod allocator;
mod cli;
mod commands;
mod machine;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    allocator::tune();
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LINEAGE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("start the tokio runtime");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lineage: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
