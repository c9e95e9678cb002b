//! Where log lines and per-file outcomes go: the journal with structured
//! fields under systemd, human-readable lines on stderr elsewhere.
//!
//! Every outcome is one event of target `specdrop::outcome` whose fields
//! become journal fields as they are named here, upper-cased (FILE=,
//! COLLECTION=, CATALOG_NUMBER=, NUMBER_FROM= (filename or barcode),
//! SYMBOLOGY= (the barcode's kind), OCCID=, MEDIA_ID=, OUTCOME=, REASON=,
//! ELAPSED_MS=), so `journalctl -u specdrop OUTCOME=failed` works.

use std::sync::OnceLock;

use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

use crate::config::LogTarget;
use crate::outcome::{Kind, NumberFrom, Report};

pub const OUTCOME_TARGET: &str = "specdrop::outcome";
const IDENTIFIER: &str = "specdrop";

/// Whether outcome lines are printed on stdout, one plain line per file
/// (everywhere but the journal), or only logged with their fields (to the
/// journal, where printing them too would show each twice).
static PRINT_OUTCOMES: OnceLock<bool> = OnceLock::new();

pub fn print_outcomes() -> bool {
    PRINT_OUTCOMES.get().copied().unwrap_or(true)
}

/// Set up logging. `filter` is `log.filter` (`RUST_LOG` overrides it);
/// `printed` says the command prints each outcome on stdout itself, so
/// stderr need not repeat it.
pub fn init(target: LogTarget, filter: &str, printed: bool) {
    let journal = match target {
        LogTarget::Stderr => false,
        LogTarget::Journald => true,
        LogTarget::Auto => under_systemd(),
    };
    let filter = || {
        let text = std::env::var("RUST_LOG").unwrap_or_else(|_| format!("{filter},sqlx=warn"));
        EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"))
    };
    if journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier(IDENTIFIER.to_string());
                if tracing_subscriber::registry()
                    .with(layer.with_filter(filter()))
                    .try_init()
                    .is_ok()
                {
                    let _ = PRINT_OUTCOMES.set(false);
                }
                return;
            }
            Err(e) if target == LogTarget::Journald => {
                eprintln!(
                    "specdrop: log.target = \"journald\" but the journal cannot be reached ({e}); logging to stderr"
                );
            }
            Err(_) => {}
        }
    }
    let _ = PRINT_OUTCOMES.set(printed);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter())
        .with_filter(FilterFn::new(move |meta| !(printed && meta.target() == OUTCOME_TARGET)));
    let _ = Registry::default().with(fmt).try_init();
}

/// systemd sets JOURNAL_STREAM when stdout/stderr go to the journal and
/// NOTIFY_SOCKET for Type=notify services.
fn under_systemd() -> bool {
    ["JOURNAL_STREAM", "NOTIFY_SOCKET"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

pub fn log_outcome(report: &Report) {
    let fields = &report.fields;
    let file = report.file.to_string_lossy();
    let elapsed_ms = fields.elapsed.map(|e| e.as_millis() as u64);
    let reason = (!report.kind.is_done()).then_some(report.detail.as_str());
    macro_rules! outcome {
        ($level:expr) => {
            tracing::event!(
                target: OUTCOME_TARGET,
                $level,
                file = &*file,
                collection = report.collection.as_str(),
                catalog_number = fields.catalog_number.as_deref(),
                number_from = fields.number_from.map(NumberFrom::code),
                symbology = fields.number_from.and_then(NumberFrom::symbology).map(|s| s.as_str()),
                occid = fields.occid,
                media_id = fields.media_id,
                outcome = report.kind.as_str(),
                reason,
                elapsed_ms,
                "{report}"
            )
        };
    }
    match report.kind {
        Kind::Failed => outcome!(tracing::Level::WARN),
        _ => outcome!(tracing::Level::INFO),
    }
}
