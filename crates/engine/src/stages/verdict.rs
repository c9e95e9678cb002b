//! How a file's way through the pipeline ended, and what the ledger keeps
//! of a file that is not done.

use specdrop_mapper::MapperError;

use crate::context::Context;
use crate::outcome::{Kind, NumberFrom, ReportFields};

/// The ledger's entry for a file that is not done (parked, failed,
/// skipped after it was read): its content hash and what was learnt of
/// its catalog number, so a retry and the team's report find it again.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub hash: String,
    pub catalog_number: Option<String>,
    pub number_from: Option<NumberFrom>,
}

/// How a file ended: its outcome, the sentence that explains it, what
/// the ledger keeps of it when it is not done, and the report's fields.
#[derive(Debug)]
pub struct Verdict {
    pub kind: Kind,
    pub detail: String,
    /// `Some` for a file that is not done: the ledger remembers it so.
    pub unfinished: Option<LedgerEntry>,
    pub fields: ReportFields,
}

/// A stage's result: what the next stage gets, or the file's verdict
/// (the file ends there).
pub type Step<T> = Result<T, Verdict>;

impl Verdict {
    /// A verdict that the ledger keeps under `entry` when given.
    pub fn new(kind: Kind, detail: impl Into<String>, unfinished: Option<&LedgerEntry>) -> Verdict {
        let fields = ReportFields {
            catalog_number: unfinished.and_then(|e| e.catalog_number.clone()),
            number_from: unfinished.and_then(|e| e.number_from),
            ..ReportFields::default()
        };
        Verdict {
            kind,
            detail: detail.into(),
            unfinished: unfinished.cloned(),
            fields,
        }
    }

    /// Stopped between stages on shutdown: nothing half written, taken
    /// again at the next start.
    pub fn abandoned() -> Verdict {
        Verdict::new(
            Kind::Skipped,
            "not finished: specdrop is stopping; it is taken again at the next start",
            None,
        )
    }

    /// A database problem ends the file: an outage leaves it untouched for
    /// the next run (never parked or failed for it); anything else is the
    /// file's.
    pub fn of_database(ctx: &Context, e: MapperError, entry: &LedgerEntry) -> Verdict {
        ctx.outage.note_error();
        if e.is_transient() {
            ctx.outage.note_deferred();
            return Verdict::new(
                Kind::Skipped,
                format!("portal database unavailable ({e}); left in place for the next run"),
                None,
            );
        }
        Verdict::new(Kind::of_link_error(&e), e.to_string(), Some(entry))
    }
}

/// Stop between stages when specdrop is shutting down.
pub fn unless_stopping(ctx: &Context) -> Step<()> {
    if ctx.stopping() {
        Err(Verdict::abandoned())
    } else {
        Ok(())
    }
}
