//! File-system work called from async code (report pages, stats of parked
//! files): on the daemon's multi-threaded runtime it runs with the worker
//! handed over to other tasks, so a slow share never stalls the watcher,
//! the timers or the metrics endpoint.

/// Run `work` without holding up the async runtime's other tasks.
pub fn off_runtime<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
