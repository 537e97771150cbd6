//! A bounded pool for batches of jobs (`create CLIP...`, `import FOLDER|MANIFEST.csv`): at most
//! `size()` jobs run at once, results come back in the order of the inputs.
//!
//! The size: x264 already spreads one encode over the cores (ffmpeg's automatic thread count;
//! castbook only pins the scaler to 2 slice threads), but a create is more than an encode:
//! probing, decoding, the keyframes and signature outputs, hashing and the commit are largely
//! serial. Half as many jobs as cores, and at least two where there are two cores, keeps every
//! core busy without stacking encoders that would only fight over the same cores.

use std::future::Future;

use futures::stream::{self, StreamExt};

/// The most jobs `CASTBOOK_JOBS` may ask for.
const MAX_JOBS: usize = 64;

/// How many jobs run at once: `CASTBOOK_JOBS` (1 to 64) when set, else `default_size`.
pub fn size() -> usize {
    std::env::var("CASTBOOK_JOBS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_JOBS).contains(n))
        .unwrap_or_else(|| {
            default_size(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
            )
        })
}

/// Half the cores, at least two, never more than the cores.
pub fn default_size(cores: usize) -> usize {
    let cores = cores.max(1);
    (cores / 2).max(2).min(cores)
}

/// Run `job(index, item)` for every item, at most `size` at once; the results in input order.
/// A job not started yet is only started when a slot frees, so a job that checks a
/// cancellation token first is never begun after a stop.
pub async fn run<T, R, F, Fut>(items: Vec<T>, size: usize, mut job: F) -> Vec<R>
where
    F: FnMut(usize, T) -> Fut,
    Fut: Future<Output = R>,
{
    stream::iter(items.into_iter().enumerate())
        .map(move |(i, t)| job(i, t))
        .buffered(size.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn sizes() {
        assert_eq!(default_size(1), 1);
        assert_eq!(default_size(2), 2);
        assert_eq!(default_size(4), 2);
        assert_eq!(default_size(16), 8);
        assert_eq!(default_size(0), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_than_size_at_once_and_results_in_order() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = run((0..12).collect(), 3, |i, x: u64| {
            let running = running.clone();
            let peak = peak.clone();
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Later items finish first: the order must still be the inputs'.
                tokio::time::sleep(std::time::Duration::from_millis(30 - 2 * x)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                (i, x * 10)
            }
        })
        .await;
        assert_eq!(out, (0..12).map(|i| (i, i as u64 * 10)).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
