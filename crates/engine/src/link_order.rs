//! Files are stored and linked one at a time and in the order the scan
//! found them (sorted by name), while their derivatives are made in
//! parallel. One at a time: two images of one unknown number cannot both
//! create a skeletal record. In order: `X.jpg` gets the unsuffixed file
//! name and a lower sortSequence than `X_b.jpg`, whichever finished its
//! derivatives first.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct LinkOrder {
    state: Mutex<State>,
    turned: Notify,
    issued: Mutex<u64>,
}

#[derive(Default)]
struct State {
    /// Every ticket below this one is finished.
    next: u64,
    /// Finished tickets above `next`.
    finished: BTreeSet<u64>,
}

/// A file's place in the order; finishing (or dropping) it lets the next
/// file through.
pub struct Ticket {
    number: u64,
    order: Arc<LinkOrder>,
}

impl LinkOrder {
    /// Tickets must be taken in the order files are started.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        let mut issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let number = *issued;
        *issued += 1;
        Ticket {
            number,
            order: self.clone(),
        }
    }
}

impl Ticket {
    /// Wait until every earlier file is finished.
    pub async fn my_turn(&self) {
        loop {
            let turned = self.order.turned.notified();
            if self.order.lock().next >= self.number {
                return;
            }
            turned.await;
        }
    }
}

impl LinkOrder {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.order.lock();
        state.finished.insert(self.number);
        loop {
            let next = state.next;
            if !state.finished.remove(&next) {
                break;
            }
            state.next += 1;
        }
        drop(state);
        self.order.turned.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn later_tickets_wait_for_all_earlier_ones() {
        let t = Arc::new(LinkOrder::default());
        let (a, b, c) = (t.ticket(), t.ticket(), t.ticket());
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let waiter = tokio::spawn(async move {
            c.my_turn().await;
            o.lock().map(|mut v| v.push("c")).ok();
        });
        drop(b);
        tokio::task::yield_now().await;
        order.lock().map(|mut v| v.push("a")).ok();
        a.my_turn().await;
        drop(a);
        waiter.await.ok();
        assert_eq!(order.lock().map(|v| v.clone()).ok(), Some(vec!["a", "c"]));
    }
}
