//! The pipeline's part in a shared ledger (instances.rs): a file taken
//! there before it is read and let go once it is done; a collection's
//! link turn taken before its link step. With the SQLite ledger these do
//! nothing and flock keeps processes apart (process_locks.rs).

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::collection::Prepared;
use crate::context::Context;
use crate::instances::{Me, Taken};
use crate::ledger::Ledger;
use crate::outcome::Kind;
use crate::stages::verdict::{Step, Verdict, unless_stopping};

/// How often a file waiting for the collection's link turn asks again.
const TURN_POLL: Duration = Duration::from_millis(50);

/// How long taking a file waits out a shared ledger that does not answer.
const TAKE_ATTEMPTS: u32 = 30;

/// Take `path` for this session; `Err` says which instance has it (or
/// that the ledger did not answer), and the file is left alone.
pub async fn take(ctx: &Context, collection: &Prepared, path: &Path) -> Step<()> {
    let Some(me) = &ctx.me else { return Ok(()) };
    let mut attempt = 0;
    loop {
        match ctx.ledger.take_file(me, &collection.config.code, path).await {
            Ok(Taken::Ours) => return Ok(()),
            Ok(Taken::Held(name)) => {
                return Err(Verdict::new(
                    Kind::Skipped,
                    format!("left to instance {name}, which took it first"),
                    None,
                ));
            }
            Err(e) if attempt < TAKE_ATTEMPTS && !ctx.stopping() => {
                attempt += 1;
                tracing::warn!(
                    "{}: cannot take the file in the shared ledger ({e}); trying again",
                    path.display()
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                tracing::warn!("{}: left alone: the shared ledger did not answer ({e})", path.display());
                return Err(Verdict::new(
                    Kind::Skipped,
                    format!("not taken: the shared ledger did not answer ({e}); taken at the next try"),
                    None,
                ));
            }
        }
    }
}

/// Just before the link: `path` is still this session's (a shared ledger
/// only). When it is not, or the ledger cannot say, the files made for it
/// are removed and the file is left to whoever holds it now.
pub async fn still_ours(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    files: &specdrop_derive::store::StoredSet,
    hash: &str,
) -> Step<()> {
    let Some(me) = &ctx.me else { return Ok(()) };
    let why = match ctx.ledger.still_holds_file(me, &collection.config.code, path).await {
        Ok(true) => return Ok(()),
        Ok(false) => "this instance's lease on it ended before the link (was it paused?); left to the instance that \
                      took it over"
            .to_string(),
        Err(e) => {
            format!("the shared ledger could not say whether it is still this instance's ({e}); taken at the next try")
        }
    };
    tracing::warn!("{}: not linked: {why}", path.display());
    crate::claims::undo(ctx, files, hash, path).await;
    Err(Verdict::new(Kind::Skipped, why, None))
}

/// This session is done with `path`.
pub async fn let_go(ctx: &Context, collection: &Prepared, path: &Path) {
    if let Some(me) = &ctx.me
        && let Err(e) = ctx.ledger.let_go(me, &collection.config.code, path).await
    {
        tracing::warn!(
            "{}: could not let go of it in the shared ledger ({e}); its lease ends it",
            path.display()
        );
    }
}

/// The collection's link turn across every instance, ended when dropped.
pub struct SharedTurn {
    ledger: Ledger,
    me: Me,
    collection: String,
    turn: i64,
}

/// Wait for `collection`'s link turn; a shutdown stops the wait. The link
/// order across instances: while another instance holds an earlier image
/// of the same name (`X.jpg` for `X_b.jpg`), `path` waits for it, for at
/// most two leases (so that waits can never go round in a circle).
pub async fn link_turn(ctx: &Context, collection: &Prepared, path: &Path) -> Step<SharedTurn> {
    static TURNS: AtomicI64 = AtomicI64::new(0);
    let Some(me) = &ctx.me else {
        return Err(Verdict::new(
            Kind::Failed,
            "no shared ledger to take a link turn in",
            None,
        ));
    };
    let code = &collection.config.code;
    let patience = tokio::time::Instant::now() + Duration::from_secs(2 * me.lease_secs.max(1) as u64);
    while tokio::time::Instant::now() < patience
        && ctx.ledger.earlier_sibling_held(me, code, path).await.unwrap_or(false)
    {
        unless_stopping(ctx)?;
        tokio::time::sleep(TURN_POLL).await;
    }
    let turn = TURNS.fetch_add(1, Ordering::Relaxed);
    loop {
        unless_stopping(ctx)?;
        match ctx.ledger.take_link_turn(me, code, turn).await {
            Ok(true) => {
                return Ok(SharedTurn {
                    ledger: ctx.ledger.clone(),
                    me: me.clone(),
                    collection: code.clone(),
                    turn,
                });
            }
            Ok(false) => tokio::time::sleep(TURN_POLL).await,
            Err(e) => {
                tracing::warn!("cannot take collection {code}'s link turn in the shared ledger ({e}); trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl Drop for SharedTurn {
    fn drop(&mut self) {
        let (ledger, me, collection, turn) = (self.ledger.clone(), self.me.clone(), self.collection.clone(), self.turn);
        // The turn's own number: a late end never ends a later turn; one
        // that never runs (the runtime stopping) ends with the lease.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = ledger.end_link_turn(&me, &collection, turn).await {
                    tracing::warn!("could not end collection {collection}'s link turn ({e}); its lease ends it");
                }
            });
        }
    }
}
