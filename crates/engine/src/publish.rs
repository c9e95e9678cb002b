//! Tell everyone who wants to know about one file's outcome: the log (or
//! journal), the metrics and the imaging team's report.

use crate::config::Collection;
use crate::context::Context;
use crate::outcome::Report;

pub fn publish(ctx: &Context, collection: &Collection, report: &Report) {
    if ctx.dry_run {
        return;
    }
    crate::logging::log_outcome(report);
    ctx.metrics.count(report);
    ctx.team_report.record(collection, report);
}
