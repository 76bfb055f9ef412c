//! Running independent benchmark jobs on a few worker threads, results in job order.

use std::sync::Mutex;

/// Runs `job(i)` for every `i` in `0..count` on `workers` threads, each taking the next job as it
/// frees up, and returns the results by job index (not by finishing order).
pub(super) fn run_all<T: Send>(workers: u32, count: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut next = next.lock().expect("not poisoned");
                        let i = *next;
                        *next += 1;
                        i
                    };
                    if i >= count {
                        break;
                    }
                    let result = job(i);
                    results.lock().expect("not poisoned")[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().expect("not poisoned").into_iter().map(|r| r.expect("every job ran")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_job_order() {
        let squares = super::run_all(3, 20, |i| i * i);
        assert_eq!(squares, (0..20).map(|i| i * i).collect::<Vec<_>>());
        assert!(super::run_all(2, 0, |i| i).is_empty());
    }
}
