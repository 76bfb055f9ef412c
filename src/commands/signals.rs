//! Stopping a long command: Ctrl-C (SIGINT) and SIGTERM end it the same clean way — a worker
//! releases its runs, an analyst prints its report, a campaign records a pause — and the process
//! then exits with 128 plus the signal's number (130, 143), as shells and cluster managers
//! expect of a stopped program: a stopped command is never taken for one that finished.

use std::sync::atomic::{AtomicI32, Ordering};

/// The exit status of a command stopped by a signal (128 + its number); 0 while not stopped.
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// Completes on the first Ctrl-C or SIGTERM, and remembers which. Both are caught from the
/// call on, not from the first poll: a signal that comes before the future is awaited is not
/// lost to the default action (ending the process without its report).
pub fn stopped() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok());
    async move {
        let number = tokio::select! {
            () = received(int.as_mut()) => 2,
            () = received(term.as_mut()) => 15,
        };
        stopped_by(number);
    }
}

/// Completes when `signal` arrives; never, when it could not be caught.
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => _ = signal.recv().await,
        None => std::future::pending().await,
    }
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
