//! The worker pool: `workers.threads` threads that do the CPU work
//! (decode, resize, encode), off the async runtime, each keeping its own
//! spare pixel buffers ([`crate::pool`]) so memory stays bounded by the
//! number of workers, not by the number of files waiting.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// A worker idle this long gives its spare buffers back.
const IDLE: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

pub struct Workers {
    queue: Mutex<Option<Sender<Job>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Start `count` worker threads (at least one).
    pub fn new(count: usize) -> Workers {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let threads = (0..count.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("specdrop-worker-{i}"))
                    .spawn(move || {
                        loop {
                            let next = match rx.lock() {
                                Ok(rx) => rx.recv_timeout(IDLE),
                                Err(_) => break,
                            };
                            match next {
                                // A panic is the job's failure (its reply is
                                // dropped, which the caller sees), not the
                                // worker's: the others go on.
                                Ok(job) => drop(catch_unwind(AssertUnwindSafe(job))),
                                Err(RecvTimeoutError::Timeout) => crate::pool::clear(),
                                Err(RecvTimeoutError::Disconnected) => break,
                            }
                        }
                    })
            })
            .filter_map(Result::ok)
            .collect();
        Workers {
            queue: Mutex::new(Some(tx)),
            threads,
        }
    }

    /// Run `job` on a worker; `false` when the pool is shut down.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> bool {
        match self.queue.lock() {
            Ok(queue) => queue.as_ref().is_some_and(|tx| tx.send(Box::new(job)).is_ok()),
            Err(_) => false,
        }
    }

    pub fn count(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for Workers {
    /// Closing the queue ends each worker after its current job; they are
    /// not waited for (a drop may happen on an async thread).
    fn drop(&mut self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_and_a_panicking_one_does_not_stop_the_others() {
        let workers = Workers::new(2);
        let (tx, rx) = mpsc::channel();
        assert!(workers.submit(|| panic!("a bad file")));
        for i in 0..10 {
            let tx = tx.clone();
            assert!(workers.submit(move || {
                let _ = tx.send(i);
            }));
        }
        let mut got: Vec<i32> = (0..10)
            .filter_map(|_| rx.recv_timeout(Duration::from_secs(5)).ok())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}
