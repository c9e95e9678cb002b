//! Tesseract, Debian's `tesseract-ocr`, run as a program: nothing to build
//! against, one process per sheet that a timeout or a shutdown can kill,
//! and whose memory is its own (docs/decisions.md, "OCR").

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A sheet Tesseract has not read in this long is given up (one sheet
/// took 1-2 s here; a pathological image should not hold a worker).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The arguments Symbiota's own OCR uses: English, automatic page
/// segmentation. Written into the row's notes.
pub const SETTINGS: &str = "-l eng --psm 3";

#[derive(Debug, Clone)]
pub struct Tesseract {
    program: PathBuf,
    /// `nice`, when there is one: a sheet is read at the lowest CPU
    /// priority, below the derivatives.
    nice: Option<PathBuf>,
    /// `tesseract 5.3.0`, for the row's notes.
    pub version: String,
}

/// What Tesseract read from one sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub text: String,
    /// Mean confidence of the words read, 0-100.
    pub score: Option<i64>,
}

impl Tesseract {
    /// The `tesseract` program on PATH, with its version; `None` when it
    /// is not installed.
    pub fn find() -> Option<Tesseract> {
        let program = on_path("tesseract")?;
        let output = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let version = String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("tesseract")
            .trim()
            .to_string();
        output.status.success().then(|| Tesseract {
            program,
            nice: on_path("nice"),
            version,
        })
    }

    /// Whether the English data Tesseract is run with is installed.
    pub fn has_english(&self) -> bool {
        Command::new(&self.program)
            .arg("--list-langs")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "eng"))
    }

    /// Read `image`; `scratch` is a path prefix for Tesseract's output
    /// files, removed afterwards. `cancel` set (a shutdown) kills it.
    pub fn read(&self, image: &Path, scratch: &Path, cancel: &Arc<AtomicBool>) -> Result<Reading, String> {
        let mut command = match &self.nice {
            Some(nice) => {
                let mut c = Command::new(nice);
                c.args(["-n", "19"]).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        command
            .arg(image)
            .arg(scratch)
            .args(SETTINGS.split(' '))
            .args(["txt", "tsv"])
            // One thread per sheet: `ocr.threads` is then the number of
            // cores OCR may take.
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let outputs = [scratch.with_extension("txt"), scratch.with_extension("tsv")];
        let result = run(command, cancel).and_then(|()| {
            let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()));
            Ok(Reading {
                text: tidy(&read(&outputs[0])?),
                score: mean_confidence(&read(&outputs[1])?),
            })
        });
        for output in &outputs {
            let _ = std::fs::remove_file(output);
        }
        result
    }
}

/// Run `command` to its end, the timeout or `cancel`; its stderr is the
/// reason when it fails.
fn run(mut command: Command, cancel: &Arc<AtomicBool>) -> Result<(), String> {
    let mut child = command.spawn().map_err(|e| format!("cannot start tesseract: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                if status.success() {
                    return Ok(());
                }
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                return Err(format!("tesseract failed ({status}): {}", last.trim()));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for tesseract: {e}")),
        }
        let cancelled = cancel.load(Ordering::Relaxed);
        if cancelled || started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(if cancelled {
                "stopped before tesseract finished".into()
            } else {
                format!("tesseract took more than {} s; given up", TIMEOUT.as_secs())
            });
        }
        // A child process cannot be awaited without tokio's `process`
        // feature; this runs on a blocking thread, so polling costs nothing
        // the runtime needs.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `name` in a folder of PATH, as a shell would find it.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Tesseract's text without the form feed it ends a page with and
/// without trailing blank space on lines.
fn tidy(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches(['\u{c}', ' ', '\t'])).collect();
    lines.join("\n").trim().to_string()
}

/// The mean `conf` of the word rows (level 5) of Tesseract's TSV output,
/// rounded; `None` when no word was read.
fn mean_confidence(tsv: &str) -> Option<i64> {
    let mut sum = 0.0;
    let mut words = 0u32;
    for line in tsv.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(level), Some(conf), Some(text)) = (fields.first(), fields.get(10), fields.get(11)) else {
            continue;
        };
        let Ok(conf) = conf.parse::<f64>() else { continue };
        if *level == "5" && conf >= 0.0 && !text.trim().is_empty() {
            sum += conf;
            words += 1;
        }
    }
    (words > 0).then(|| (sum / f64::from(words)).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as tesseract 5.3 writes them: page, block, paragraph, line
    /// rows with conf -1, then words.
    const TSV: &str = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t3753\t5634\t-1\t
4\t1\t1\t1\t1\t0\t621\t92\t2039\t217\t-1\t
5\t1\t1\t1\t1\t1\t610\t92\t1717\t242\t90.5\tPLANTS
5\t1\t1\t1\t1\t2\t1996\t40\t274\t298\t70.5\tOF
5\t1\t1\t1\t1\t3\t2505\t162\t155\t76\t95\t 
";

    #[test]
    fn the_score_is_the_mean_confidence_of_the_words() {
        assert_eq!(mean_confidence(TSV), Some(81));
        assert_eq!(mean_confidence("level\tconf\n"), None, "no words, no score");
    }

    #[test]
    fn text_loses_the_page_break_and_trailing_blanks() {
        assert_eq!(
            tidy("PLANTS OF ILLINOIS  \n\nCarex\n\n\u{c}"),
            "PLANTS OF ILLINOIS\n\nCarex"
        );
    }
}
