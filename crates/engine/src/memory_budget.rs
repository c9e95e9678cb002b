//! `workers.memory_mb`: the pixels all derivative workers hold at once.
//!
//! A sheet is admitted to a worker when what it will hold (known from its
//! header, before any pixel is decoded) fits in what is left of the
//! budget; until then it waits, holding only its bytes. One 150 MP sheet
//! may so take the budget of several 21 MP ones, and no mix of sheets
//! holds more than the budget. A sheet that needs more than the whole
//! budget is admitted alone, once everything else is done.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// What a worker holds per decoded RGB byte (at the scale the sheet is
/// decoded at): the decoded sheet, the large and web images beside it, the
/// decoders' own buffers. Measured as the process's peak RSS per worker
/// (2 workers, docs/performance.md "Large sheets at bounded memory"): 2.1
/// for 143 MP sheets decoded at half size, 2.4 for 21 MP sheets.
const HELD_PER_DECODED_BYTE: f64 = 2.5;

pub struct MemoryBudget {
    total_mb: u32,
    permits: Semaphore,
    in_use_mb: AtomicU64,
    peak_mb: AtomicU64,
}

/// A sheet's share of the budget, given back when dropped.
pub struct Admitted<'a> {
    budget: &'a MemoryBudget,
    mb: u32,
    _permit: Option<SemaphorePermit<'a>>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.budget.in_use_mb.fetch_sub(u64::from(self.mb), Ordering::Relaxed);
    }
}

/// Bytes per source pixel for Tesseract and the grey copy it is given.
const READER_PER_PIXEL: f64 = 7.5 + 1.0;

impl MemoryBudget {
    pub fn new(total_mb: u32) -> MemoryBudget {
        let total_mb = total_mb.max(1);
        MemoryBudget {
            total_mb,
            permits: Semaphore::new(total_mb as usize),
            in_use_mb: AtomicU64::new(0),
            peak_mb: AtomicU64::new(0),
        }
    }

    pub fn total_mb(&self) -> u32 {
        self.total_mb
    }

    /// What a `width`×`height` sheet holds while it is derived, in MB.
    pub fn needs_mb(width: u32, height: u32) -> u32 {
        let decoded = f64::from(width) * f64::from(height) * 3.0;
        let mb = (decoded * HELD_PER_DECODED_BYTE / f64::from(1u32 << 20)).ceil();
        mb.clamp(1.0, f64::from(u32::MAX)) as u32
    }

    /// MB Tesseract holds reading a `width` x `height` sheet handed to it
    /// in grey (157 MB measured for 21 MP, orientation detection and
    /// text alike), with the grey copy beside it.
    pub fn reader_needs_mb(width: u32, height: u32) -> u32 {
        let mb = (f64::from(width) * f64::from(height) * READER_PER_PIXEL / f64::from(1u32 << 20)).ceil();
        mb.clamp(1.0, f64::from(u32::MAX)) as u32
    }

    /// Wait until `mb` fits; a sheet larger than the whole budget waits
    /// for all of it.
    pub async fn admit(&self, mb: u32) -> Admitted<'_> {
        let take = mb.clamp(1, self.total_mb);
        let permit = self.permits.acquire_many(take).await.ok();
        let now = self.in_use_mb.fetch_add(u64::from(take), Ordering::Relaxed) + u64::from(take);
        self.peak_mb.fetch_max(now, Ordering::Relaxed);
        Admitted {
            budget: self,
            mb: take,
            _permit: permit,
        }
    }

    /// The most admitted at once so far, in MB.
    pub fn peak_mb(&self) -> u64 {
        self.peak_mb.load(Ordering::Relaxed)
    }
}

/// `workers.memory_mb`'s default: a quarter of the machine's memory (the
/// rest is the system's, the database's and the page cache's), at least
/// 512 MB; 2048 MB where the memory cannot be read.
pub fn default_mb() -> u32 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    match total_kib {
        Some(kib) => u32::try_from(kib / 1024 / 4).unwrap_or(u32::MAX).max(512),
        None => 2048,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_sheet_needs_what_it_decodes_to_and_the_intermediates() {
        // A 21 MP corpus sheet, and a 143 MP one decoded at half size.
        assert_eq!(MemoryBudget::needs_mb(3753, 5634), 152);
        assert_eq!(MemoryBudget::needs_mb(4879, 7324), 256);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_mix_of_sheets_holds_more_than_the_budget() {
        let budget = Arc::new(MemoryBudget::new(300));
        let mut tasks = tokio::task::JoinSet::new();
        // Sheets of 91 and 614 MB (the big one over the whole budget), many
        // at once.
        for i in 0..24u32 {
            let budget = budget.clone();
            let mb = if i % 6 == 0 { 614 } else { 91 };
            tasks.spawn(async move {
                let _held = budget.admit(mb).await;
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a task ends");
        }
        assert!(budget.peak_mb() <= 300, "peak {} MB", budget.peak_mb());
        // Three 91 MB sheets fit together, so they did run side by side.
        assert!(budget.peak_mb() >= 182, "peak {} MB", budget.peak_mb());
        assert_eq!(budget.in_use_mb.load(Ordering::Relaxed), 0, "everything given back");
    }

    #[test]
    fn the_default_is_a_quarter_of_the_memory_at_least_512_mb() {
        assert!(default_mb() >= 512);
    }
}
