//! Stopping a long command: Ctrl-C (SIGINT) and SIGTERM end it the same clean way — a worker
//! releases its runs, an analyst prints its report, a campaign records a pause — and the process
//! then exits with 128 plus the signal's number (130, 143), as shells and cluster managers
//! expect of a stopped program: a stopped command is never taken for one that finished.

use std::sync::atomic::{AtomicI32, Ordering};

/// The exit status of a command stopped by a signal (128 + its number); 0 while not stopped.
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// Completes on the first Ctrl-C or SIGTERM, and remembers which.
pub async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let signal = tokio::select! {
        _ = tokio::signal::ctrl_c() => 2,
        () = term => 15,
    };
    stopped_by(signal);
}

/// Records that signal `number` stopped the command.
pub fn stopped_by(number: i32) {
    STOPPED_BY.store(128 + number, Ordering::Relaxed);
}

/// Exits with 128 + the signal's number if one stopped the command (after it reported), or
/// returns.
pub fn exit_if_stopped() -> anyhow::Result<()> {
    match STOPPED_BY.load(Ordering::Relaxed) {
        0 => Ok(()),
        code => std::process::exit(code),
    }
}
