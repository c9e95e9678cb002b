//! The digest: what the imaging team should know about the last day.
//!
//! Counts are of the ledger's entries whose outcome was reached in the
//! last 24 hours (a file parked and then linked counts once, as linked);
//! the lists are of every parked and failed file still in its drop
//! folder, whenever it was left there, since those wait for a person.

use std::path::Path;

use crate::config::Config;
use crate::ledger::{Ledger, LedgerError, Listed};
use crate::outcome::{Kind, printable};

/// At most this many files of each list; the rest are counted.
const LISTED: usize = 100;

#[derive(Debug, Clone)]
pub struct Digest {
    pub subject: String,
    pub text: String,
}

/// One waiting file as the digest shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub collection: String,
    /// Relative to its drop folder.
    pub file: String,
    pub reason: String,
}

impl Digest {
    /// Read the ledger and write the digest of the 24 hours before `now`.
    pub async fn gather(config: &Config, ledger: &Ledger, now: time::OffsetDateTime) -> Result<Digest, LedgerError> {
        let entries = ledger.listed(&Kind::ALL, u32::MAX).await?;
        let since = now - time::Duration::days(1);
        let cutoff = utc_text(since);
        let mut counts = [0usize; 5];
        for e in entries.iter().filter(|e| e.updated >= cutoff) {
            if let Some(i) = Kind::ALL.iter().position(|k| *k == e.outcome) {
                counts[i] += 1;
            }
        }
        let still_there = |e: &&Listed| crate::blocking::off_runtime(|| e.path.is_file());
        let waiting = |kind: Kind| -> Vec<Waiting> {
            entries
                .iter()
                .filter(|e| e.outcome == kind)
                .filter(still_there)
                .map(|e| Waiting {
                    collection: e.collection.clone(),
                    file: relative(config, e),
                    reason: e.reason.clone(),
                })
                .collect()
        };
        Ok(Digest::write(
            &local_text(now),
            counts,
            &waiting(Kind::Failed),
            &waiting(Kind::Parked),
        ))
    }

    /// The message: `counts` in [`Kind::ALL`]'s order.
    pub fn write(at: &str, counts: [usize; 5], failed: &[Waiting], parked: &[Waiting]) -> Digest {
        let count = |kind: Kind| Kind::ALL.iter().position(|k| *k == kind).map_or(0, |i| counts[i]);
        let subject = format!(
            "specdrop: {} linked, {} waiting (parked {}, failed {})",
            count(Kind::Linked) + count(Kind::Skeletal),
            failed.len() + parked.len(),
            parked.len(),
            failed.len()
        );
        let mut text = format!("specdrop digest, {at}\n\nIn the last 24 hours: ");
        let parts: Vec<String> = Kind::ALL.iter().map(|k| format!("{} {k}", count(*k))).collect();
        text.push_str(&parts.join(", "));
        text.push_str(".\n");
        for (title, list, todo) in [
            (
                "Failed",
                failed,
                "Something is wrong with the file or the storage: fix it (or replace the file), then `specdrop retry --failed`.",
            ),
            (
                "Parked",
                parked,
                "Tried again every daemon.retry_parked_mins: a record the portal does not have yet, or more than one record that matches.",
            ),
        ] {
            text.push_str(&format!("\n{title}, still in the drop folders ({}):\n", list.len()));
            if list.is_empty() {
                text.push_str("  none\n");
                continue;
            }
            for w in list.iter().take(LISTED) {
                text.push_str(&format!(
                    "  {} {}: {}\n",
                    w.collection,
                    printable(&w.file),
                    printable(&w.reason)
                ));
            }
            if list.len() > LISTED {
                text.push_str(&format!(
                    "  ... and {} more (`specdrop status` lists them)\n",
                    list.len() - LISTED
                ));
            }
            text.push_str(&format!("  {todo}\n"));
        }
        Digest { subject, text }
    }

    /// The digest as one text field: the subject, then the message.
    pub fn as_text(&self) -> String {
        format!("{}\n\n{}", self.subject, self.text)
    }
}

/// The entry's path below its collection's drop folder, when it is there.
fn relative(config: &Config, entry: &Listed) -> String {
    config
        .collections
        .iter()
        .find(|c| c.code == entry.collection)
        .and_then(|c| entry.path.strip_prefix(&c.drop).ok())
        .map_or_else(|| entry.source.clone(), |p| Path::new(p).to_string_lossy().into_owned())
}

/// The ledger's form: UTC, `YYYY-MM-DD HH:MM:SS`.
fn utc_text(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn local_text(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_names_each_waiting_file_with_its_reason_and_the_counts() {
        let parked = [Waiting {
            collection: "MICH-V".into(),
            file: "MICH-V-1234567.jpg".into(),
            reason: "no specimen: MICH-V-1234567".into(),
        }];
        let failed: Vec<Waiting> = (0..LISTED + 2)
            .map(|i| Waiting {
                collection: "MICH-V".into(),
                file: format!("broken-{i}\n.jpg"),
                reason: "not a JPEG".into(),
            })
            .collect();
        let d = Digest::write("2026-12-03 07:00", [3, 1, 1, 102, 0], &failed, &parked);
        assert_eq!(d.subject, "specdrop: 4 linked, 103 waiting (parked 1, failed 102)");
        assert!(
            d.text.contains("3 linked, 1 parked, 1 skeletal, 102 failed, 0 skipped"),
            "{}",
            d.text
        );
        assert!(
            d.text
                .contains("  MICH-V MICH-V-1234567.jpg: no specimen: MICH-V-1234567\n")
        );
        assert!(
            d.text.contains("broken-0\\n.jpg: not a JPEG"),
            "a name cannot forge a line"
        );
        assert!(d.text.contains("... and 2 more"));
        assert!(!d.text.contains(&format!("broken-{LISTED}")));
    }
}
