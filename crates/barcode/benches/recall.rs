//! Recall against ZBar: every barcode ZBar's `zbarimg` (Debian's
//! zbar-tools) reads on a sheet at 1.0, 0.75 or 0.5 scale, specdrop must
//! read too. Over every JPEG in the folder (default ../shared/corpus, else
//! samples/) and variants made from each: the label turned a quarter (the
//! whole sheet turned), a second label (another sheet's label strip pasted
//! at the top), half resolution, blurred, and saved at JPEG quality 60.
//! Each variant is saved as a JPEG, and both readers read that file's
//! pixels; specdrop's time per sheet is its reader alone on one thread.
//!
//! `cargo bench -p specdrop-barcode --bench recall [-- DIR]`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use specdrop_barcode::{Pixels, Symbology, read, shrink_grey, turn_grey};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

struct Grey {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

fn decode(bytes: &[u8]) -> Grey {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let data = decoder.decode().expect("decode a corpus sheet");
    let (w, h) = decoder.dimensions().expect("a decoded sheet has a size");
    Grey {
        width: w as u32,
        height: h as u32,
        data,
    }
}

fn encode(image: &Grey, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(
            &image.data,
            u16::try_from(image.width).expect("width fits a JPEG"),
            u16::try_from(image.height).expect("height fits a JPEG"),
            jpeg_encoder::ColorType::Luma,
        )
        .expect("encode a variant");
    out
}

fn shrink(image: &Grey, factor: f32) -> Grey {
    let (width, height, data) = shrink_grey(image.width, image.height, &image.data, factor);
    Grey { width, height, data }
}

/// A box blur of radius 2, rows then columns.
fn blur(image: &Grey) -> Grey {
    let (w, h) = (image.width as usize, image.height as usize);
    let pass = |src: &[u8], stride: usize, step: usize, len: usize, lines: usize| {
        let mut out = vec![0u8; src.len()];
        for line in 0..lines {
            for i in 0..len {
                let (lo, hi) = (i.saturating_sub(2), (i + 2).min(len - 1));
                let sum: u32 = (lo..=hi).map(|j| u32::from(src[line * stride + j * step])).sum();
                out[line * stride + i * step] = (sum / (hi - lo + 1) as u32) as u8;
            }
        }
        out
    };
    let rows = pass(&image.data, w, 1, w, h);
    let data = pass(&rows, 1, w, h, w);
    Grey {
        width: image.width,
        height: image.height,
        data,
    }
}

/// `image` with the bottom fifth of `other` (where MICH sheets carry their
/// label) pasted over its top fifth.
fn second_label(image: &Grey, other: &Grey) -> Grey {
    let mut out = image.data.clone();
    let (w, h) = (image.width as usize, image.height as usize);
    let (ow, oh) = (other.width as usize, other.height as usize);
    let strip = (h / 5).min(oh / 5);
    for y in 0..strip {
        let from = (oh - strip + y) * ow;
        let to = y * w;
        let n = w.min(ow);
        out[to..to + n].copy_from_slice(&other.data[from..from + n]);
    }
    Grey {
        width: image.width,
        height: image.height,
        data: out,
    }
}

/// What zbarimg reads in `file`, of the kinds specdrop reads.
fn zbar(file: &Path) -> BTreeSet<String> {
    let output = Command::new("zbarimg")
        .args(["-q"])
        .arg(file)
        .output()
        .expect("run zbarimg (Debian package zbar-tools)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(kind, _)| matches!(*kind, "CODE-39" | "CODE-128" | "QR-Code"))
        .map(|(_, text)| text.to_string())
        .collect()
}

fn main() {
    if Command::new("zbarimg").arg("--version").output().is_err() {
        eprintln!("recall: zbarimg is not installed (apt-get install zbar-tools); nothing to compare against");
        std::process::exit(1);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let corpus = root.join("../shared/corpus");
            if corpus.is_dir() { corpus } else { root.join("samples") }
        });
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    names.sort();
    let sheets: Vec<(String, Grey)> = names
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), decode(&bytes))
        })
        .collect();
    let temp = tempfile::tempdir().expect("a temporary folder");
    // The collection's pattern: MICH numbers are seven digits.
    let wanted = |text: &str| text.len() == 7 && text.bytes().all(|b| b.is_ascii_digit());
    println!(
        "barcode recall against zbarimg (1.0, 0.75, 0.5 scale, union), sheets from {}",
        dir.display()
    );
    println!(
        "{:<44} {:<14} {:>9} {:>8}  zbar | specdrop",
        "sheet", "variant", "size", "ms"
    );
    let (mut reference, mut matched, mut extra) = (0usize, 0usize, 0usize);
    let (mut full_ms, mut full_zbar_ms, mut full_n) = (0.0f64, 0.0f64, 0usize);
    let mut missed = Vec::new();
    for (i, (name, sheet)) in sheets.iter().enumerate() {
        // The next sheet with a label ZBar reads gives the second label.
        let other = &sheets[(i + 1) % sheets.len()].1;
        let variants: Vec<(&str, Grey, u8)> = vec![
            (
                "as taken",
                Grey {
                    width: sheet.width,
                    height: sheet.height,
                    data: sheet.data.clone(),
                },
                92,
            ),
            (
                "turned 90",
                {
                    let (width, height, data) = turn_grey(sheet.width, sheet.height, &sheet.data);
                    Grey { width, height, data }
                },
                92,
            ),
            ("second label", second_label(sheet, other), 92),
            ("half size", shrink(sheet, 0.5), 92),
            ("blurred", blur(sheet), 92),
            (
                "JPEG q60",
                Grey {
                    width: sheet.width,
                    height: sheet.height,
                    data: sheet.data.clone(),
                },
                60,
            ),
        ];
        for (variant, image, quality) in variants {
            let file = temp.path().join(format!("{i}-{}.jpg", variant.replace(' ', "_")));
            let bytes = encode(&image, quality);
            std::fs::write(&file, &bytes).expect("write a variant");
            let seen = decode(&bytes);
            let zbar_started = Instant::now();
            let mut zbar_reads = zbar(&file);
            let zbar_ms = zbar_started.elapsed().as_secs_f64() * 1000.0;
            for factor in [0.75, 0.5] {
                let scaled = temp.path().join(format!("{i}-scaled.jpg"));
                std::fs::write(&scaled, encode(&shrink(&seen, factor), 92)).expect("write a scaled copy");
                zbar_reads.extend(zbar(&scaled));
            }
            let started = Instant::now();
            let ours: BTreeSet<String> = read(
                Pixels {
                    width: seen.width,
                    height: seen.height,
                    channels: 1,
                    data: &seen.data,
                },
                &Symbology::ALL,
                &wanted,
            )
            .expect("pixels of the right size")
            .into_iter()
            .map(|f| f.text)
            .collect();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if u64::from(seen.width) * u64::from(seen.height) > 15_000_000 {
                full_ms += ms;
                full_zbar_ms += zbar_ms;
                full_n += 1;
            }
            reference += zbar_reads.len();
            matched += zbar_reads.intersection(&ours).count();
            extra += ours.difference(&zbar_reads).count();
            for lost in zbar_reads.difference(&ours) {
                missed.push(format!("{name} ({variant}): {lost}"));
            }
            let show = |set: &BTreeSet<String>| {
                if set.is_empty() {
                    "-".to_string()
                } else {
                    set.iter().cloned().collect::<Vec<_>>().join(",")
                }
            };
            println!(
                "{:<44} {:<14} {:>9} {ms:>8.0}  {} | {}",
                name.chars().take(44).collect::<String>(),
                variant,
                format!("{}x{}", seen.width, seen.height),
                show(&zbar_reads),
                show(&ours)
            );
        }
    }
    println!(
        "recall: specdrop read {matched} of the {reference} barcodes ZBar read ({:.1} %), and {extra} ZBar did not",
        if reference == 0 {
            100.0
        } else {
            matched as f64 * 100.0 / reference as f64
        }
    );
    if full_n > 0 {
        println!(
            "sheets over 15 MP: specdrop's reader {:.0} ms per sheet on average (every pass it needed, one thread); \
             zbarimg {:.0} ms for one pass at full size (the process, decoding the file included)",
            full_ms / full_n as f64,
            full_zbar_ms / full_n as f64
        );
    }
    for lost in &missed {
        println!("MISSED: {lost}");
    }
}
