//! Big pixel buffers reused from sheet to sheet on one worker thread.
//!
//! A 21 MP sheet needs about 63 MB decoded, 46 MB at 3200 px and 9 MB at
//! 1400 px. Allocated afresh for every sheet, each such block comes from
//! the kernel as new pages and costs a page fault per 4 KiB on first touch
//! (measured: about a fifth of a sheet's time). Kept here instead, they are
//! reused by the next sheet on the same thread; they go when the thread
//! does, or when the worker has been idle for a while ([`crate::workers`]).

use std::cell::RefCell;

/// At most this many spare buffers a thread: one per pixel level of a sheet.
const KEEP: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes whose contents are unspecified (the caller
/// writes every byte).
pub fn take(len: usize) -> Vec<u8> {
    let reused = SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        let best = spare
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| spare.swap_remove(i))
    });
    match reused {
        Some(mut v) if v.len() >= len => {
            v.truncate(len);
            v
        }
        Some(mut v) => {
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// Give this thread's spare buffers back to the system (an idle worker).
pub fn clear() {
    SPARE.with(|spare| spare.borrow_mut().clear());
}

/// Hand a buffer back for the next sheet.
pub fn give(buffer: Vec<u8>) {
    if buffer.capacity() < 1 << 20 {
        return;
    }
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        spare.push(buffer);
        if spare.len() > KEEP {
            // Keep the largest: a small one is cheap to make again.
            if let Some(i) = spare
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i)
            {
                spare.swap_remove(i);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_at_the_asked_length() {
        let a = take(3 << 20);
        let ptr = a.as_ptr();
        give(a);
        let b = take(2 << 20);
        assert_eq!((b.len(), b.as_ptr()), (2 << 20, ptr), "the spare buffer is reused");
        give(b);
        let c = take(4 << 20);
        assert_eq!(c.len(), 4 << 20);
    }
}
