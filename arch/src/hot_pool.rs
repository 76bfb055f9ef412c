//! Keeps a training pool's other threads awake while a run trains.
//!
//! A training step is a few thousand small operations, and the backend splits each large enough
//! one across the pool's threads. Between two split operations the step runs serial work (the
//! autodiff bookkeeping, small operations) long enough for an idle rayon worker to give up
//! spinning and sleep, so every split paid a wake-up of about the cost of the piece it handed
//! over. [`run`] keeps each other worker of the current pool looking for work while `f` runs and
//! keeps handing it work, as an OpenMP runtime keeps its threads spinning for a while between
//! parallel regions: the pieces are picked up at once. A worker that finds nothing for
//! `IDLE_SPIN` (a blocking callback, evaluation's serial stretches) polls at `IDLE_POLL`
//! instead, until work comes again. It costs idle cores' time, never a value: which thread
//! computes a piece does not change what it computes (arch/tests/kernels.rs).
//!
//! Meant for a pool that trains one run at a time (each trainer's own, `lineage-actors`'
//! `training::pool`): `run` returns once every thread of the pool has seen that it is done, so it
//! also waits for any long job an awake thread took, and a pool thread blocked outside rayon
//! would block it. The core count is checked per pool: several pools training at once on one
//! machine can still give their awake threads more cores' worth of work than there are cores.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long an awake worker spins without finding work before it polls instead.
const IDLE_SPIN: Duration = Duration::from_millis(2);

/// How often a worker that has stopped spinning looks for work again.
const IDLE_POLL: Duration = Duration::from_micros(200);

thread_local! {
    /// Whether this thread is training under [`run`] or keeping awake for one. An engaged thread
    /// never keeps awake (again): inside its own run it would wait for that run to end, a
    /// deadlock; an engaged thread's nested `run` only runs its closure.
    static ENGAGED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on this thread while the other threads of the current rayon pool wait for work
/// without sleeping. Outside a pool, in a pool of one thread, in a pool of more threads than
/// the machine has cores (they would take the training thread's core), or inside another `run`,
/// it only runs `f`.
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    let threads = rayon::current_num_threads();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if rayon::current_thread_index().is_none() || threads < 2 || threads > cores || ENGAGED.get() {
        return f();
    }
    let done = AtomicBool::new(false);
    rayon::in_place_scope(|scope| {
        // One copy per thread of the pool, each run by its own thread (never stolen). This
        // thread's copy returns at once: engaged while `f` runs, or finding `done` set after.
        scope.spawn_broadcast(|_, _| {
            if !ENGAGED.get() {
                let _engaged = Engaged::new();
                stay_awake(&done);
            }
        });
        let _engaged = Engaged::new();
        // Set even if `f` panics: the scope waits for the copies before it unwinds.
        let _release = Release(&done);
        f()
    })
}

/// Runs whatever work the pool has (the pieces `f`'s operations hand out) until `done`.
fn stay_awake(done: &AtomicBool) {
    #[cfg(test)]
    tests::awake(true);
    let mut last_work = Instant::now();
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            last_work = Instant::now();
        } else if last_work.elapsed() < IDLE_SPIN {
            // Nothing to run: let any other runnable thread of the machine have the core.
            std::thread::yield_now();
        } else {
            std::thread::sleep(IDLE_POLL);
        }
    }
    #[cfg(test)]
    tests::awake(false);
}

/// Marks this thread engaged until dropped, then restores what it was.
struct Engaged(bool);

impl Engaged {
    fn new() -> Self {
        Engaged(ENGAGED.replace(true))
    }
}

impl Drop for Engaged {
    fn drop(&mut self) {
        ENGAGED.set(self.0);
    }
}

struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, mpsc};
    use std::time::{Duration, Instant};

    use super::run;

    /// The names of the threads inside `stay_awake` now.
    static AWAKE: Mutex<Vec<String>> = Mutex::new(Vec::new());

    pub(super) fn awake(entering: bool) {
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        let mut awake = AWAKE.lock().unwrap();
        match entering {
            true => awake.push(name),
            false => awake.retain(|n| *n != name),
        }
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    /// `f` on another thread, failing the test if it has not returned within a minute.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || sender.send(f()));
        receiver.recv_timeout(Duration::from_secs(60)).expect("did not finish within a minute")
    }

    #[test]
    fn runs_the_closure_outside_a_pool_and_in_pools_of_any_size() {
        assert_eq!(run(|| 7), 7);
        for threads in [1, 2, 3] {
            assert_eq!(pool(threads).install(|| run(|| 7)), 7, "{threads} threads");
        }
    }

    #[test]
    fn the_other_threads_stay_awake_while_the_closure_runs_and_do_its_work() {
        use rayon::prelude::*;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return; // one core: `run` rightly keeps no thread awake
        }
        let (awake, sum) = within_a_minute(|| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .thread_name(|i| format!("awake-test-{i}"))
                .build()
                .unwrap();
            pool.install(|| {
                run(|| {
                    let this = std::thread::current().name().unwrap().to_owned();
                    let other =
                        || AWAKE.lock().unwrap().iter().any(|n| n.starts_with("awake-test-") && *n != this);
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while !other() && Instant::now() < deadline {
                        std::thread::yield_now();
                    }
                    let sum = (0..1_000_000u64).into_par_iter().sum::<u64>();
                    // Pieces slow enough that the awake thread takes some, until it has.
                    let mut helped = false;
                    while !helped && Instant::now() < deadline {
                        helped = (0..8).into_par_iter().with_max_len(1).any(|_| {
                            std::thread::sleep(Duration::from_millis(1));
                            std::thread::current().name() != Some(this.as_str())
                        });
                    }
                    (other() && helped, sum)
                })
            })
        });
        assert!(awake, "the pool's other thread never stayed awake and took a piece");
        assert_eq!(sum, 999_999 * 1_000_000 / 2);
    }

    #[test]
    fn a_run_inside_a_run_only_runs_its_closure() {
        assert_eq!(within_a_minute(|| pool(2).install(|| run(|| run(|| 1) + 1))), 2);
    }

    #[test]
    fn two_runs_sharing_a_pool_both_finish() {
        use rayon::prelude::*;
        let sums = within_a_minute(|| {
            pool(2).install(|| {
                rayon::join(
                    || run(|| (0..2_000_000u64).into_par_iter().sum::<u64>()),
                    || run(|| (0..2_000_000u64).into_par_iter().sum::<u64>()),
                )
            })
        });
        assert_eq!(sums, (1_999_999 * 1_000_000, 1_999_999 * 1_000_000));
    }

    #[test]
    fn a_panic_in_the_closure_reaches_the_caller_and_releases_the_pool() {
        let (caught, engaged, after) = within_a_minute(|| {
            let pool = pool(2);
            let caught = pool.install(|| std::panic::catch_unwind(|| run(|| panic!("step failed"))));
            let engaged = pool.broadcast(|_| super::ENGAGED.get());
            (caught.is_err(), engaged, pool.install(|| run(|| 1)))
        });
        assert!(caught, "the panic reached the caller");
        assert_eq!(engaged, [false, false], "no thread is left engaged");
        assert_eq!(after, 1, "the pool still runs work");
    }
}
