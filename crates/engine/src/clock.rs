//! Local time for what people read (the imaging team's report).
//!
//! The `time` crate can only ask for the local UTC offset while the
//! process has one thread, so it is read once at start-up, before the
//! runtime starts; a daemon running across a daylight-saving change keeps
//! the offset it started with until it is restarted.

use std::sync::OnceLock;

use time::{OffsetDateTime, UtcOffset};

static OFFSET: OnceLock<UtcOffset> = OnceLock::new();

pub fn init() {
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let _ = OFFSET.set(offset);
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(OFFSET.get().copied().unwrap_or(UtcOffset::UTC))
}

/// `YYYY-MM-DD`, local.
pub fn today() -> String {
    let now = now();
    format!("{:04}-{:02}-{:02}", now.year(), u8::from(now.month()), now.day())
}

/// Local midnight today, in UTC as `YYYY-MM-DD HH:MM:SS` (how the ledger
/// keeps times).
pub fn midnight_utc() -> String {
    let midnight = now().replace_time(time::Time::MIDNIGHT).to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        midnight.year(),
        u8::from(midnight.month()),
        midnight.day(),
        midnight.hour(),
        midnight.minute(),
        midnight.second()
    )
}

/// `HH:MM:SS`, local.
pub fn time_of_day() -> String {
    let now = now();
    format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
}
