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

fn main() -> ExitCode {
    allocator::tune();
    let cli = cli::Cli::parse_args();
    let filter = tracing_subscriber::EnvFilter::try_new(cli.log_filter()).unwrap_or_else(|e| {
        eprintln!("lineage: warning: the log filter is not valid ({e}); logging warnings");
        "warn".into()
    });
    // Warnings are for users: no timestamps or module paths unless asked for more.
    let detailed = cli.verbose > 0 || cli::Cli::env_log_filter().is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cli.log_in_colour())
        .with_target(detailed);
    if detailed {
        builder.init()
    } else {
        builder.without_time().init()
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("start the tokio runtime");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lineage: error: {}", output::shown(&format!("{error:#}"), true));
            ExitCode::FAILURE
        }
    }
}
