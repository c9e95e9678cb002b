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

/// Orientation detection took about 3 s of CPU on a 21 MP sheet here; a
/// sheet it has not judged in this long keeps the way it is.
const ORIENTATION_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Which way Tesseract's orientation detection says a sheet is up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orientation {
    /// Degrees clockwise that stand the sheet upright: 0, 90, 180, 270.
    pub rotate: u32,
    /// Tesseract's "Orientation confidence".
    pub confidence: f32,
}

/// What Tesseract read from one sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub text: String,
    /// Mean confidence of the words read, 0-100.
    pub score: Option<i64>,
}

/// Tesseract as found on PATH when first asked, for the steps that read
/// a sheet on the way to linking it; `None` when it is not installed.
pub fn installed() -> Option<&'static Tesseract> {
    static FOUND: std::sync::OnceLock<Option<Tesseract>> = std::sync::OnceLock::new();
    FOUND.get_or_init(Tesseract::find).as_ref()
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
        self.has_data("eng")
    }

    /// Whether the data of orientation detection (`osd`, Debian's
    /// tesseract-ocr-osd) is installed.
    pub fn has_orientation_data(&self) -> bool {
        self.has_data("osd")
    }

    fn has_data(&self, name: &str) -> bool {
        Command::new(&self.program)
            .arg("--list-langs")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == name))
    }

    /// Which way is up in `grey` (handed over on standard input as a PGM,
    /// never by a path in the share, which could be swapped meanwhile);
    /// `None` when there is too little text to tell.
    pub fn orientation(&self, grey: &specdrop_derive::Grey) -> Result<Option<Orientation>, String> {
        let header = grey.pgm_header();
        let (output, stderr) = self.piped(&["--psm", "0"], &[&header, &grey.pixels], ORIENTATION_TIMEOUT)?;
        let found = parse_orientation(&output);
        if found.is_none() && !stderr.contains("Too few characters") {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            return Err(format!("tesseract's orientation detection failed: {}", last.trim()));
        }
        Ok(found)
    }

    /// The text of `grey` (handed over on standard input as a PGM), read
    /// as Symbiota's OCR reads it.
    pub fn text_of(&self, grey: &specdrop_derive::Grey) -> Result<String, String> {
        let args: Vec<&str> = SETTINGS.split(' ').collect();
        let header = grey.pgm_header();
        let (text, stderr) = self.piped(&args, &[&header, &grey.pixels], TIMEOUT)?;
        if text.trim().is_empty() && stderr.contains("Error") {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            return Err(format!("tesseract could not read the label text: {}", last.trim()));
        }
        Ok(tidy(&text))
    }

    /// Run Tesseract on `input` (written to its standard input) with
    /// `args`, to its end or `timeout`: its stdout and stderr.
    fn piped(&self, args: &[&str], input: &[&[u8]], timeout: Duration) -> Result<(String, String), String> {
        let mut child = Command::new(&self.program)
            .args(["stdin", "stdout"])
            .args(args)
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start tesseract: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // Written and read on threads of their own, so a Tesseract that
        // stops reading (or dies) cannot hold this one past the timeout.
        std::thread::scope(|scope| {
            scope.spawn(move || {
                if let Some(mut stdin) = stdin {
                    use std::io::Write as _;
                    for part in input {
                        if stdin.write_all(part).is_err() {
                            break;
                        }
                    }
                }
            });
            let reader = scope.spawn(move || {
                let mut text = String::new();
                if let Some(mut stdout) = stdout {
                    let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
                }
                text
            });
            let stderr = wait(&mut child, timeout, &Arc::new(AtomicBool::new(false)));
            let output = reader.join().unwrap_or_default();
            stderr.map(|stderr| (output, stderr))
        })
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
    let stderr = wait(&mut child, TIMEOUT, cancel)?;
    match child.try_wait() {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err(format!("tesseract failed ({status}): {}", last.trim()))
        }
        _ => Err("waiting for tesseract: no exit status".into()),
    }
}

/// Wait for `child` to exit (killed at `timeout` or `cancel`), giving
/// its stderr; whether it succeeded is the caller's to judge, as
/// orientation detection exits 1 on a sheet with too little text.
fn wait(child: &mut std::process::Child, timeout: Duration, cancel: &Arc<AtomicBool>) -> Result<String, String> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return Ok(stderr);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for tesseract: {e}")),
        }
        let cancelled = cancel.load(Ordering::Relaxed);
        if cancelled || started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(if cancelled {
                "stopped before tesseract finished".into()
            } else {
                format!("tesseract took more than {} s; given up", timeout.as_secs())
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

/// "Rotate: 270" and "Orientation confidence: 3.50" from `--psm 0`.
fn parse_orientation(output: &str) -> Option<Orientation> {
    let value = |key: &str| {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    Some(Orientation {
        rotate: value("Rotate:")?.parse().ok()?,
        confidence: value("Orientation confidence:")?.parse().ok()?,
    })
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
    fn orientation_is_read_from_tesseracts_report() {
        // As tesseract 5.3.0 prints it for a sheet photographed turned 90
        // degrees clockwise.
        let report = "Page number: 0\nOrientation in degrees: 90\nRotate: 270\nOrientation confidence: 3.50\n\
                      Script: Latin\nScript confidence: 0.45\n";
        assert_eq!(
            parse_orientation(report),
            Some(Orientation {
                rotate: 270,
                confidence: 3.5
            })
        );
        assert_eq!(parse_orientation(""), None, "too few characters: no report");
    }

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
