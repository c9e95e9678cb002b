//! What reading barcodes adds to a sheet's processing, on one core.
//!
//! For every JPEG in the folder (default: ../shared/corpus when present,
//! else samples/): `build` (the derivatives, as with identifier =
//! "filename") against `build_and_look` reading the barcodes from the
//! same pixels (identifier = "barcode"), each the median of 5 runs on
//! this thread, and the values read. In "filename-then-barcode" mode a
//! file whose name gives the number takes `build` itself: nothing extra.
//! The worst case, a full sheet with no label (its bottom 15 %, where the
//! labels are, whitened): nothing is read from the bars, so the 2-D pass
//! runs too; timed on the reader alone.
//!
//! `cargo bench -p specdrop --bench barcode [-- DIR]`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use specdrop_barcode::{Pixels, Symbology};
use specdrop_derive::DeriveConfig;

mod support;

const RUNS: usize = 5;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(support::default_dir);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    names.sort();
    let config = DeriveConfig::default();
    println!(
        "barcode reading on one core, median of {RUNS} runs, sheets from {}",
        dir.display()
    );
    println!(
        "{:<58} {:>11} {:>9} {:>11} {:>9}  read",
        "sheet", "size", "build ms", "+barcode ms", "extra ms"
    );
    let mut extras_full = Vec::new();
    for path in &names {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let plain = median(|| {
            specdrop_derive::build(&bytes, &config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        });
        let mut read = Vec::new();
        let mut size = (0, 0);
        let looking = median(|| {
            specdrop_derive::build_and_look(&bytes, &config, specdrop_barcode::READ_WIDTH, &mut |view| {
                size = (view.width, view.height);
                let pixels = Pixels {
                    width: view.width,
                    height: view.height,
                    channels: view.channels,
                    data: view.pixels,
                };
                read = specdrop_barcode::read(pixels, &Symbology::ALL, &|_| true)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            })
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        });
        let full = u64::from(size.0) * u64::from(size.1) > 15_000_000;
        let unlabelled = full.then(|| read_without_label(&bytes, &config));
        let matrix_only = full.then(|| read_copy(&bytes, &config, &[Symbology::Qr, Symbology::DataMatrix], false));
        let extra = looking - plain;
        if u64::from(size.0) * u64::from(size.1) > 15_000_000 {
            extras_full.push(extra);
        }
        let values: Vec<String> = read.iter().map(|f| format!("{} ({})", f.text, f.symbology)).collect();
        println!(
            "{:<58} {:>11} {plain:>9.0} {looking:>11.0} {extra:>9.0}  {}",
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            format!("{}x{}", size.0, size.1),
            if values.is_empty() {
                "nothing".to_string()
            } else {
                values.join(", ")
            }
        );
        if let Some((ms, found)) = matrix_only {
            println!(
                "{:<58} {:>11} {:>9} {:>11} {ms:>9.0}  {found} value(s)",
                "  the same, QR + DataMatrix pass alone", "", "", ""
            );
        }
        if let Some((ms, found)) = unlabelled {
            println!(
                "{:<58} {:>11} {:>9} {:>11} {ms:>9.0}  {found} value(s)",
                "  the same, label whitened (reader alone)", "", "", ""
            );
        }
    }
    if let Some(worst) = extras_full.iter().copied().reduce(f64::max) {
        let mean = extras_full.iter().sum::<f64>() / extras_full.len() as f64;
        println!(
            "sheets over 15 MP: barcode reading adds {mean:.0} ms on average, {worst:.0} ms at most (target: 500 ms)"
        );
    }
    println!("filename-then-barcode with a number in the name: the build path above, 0 ms extra");
}

/// The reader alone on the sheet's pixels with their bottom 15 % (where
/// the labels are) whitened: (median ms, values found).
fn read_without_label(bytes: &[u8], config: &DeriveConfig) -> (f64, usize) {
    read_copy(bytes, config, &Symbology::ALL, true)
}

/// The reader alone looking for `kinds` on the sheet's pixels (with the
/// bottom 15 % whitened when `blank_label`): (median ms, values found).
fn read_copy(bytes: &[u8], config: &DeriveConfig, kinds: &[Symbology], blank_label: bool) -> (f64, usize) {
    let mut copy = None;
    specdrop_derive::build_and_look(bytes, config, specdrop_barcode::READ_WIDTH, &mut |view| {
        let mut pixels = view.pixels.to_vec();
        let row = view.width as usize * usize::from(view.channels);
        if blank_label {
            pixels[(view.height as usize * 85 / 100) * row..].fill(255);
        }
        copy = Some((view.width, view.height, view.channels, pixels));
    })
    .expect("derive a sheet that derived before");
    let Some((width, height, channels, data)) = copy else {
        return (0.0, 0);
    };
    let blank = Pixels {
        width,
        height,
        channels,
        data: &data,
    };
    let mut found = 0;
    let ms = median(|| {
        found = specdrop_barcode::read(blank, kinds, &|_| true)
            .expect("read barcodes from pixels of the right size")
            .len();
    });
    (ms, found)
}

/// Median wall time of `job` in milliseconds.
fn median(mut job: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            job();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}
