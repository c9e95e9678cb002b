//! Notices to the people around specdrop (`[notify]`): a daily digest of
//! what happened and what waits for them, by e-mail and/or to a chat
//! webhook, and each failure to the webhook as it happens.
//!
//! Sending never holds up processing: notices go through a bounded queue
//! to one background task that sends them one by one off the runtime's
//! workers, tries again with growing pauses, and logs when it gives up; a
//! full queue drops the notice with a warning instead of waiting.

pub mod digest;
mod send;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::Error;
use crate::config::Config;
pub use crate::config::notify::NotifyConfig;
use crate::ledger::Ledger;
use crate::outcome::{Report, printable};
pub use digest::Digest;

/// Notices waiting to be sent; past this, new ones are dropped.
const QUEUE: usize = 64;

/// Pauses before the second, third... try of one notice.
const BACKOFF_SECS: [u64; 4] = [10, 60, 300, 900];

#[derive(Debug)]
enum Notice {
    /// One failed file, for the webhook.
    Failure(String),
    Digest(Digest),
}

/// Where notices are handed in; cheap to clone.
#[derive(Clone)]
pub struct Notices {
    tx: mpsc::Sender<Notice>,
    webhook: bool,
}

impl Notices {
    /// A failed file, posted to the webhook (e-mail gets the digest only).
    pub fn failure(&self, report: &Report) {
        self.failure_text(format!(
            "specdrop: failed {} {}: {}",
            report.collection,
            printable(&report.file.to_string_lossy()),
            printable(&report.detail)
        ));
    }

    pub fn failure_text(&self, text: String) {
        if self.webhook {
            self.offer(Notice::Failure(text));
        }
    }

    pub fn digest(&self, digest: Digest) {
        self.offer(Notice::Digest(digest));
    }

    fn offer(&self, notice: Notice) {
        match self.tx.try_send(notice) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => tracing::warn!(
                "{QUEUE} notices are waiting to be sent; this one is dropped (is the notify.smtp or notify.webhook server reachable?)"
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("a notice came after notices were shut down; it is dropped")
            }
        }
    }
}

/// The background sender of one `[notify]` config.
pub struct Notifier {
    notices: Notices,
    closing: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    /// `None` when `[notify]` sends nowhere.
    pub fn start(config: &NotifyConfig) -> Option<Notifier> {
        if !config.is_on() {
            return None;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let (closing, closed) = watch::channel(false);
        let task = tokio::spawn(deliver_all(config.clone(), rx, closed));
        Some(Notifier {
            notices: Notices {
                tx,
                webhook: config.webhook.is_some(),
            },
            closing,
            task,
        })
    }

    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Send what is queued, each notice tried once more at most, for up to
    /// `within`; what is left then is dropped with a warning.
    pub async fn close(self, within: Duration) {
        let Notifier { notices, closing, task } = self;
        let _ = closing.send(true);
        drop(notices);
        let abort = task.abort_handle();
        if tokio::time::timeout(within, task).await.is_err() {
            abort.abort();
            tracing::warn!(
                "notices still unsent {} s after shutdown began are dropped",
                within.as_secs()
            );
        }
        drop(closing);
    }
}

async fn deliver_all(config: NotifyConfig, mut rx: mpsc::Receiver<Notice>, mut closed: watch::Receiver<bool>) {
    while let Some(notice) = rx.recv().await {
        match notice {
            Notice::Failure(text) => {
                if let Some(hook) = &config.webhook {
                    let (hook, what) = (hook.clone(), format!("the failure notice to {}", hook.host()));
                    retrying(&what, &mut closed, move || send::webhook(&hook, &text)).await;
                }
            }
            Notice::Digest(digest) => {
                if let Some(email) = &config.email {
                    let what = format!("the digest e-mail through {}", email.smtp.address());
                    let (email, digest) = (email.clone(), digest.clone());
                    retrying(&what, &mut closed, move || send::email(&email, &digest)).await;
                }
                if let Some(hook) = &config.webhook {
                    let what = format!("the digest to the webhook at {}", hook.host());
                    let (hook, text) = (hook.clone(), digest.as_text());
                    retrying(&what, &mut closed, move || send::webhook(&hook, &text)).await;
                }
            }
        }
    }
}

/// Try `send` until it works, [`BACKOFF_SECS`] apart, or until shutdown.
async fn retrying(
    what: &str,
    closed: &mut watch::Receiver<bool>,
    send: impl Fn() -> Result<(), String> + Send + Sync + Clone + 'static,
) {
    for tries in 1.. {
        let attempt = send.clone();
        let result = tokio::task::spawn_blocking(attempt)
            .await
            .unwrap_or_else(|e| Err(format!("the sending thread stopped: {e}")));
        let e = match result {
            Ok(()) => {
                if tries > 1 {
                    tracing::info!("{what} was sent at try {tries}");
                }
                return;
            }
            Err(e) => e,
        };
        let pause = BACKOFF_SECS.get(tries - 1);
        match pause {
            Some(_) if *closed.borrow() => {
                tracing::warn!("{what} could not be sent ({e}) and is dropped: specdrop is stopping");
                return;
            }
            Some(secs) => {
                tracing::warn!("{what} could not be sent ({e}); trying again in {secs} s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(*secs)) => {}
                    _ = closed.wait_for(|c| *c) => {}
                }
            }
            None => {
                tracing::warn!("{what} could not be sent after {tries} tries ({e}); it is dropped");
                return;
            }
        }
    }
}

/// When the daemon sends its daily digest (`notify.digest_at`, local
/// time), remembering the day of the last one in the state folder: a
/// daemon started after the hour sends the day's digest then, once.
pub struct Schedule {
    at: time::Time,
    file: PathBuf,
    /// The day of the last digest this process sent: when the state
    /// folder cannot be written, still one digest a day, not one a loop.
    sent_on: Option<String>,
}

impl Schedule {
    pub fn new(config: &Config) -> Option<Schedule> {
        let (h, m) = config.notify.digest_at?;
        Some(Schedule {
            at: time::Time::from_hms(h, m, 0).ok()?,
            file: config.state_dir.join("notify-digest-day"),
            sent_on: None,
        })
    }

    /// How long until the next digest is due (zero: now).
    pub fn wait(&self, now: time::OffsetDateTime) -> Duration {
        let due = now.replace_time(self.at);
        let today = day(now);
        let sent_today = self.sent_on.as_deref() == Some(today.as_str())
            || std::fs::read_to_string(&self.file).is_ok_and(|d| d.trim() == today);
        let next = match (now >= due, sent_today) {
            (true, false) => now,
            (true, true) => due + time::Duration::days(1),
            (false, _) => due,
        };
        Duration::try_from(next - now).unwrap_or(Duration::ZERO)
    }

    /// Today's digest is on its way.
    pub fn sent(&mut self, now: time::OffsetDateTime) {
        self.sent_on = Some(day(now));
        if let Err(e) = std::fs::write(&self.file, day(now)) {
            tracing::warn!(
                "cannot note the digest's day in {}: {e}; a restart today sends it again",
                self.file.display()
            );
        }
    }
}

fn day(t: time::OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Gather the digest from the ledger and queue it; the ledger is read in a
/// task of its own so the caller's loop goes on at once.
pub fn queue_digest(config: &Config, ctx: std::sync::Arc<crate::context::Context>, notices: &Notices) {
    let (config, notices) = (config.clone(), notices.clone());
    tokio::spawn(async move {
        match Digest::gather(&config, &ctx.ledger, crate::clock::now()).await {
            Ok(digest) => notices.digest(digest),
            Err(e) => tracing::warn!("no digest today: cannot read the ledger: {e}"),
        }
    });
}

/// `specdrop digest`: gather the digest and send it now, once to each
/// configured address; an error unless every one took it.
pub async fn command(config: &Config) -> Result<ExitCode, Error> {
    let notify = &config.notify;
    if !notify.is_on() {
        return Err(Error::Config(format!(
            "{}: [notify] sends nowhere; set notify.email and notify.smtp, or notify.webhook",
            config.file.display()
        )));
    }
    let ledger = Ledger::open_at(&config.ledger, true).await?;
    let gathered = Digest::gather(config, &ledger, crate::clock::now()).await;
    ledger.close().await;
    let digest = gathered?;
    let mut failed = Vec::new();
    if let Some(email) = &notify.email {
        let (e, d) = (email.clone(), digest.clone());
        let to: Vec<String> = email.to.iter().map(ToString::to_string).collect();
        match blocking(move || send::email(&e, &d)).await {
            Ok(()) => println!(
                "digest sent by e-mail to {} through {}",
                to.join(", "),
                email.smtp.address()
            ),
            Err(e) => failed.push(format!(
                "by e-mail through {} ({e}): check notify.smtp and that the server takes mail from this host",
                email.smtp.address()
            )),
        }
    }
    if let Some(hook) = &notify.webhook {
        let (h, text) = (hook.clone(), digest.as_text());
        match blocking(move || send::webhook(&h, &text)).await {
            Ok(()) => println!("digest posted to the webhook at {}", hook.host()),
            Err(e) => failed.push(format!("to the webhook at {} ({e}): check notify.webhook", hook.host())),
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Error::Run(format!(
            "the digest was not delivered {}",
            failed.join(", nor ")
        )))
    }
}

async fn blocking(send: impl FnOnce() -> Result<(), String> + Send + 'static) -> Result<(), String> {
    tokio::task::spawn_blocking(send)
        .await
        .unwrap_or_else(|e| Err(format!("the sending thread stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_daily_digest_is_due_once_a_day_and_caught_up_after_a_late_start() {
        let dir = tempfile::tempdir().expect("test setup");
        let mut schedule = Schedule {
            at: time::Time::from_hms(7, 0, 0).expect("test setup"),
            file: dir.path().join("notify-digest-day"),
            sent_on: None,
        };
        assert_eq!(
            schedule.wait(datetime!(2026-12-03 06:30 UTC)),
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            schedule.wait(datetime!(2026-12-03 09:00 UTC)),
            Duration::ZERO,
            "missed today: now"
        );
        schedule.sent(datetime!(2026-12-03 09:00 UTC));
        assert_eq!(
            schedule.wait(datetime!(2026-12-03 09:00 UTC)),
            Duration::from_secs(22 * 3600)
        );
        assert_eq!(
            schedule.wait(datetime!(2026-12-04 06:00 UTC)),
            Duration::from_secs(3600)
        );

        let mut unwritable = Schedule {
            file: dir.path().join("no-such-folder/notify-digest-day"),
            ..schedule
        };
        unwritable.sent(datetime!(2026-12-04 07:00 UTC));
        assert_eq!(
            unwritable.wait(datetime!(2026-12-04 07:00 UTC)),
            Duration::from_secs(24 * 3600)
        );
    }
}
