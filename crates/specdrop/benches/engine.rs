//! The derivative job measured against what a careful admin would use.
//!
//! In one run on the same sheets: specdrop's engine (in process), and when
//! installed `vipsthumbnail` (libvips, one call per size) and ImageMagick
//! `convert` (one call per size), each with 1 worker (ms per sheet) and 2
//! workers (sheets per second), their peak RSS and output bytes; the web
//! derivative's SSIM against a reference resize; then a whole `specdrop
//! scan` (hashing, database, archive included) against vipsthumbnail
//! making the same sizes from the same files.
//!
//! `cargo bench -p specdrop --bench engine [-- DIR]`: DIR holds the sheets
//! (default: ../shared/corpus when present, else samples/); only sheets
//! wider than 3200 px are used, made up to 20 distinct files. Last, four
//! 143 MP sheets made from the first (`-- --large` runs only that part).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use specdrop_derive::DeriveConfig;

mod support;

const SIZES: [u32; 3] = [3200, 1400, 200];
const SHEETS: usize = 20;

struct Measured {
    name: String,
    ms_single: f64,
    per_sec_two: f64,
    peak_rss_mib: f64,
    bytes: [f64; 3],
    /// SSIM of the web image against the reference resized in gamma-encoded
    /// values and against the one resized in linear light.
    web_ssim: f64,
    web_ssim_linear: f64,
}

fn main() {
    if let Some(dir) = std::env::args().skip_while(|a| a != "--peak-of").nth(1) {
        return peak_of(Path::new(&dir));
    }
    let dir = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(support::default_dir);
    let sheets = load_sheets(&dir);
    let work = tempfile::tempdir().expect("tempdir");
    // `-- --large`: only the 143 MP part.
    if std::env::args().any(|a| a == "--large") {
        let vips = find_tool("vipsthumbnail").expect("--large needs vipsthumbnail (apt-get install libvips-tools)");
        return large_sheets(&sheets[0].1, work.path(), &vips);
    }
    let inputs = work.path().join("in");
    std::fs::create_dir_all(&inputs).expect("create the input folder");
    let mut files = Vec::new();
    for i in 0..SHEETS {
        let (_, data) = &sheets[i % sheets.len()];
        let path = inputs.join(format!("MICH-V-{}.jpg", 6_000_000 + i));
        std::fs::write(&path, distinct(data, i)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files.push(path);
    }
    // `-- --ocr`: only derivative throughput with OCR on against off.
    if std::env::args().any(|a| a == "--ocr") {
        return ocr_on_and_off(&files);
    }
    println!(
        "{} sheets from {} ({} distinct sources), sizes {:?}, quality 80, {} cores",
        files.len(),
        dir.display(),
        sheets.len(),
        SIZES,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // specdrop first, so that its peak RSS is its own (the reference
    // resizes below allocate more than the engine does).
    let mut results = vec![specdrop_engine(&files, work.path())];
    let reference: Vec<Vec<u8>> = files.iter().take(4).map(|f| reference_web(f, false)).collect();
    let linear: Vec<Vec<u8>> = files.iter().take(4).map(|f| reference_web(f, true)).collect();
    let ours = |i| work.path().join(format!("specdrop/{i}/x_med.jpg"));
    results[0].web_ssim = mean_ssim(&reference, ours);
    results[0].web_ssim_linear = mean_ssim(&linear, ours);
    let vips = find_tool("vipsthumbnail");
    if let Some(vips) = &vips {
        results.push(external(
            "vipsthumbnail",
            &files,
            &reference,
            work.path(),
            vips_command(vips),
            &linear,
        ));
    } else {
        println!("vipsthumbnail not installed: skipped (Debian: apt-get install libvips-tools)");
    }
    if let Some(convert) = find_tool("convert") {
        results.push(external(
            "ImageMagick convert",
            &files,
            &reference,
            work.path(),
            |input, size, out| {
                let mut c = Command::new(&convert);
                c.arg(input)
                    .args(["-resize", &format!("{size}x"), "-quality", "80"])
                    .arg(out);
                c
            },
            &linear,
        ));
    } else {
        println!("ImageMagick convert not installed: skipped");
    }
    print_table(&results);
    println!(
        "specdrop peak RSS on ~35 MP sheets (2 workers, same code): {:.0} MiB",
        peak_35mp(&sheets[0].1, work.path())
    );
    if vips.is_some() {
        whole_scan(&files, results.get(1).map(|r| r.per_sec_two));
    }
    if let Some(vips) = &vips {
        large_sheets(&sheets[0].1, work.path(), vips);
    }
}

/// Four 143 MP sheets (a real one enlarged 2.6×, 9758×14648 from a
/// 3753×5634 sheet: what a 150 MP back makes), which specdrop decodes at
/// half size in the DCT domain: a whole scan's throughput and peak RSS
/// against vipsthumbnail's in the same run, and the web image of the
/// scaled decode against a full decode of the same sheet.
fn large_sheets(sheet: &[u8], work: &Path, vips: &Path) {
    let dir = work.join("143mp");
    std::fs::create_dir_all(&dir).expect("create the 143 MP folder");
    let jpeg = enlarged(sheet, 2.6, |_| {});
    let mut files = Vec::new();
    for i in 0..4 {
        let path = dir.join(format!("MICH-V-{}.jpg", 7_000_000 + i));
        std::fs::write(&path, distinct(&jpeg, i)).expect("write a 143 MP sheet");
        files.push(path);
    }
    let (w, h) = specdrop_derive::probe(&jpeg, u64::MAX, &[specdrop_derive::Format::Jpeg]).expect("its header");
    println!(
        "\n{} sheets of {w}x{h} = {:.0} MP ({:.1} MB each), decoded by specdrop at {:?}",
        files.len(),
        f64::from(w) * f64::from(h) / 1e6,
        jpeg.len() as f64 / 1e6,
        specdrop_derive::decoded_size(&jpeg, &DeriveConfig::default(), None).expect("its header")
    );
    let vips = external("vipsthumbnail", &files, &[], &dir, vips_command(vips), &[]);
    println!(
        "vipsthumbnail, 2 at a time: {:.2} sheets/s, peak {:.0} MiB per process",
        vips.per_sec_two, vips.peak_rss_mib
    );
    whole_scan(&files, Some(vips.per_sec_two));

    // The same sheet encoded progressive is decoded at full size: the
    // full-decode web image to hold the scaled one against.
    let progressive = enlarged(sheet, 2.6, |e| e.set_progressive(true));
    let full = dir.join("full.jpg");
    std::fs::write(&full, &progressive).expect("write the progressive sheet");
    let out = dir.join("web");
    derive_into(&files[0], &DeriveConfig::default(), &out, 0);
    derive_into(&full, &DeriveConfig::default(), &out, 1);
    let reference = reference_web(&files[0], false);
    let web = |i: usize| out.join(format!("{i}/x_med.jpg"));
    let (scaled, full_decode) = (
        mean_ssim(std::slice::from_ref(&reference), |_| web(0)),
        mean_ssim(std::slice::from_ref(&reference), |_| web(1)),
    );
    let (_, _, full_web) = grey(&web(1));
    let between = mean_ssim(&[full_web], |_| web(0));
    println!(
        "web image SSIM against the float reference: {scaled:.4} from the half-size decode, {full_decode:.4} \
         from a full decode ({:.4} of it); the two web images against each other: {between:.4}",
        scaled / full_decode
    );
}

/// vipsthumbnail making one size at quality 80.
fn vips_command(vips: &Path) -> impl Fn(&Path, u32, &Path) -> Command + Sync + '_ {
    move |input, size, out| {
        let mut c = Command::new(vips);
        c.arg(input)
            .args(["--size", &format!("{size}x")])
            .arg("-o")
            .arg(format!("{}[Q=80]", out.display()));
        c
    }
}

/// `sheet` enlarged `factor` times (Catmull-Rom), encoded at quality 90.
fn enlarged(sheet: &[u8], factor: f64, tweak: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>)) -> Vec<u8> {
    let (w, h, pixels) = rgb(sheet);
    let (nw, nh) = ((f64::from(w) * factor) as u32, (f64::from(h) * factor) as u32);
    let src = Image::from_vec_u8(w, h, pixels, PixelType::U8x3).expect("an RGB image of the sheet");
    let mut big = Image::new(nw, nh, PixelType::U8x3);
    resize(&src, &mut big, FilterType::CatmullRom);
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
    tweak(&mut encoder);
    encoder
        .encode(big.buffer(), nw as u16, nh as u16, jpeg_encoder::ColorType::Rgb)
        .expect("encode the enlarged sheet");
    jpeg
}

/// Peak RSS of the engine (2 workers) on four ~35 MP sheets made from a
/// real one, measured in a fresh process so nothing else counts.
fn peak_35mp(sheet: &[u8], work: &Path) -> f64 {
    let dir = work.join("35mp");
    std::fs::create_dir_all(&dir).expect("create the 35 MP folder");
    let jpeg = enlarged(sheet, 1.28, |_| {});
    let (nw, nh) = specdrop_derive::probe(&jpeg, u64::MAX, &[specdrop_derive::Format::Jpeg]).expect("its header");
    for i in 0..4 {
        std::fs::write(dir.join(format!("{i}.jpg")), distinct(&jpeg, i)).expect("write a 35 MP sheet");
    }
    let out = Command::new(std::env::current_exe().expect("this bench's own path"))
        .arg("--peak-of")
        .arg(&dir)
        .output()
        .expect("run this bench in --peak-of mode");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("  ({nw}x{nh} = {:.1} MP)", f64::from(nw) * f64::from(nh) / 1e6);
    text.trim()
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("child said {text:?}"))
}

/// Child mode: derive every sheet in `dir` with 2 workers, print peak MiB.
fn peak_of(dir: &Path) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    let config = DeriveConfig::default();
    let out = dir.join("out");
    in_parallel(files.len(), 2, &|i: usize| derive_into(&files[i], &config, &out, i));
    println!("{:.0}", vm_hwm_kib(std::process::id()) as f64 / 1024.0);
}

/// specdrop's derivatives of the sheet at `path`, stored under `out/i/`.
fn derive_into(path: &Path, config: &DeriveConfig, out: &Path, i: usize) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let set = specdrop_derive::build(&data, config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    specdrop_derive::store::write_set(out, &i.to_string(), "x.jpg", None, &set, Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// `src` resized into `dst` with `filter`.
fn resize(src: &Image<'_>, dst: &mut Image<'_>, filter: FilterType) {
    Resizer::new()
        .resize(
            src,
            dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)),
        )
        .expect("resize");
}

fn rgb(data: &[u8]) -> (u32, u32, Vec<u8>) {
    use zune_jpeg::JpegDecoder;
    use zune_jpeg::zune_core::bytestream::ZCursor;
    let mut d = JpegDecoder::new(ZCursor::new(data));
    let pixels = d.decode().expect("decode a sheet");
    let info = d.info().expect("a decoded sheet has its info");
    (u32::from(info.width), u32::from(info.height), pixels)
}

/// The sheets wider than the large size, as (name, bytes).
fn load_sheets(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut sheets: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg")))
        .filter_map(|p| {
            let data = std::fs::read(&p).ok()?;
            let (w, _) = specdrop_derive::probe(&data, u64::MAX, &[specdrop_derive::Format::Jpeg]).ok()?;
            let name = p.file_name()?.to_string_lossy().into_owned();
            (w > SIZES[0]).then_some((name, data))
        })
        .collect();
    sheets.sort();
    assert!(
        !sheets.is_empty(),
        "no sheet wider than {} px in {}",
        SIZES[0],
        dir.display()
    );
    sheets
}

/// A copy with its own content (a comment segment), so no engine can
/// cache and the scan sees distinct files.
fn distinct(data: &[u8], i: usize) -> Vec<u8> {
    let text = format!("bench copy {i}");
    let mut out = data[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&((text.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&data[2..]);
    out
}

/// The first `tool` on PATH that answers `--version` like the real thing
/// (machines may have stand-ins earlier on PATH).
fn find_tool(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|d| d.join(tool)).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|candidate| candidate.is_file())
        .find(|candidate| {
            Command::new(candidate)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        })
}

/// Run `job` over every index with `workers` threads; seconds taken.
fn in_parallel(n: usize, workers: usize, job: &(dyn Fn(usize) + Sync)) -> f64 {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    job(i);
                }
            });
        }
    });
    started.elapsed().as_secs_f64()
}

fn specdrop_engine(files: &[PathBuf], work: &Path) -> Measured {
    let config = DeriveConfig::default();
    let out = work.join("specdrop");
    std::fs::create_dir_all(&out).expect("create specdrop's output folder");
    let job = |i: usize| derive_into(&files[i], &config, &out, i);
    in_parallel(1, 1, &job); // warm up, on a thread of its own like the rest
    let single = in_parallel(files.len().min(6), 1, &job) / files.len().min(6) as f64;
    let two = in_parallel(files.len(), 2, &job);
    let peak = vm_hwm_kib(std::process::id()) as f64 / 1024.0;
    let bytes = mean_sizes(&out, |name| {
        if name.ends_with("_med.jpg") {
            1
        } else if name.ends_with("_tn.jpg") {
            2
        } else {
            0
        }
    });
    Measured {
        name: format!(
            "specdrop ({})",
            specdrop_derive::ENCODER.split(" (").next().unwrap_or("")
        ),
        ms_single: single * 1000.0,
        per_sec_two: files.len() as f64 / two,
        peak_rss_mib: peak,
        bytes,
        web_ssim: 0.0,
        web_ssim_linear: 0.0,
    }
}

fn external(
    name: &str,
    files: &[PathBuf],
    reference: &[Vec<u8>],
    work: &Path,
    command: impl Fn(&Path, u32, &Path) -> Command + Sync,
    linear: &[Vec<u8>],
) -> Measured {
    let out = work.join(name.split_whitespace().next().unwrap_or("tool"));
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let peak = std::sync::Mutex::new(0u64);
    let job = |i: usize| {
        for (k, size) in SIZES.iter().enumerate() {
            let target = out.join(format!("{i}_{k}.jpg"));
            let mut child = command(&files[i], *size, &target)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let pid = child.id();
            let mut hwm = 0;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "{name} failed on {}", files[i].display());
                    break;
                }
                hwm = hwm.max(vm_hwm_kib(pid));
                std::thread::sleep(Duration::from_millis(2));
            }
            if let Ok(mut p) = peak.lock() {
                *p = (*p).max(hwm);
            }
        }
    };
    job(0);
    let single = in_parallel(files.len().min(6), 1, &job) / files.len().min(6) as f64;
    let two = in_parallel(files.len(), 2, &job);
    let bytes = mean_sizes(&out, |name| match name.rsplit('_').next() {
        Some("1.jpg") => 1,
        Some("2.jpg") => 2,
        _ => 0,
    });
    let web_ssim = mean_ssim(reference, |i| out.join(format!("{i}_1.jpg")));
    let web_ssim_linear = mean_ssim(linear, |i| out.join(format!("{i}_1.jpg")));
    Measured {
        name: name.into(),
        ms_single: single * 1000.0,
        per_sec_two: files.len() as f64 / two,
        peak_rss_mib: peak.lock().map_or(0, |p| *p) as f64 / 1024.0,
        bytes,
        web_ssim,
        web_ssim_linear,
    }
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Mean output bytes per size class (0 large, 1 web, 2 thumbnail).
fn mean_sizes(dir: &Path, class: impl Fn(&str) -> usize) -> [f64; 3] {
    let mut sum = [0u64; 3];
    let mut count = [0u64; 3];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let (Some(name), Ok(meta)) = (path.file_name(), entry.metadata()) {
                let k = class(&name.to_string_lossy());
                sum[k] += meta.len();
                count[k] += 1;
            }
        }
    }
    [0, 1, 2].map(|k| sum[k] as f64 / count[k].max(1) as f64)
}

/// Grey pixels of a JPEG file.
fn grey(path: &Path) -> (u32, u32, Vec<u8>) {
    use zune_jpeg::JpegDecoder;
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let options = DecoderOptions::new_fast()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(65535)
        .set_max_height(65535);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(&data), options);
    let pixels = d.decode().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = d.info().expect("a decoded JPEG has its info");
    (u32::from(info.width), u32::from(info.height), pixels)
}

/// The reference web image: the full sheet resized straight to 1400 px
/// with Lanczos3 in 32-bit float, grey, no JPEG encoding; in gamma-encoded
/// values or (`linear`) in linear light.
fn reference_web(path: &Path, linear: bool) -> Vec<u8> {
    let (w, h, pixels) = grey(path);
    let to_linear = |v: f32| {
        let c = v / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let to_srgb = |c: f32| {
        let c = c.clamp(0.0, 1.0);
        255.0
            * if c <= 0.003_130_8 {
                c * 12.92
            } else {
                1.055 * c.powf(1.0 / 2.4) - 0.055
            }
    };
    let src: Vec<u8> = pixels
        .iter()
        .flat_map(|p| {
            (if linear {
                to_linear(f32::from(*p))
            } else {
                f32::from(*p)
            })
            .to_ne_bytes()
        })
        .collect();
    let src = Image::from_vec_u8(w, h, src, PixelType::F32).expect("a float image of the sheet");
    let nh = (f64::from(h) * 1400.0 / f64::from(w)).round() as u32;
    let mut dst = Image::new(1400, nh, PixelType::F32);
    resize(&src, &mut dst, FilterType::Lanczos3);
    dst.buffer()
        .chunks_exact(4)
        .map(|b| {
            let v = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            (if linear { to_srgb(v) } else { v }).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Mean SSIM (8x8 windows, grey) of each output web image against its reference.
fn mean_ssim(reference: &[Vec<u8>], output: impl Fn(usize) -> PathBuf) -> f64 {
    let mut total = 0.0;
    for (i, reference) in reference.iter().enumerate() {
        let (w, _, pixels) = grey(&output(i));
        assert_eq!(w, 1400, "web output of sheet {i} is {w} px wide");
        total += ssim(reference, &pixels, w as usize);
    }
    total / reference.len() as f64
}

fn ssim(a: &[u8], b: &[u8], width: usize) -> f64 {
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let height = a.len().min(b.len()) / width;
    let (mut sum, mut n) = (0.0, 0);
    for by in (0..height.saturating_sub(8)).step_by(4) {
        for bx in (0..width.saturating_sub(8)).step_by(4) {
            let (mut ma, mut mb, mut va, mut vb, mut cov) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in by..by + 8 {
                for x in bx..bx + 8 {
                    let (p, q) = (f64::from(a[y * width + x]), f64::from(b[y * width + x]));
                    ma += p;
                    mb += q;
                    va += p * p;
                    vb += q * q;
                    cov += p * q;
                }
            }
            let k = 64.0;
            let (ma, mb) = (ma / k, mb / k);
            let (va, vb, cov) = (va / k - ma * ma, vb / k - mb * mb, cov / k - ma * mb);
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            n += 1;
        }
    }
    sum / f64::from(n.max(1))
}

fn print_table(results: &[Measured]) {
    println!();
    println!(
        "{:<54} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "engine", "ms/sheet", "sheets/s", "peak MiB", "large KB", "web KB", "thumb KB", "web SSIM", "(linear)"
    );
    println!("{:<54} {:>9} {:>10} {:>9}", "", "1 worker", "2 workers", "");
    for r in results {
        println!(
            "{:<54} {:>9.0} {:>10.2} {:>9.0} {:>9.0} {:>9.0} {:>9.1} {:>9.4} {:>9.4}",
            r.name,
            r.ms_single,
            r.per_sec_two,
            r.peak_rss_mib,
            r.bytes[0] / 1000.0,
            r.bytes[1] / 1000.0,
            r.bytes[2] / 1000.0,
            r.web_ssim,
            r.web_ssim_linear
        );
    }
    let ours = &results[0];
    for other in &results[1..] {
        println!(
            "specdrop / {}: {:.2}x sheets/s with 2 workers, {:.2}x faster single-threaded",
            other.name,
            ours.per_sec_two / other.per_sec_two,
            other.ms_single / ours.ms_single
        );
    }
}

/// `specdrop scan` of the same sheets (hash, database, archive included)
/// against vipsthumbnail's sheets per second.
/// The daemon on the same sheets (each a new skeletal record, so
/// "unprocessed": every one is OCR'd when `[ocr]` is on), with OCR off and
/// on at `ocr.threads = 1`, in the same run. A `scan` reads the labels
/// only after its last link; the daemon reads them beside the
/// derivatives, so it is what shows OCR's cost: derivative throughput is
/// sheets over the time to the last sheet's line, and with OCR on, the
/// time until every sheet was read is given too.
fn ocr_on_and_off(files: &[PathBuf]) {
    if find_tool("tesseract").is_none() {
        println!("tesseract not installed: OCR on/off skipped (Debian: apt-get install tesseract-ocr)");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut off = 0.0;
    for ocr in [false, true] {
        let (derived, read) = timed_daemon(files, ocr);
        let per_sec = files.len() as f64 / derived;
        if ocr {
            println!(
                "OCR on (ocr.threads = 1): {per_sec:.2} sheets/s derived and linked, {:.0} % of OCR off, \
                 on {cores} cores; every sheet read after {read:.1} s ({:.2} s a sheet)",
                100.0 * per_sec / off,
                read / files.len() as f64
            );
        } else {
            off = per_sec;
            println!(
                "OCR off: {per_sec:.2} sheets/s derived and linked ({} sheets, 2 workers, {cores} cores)",
                files.len()
            );
        }
    }
}

/// One daemon run over the sheets: seconds per sheet from the first
/// sheet's line to the last (the daemon first waits `watch.settle_secs`
/// for every file it finds), and (with OCR) the seconds from the first
/// line until the ledger's OCR queue holds every sheet as read.
fn timed_daemon(files: &[PathBuf], ocr: bool) -> (f64, f64) {
    use std::io::BufRead as _;
    let ocr_table = if ocr {
        "[ocr]\nenabled = true\nthreads = 1\n"
    } else {
        ""
    };
    let work = skeletal_work(files, ocr_table);
    let started = Instant::now();
    let mut child = support::specdrop_command()
        .args(["run", "--config", "specdrop.toml"])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run specdrop run");
    let stdout = child.stdout.take().expect("the daemon's stdout");
    let mut lines = std::io::BufReader::new(stdout).lines().map_while(Result::ok);
    let (mut sheets, mut said, mut first) = (0, String::new(), None);
    while sheets < files.len() {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the daemon ended early:\n{said}"));
        if line.starts_with("skeletal") || line.starts_with("linked") {
            sheets += 1;
            first.get_or_insert_with(Instant::now);
        }
        said.push_str(&line);
        said.push('\n');
    }
    let first = first.unwrap_or(started);
    // n sheets' lines span n - 1 sheets' work.
    let derived = first.elapsed().as_secs_f64() * files.len() as f64 / (files.len().max(2) - 1) as f64;
    let mut read = derived;
    if ocr {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let status = support::specdrop_command()
                .args(["status", "--json", "--config", "specdrop.toml"])
                .current_dir(work.path())
                .output()
                .expect("run specdrop status");
            let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
            let count = |state: &str| json["ocr"][state].as_u64().unwrap_or(0);
            if count("done") + count("empty") >= files.len() as u64 {
                read = first.elapsed().as_secs_f64();
                break;
            }
            assert!(Instant::now() < deadline, "OCR did not finish: {json}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    (derived, read)
}

/// A work folder: `files` in its drop folder (arrived an hour ago, so a
/// daemon takes them at its start, not after `watch.settle_secs`), a
/// seeded SQLite portal, and a config with 2 worker threads (and
/// `tables`) that makes a skeletal record of each.
fn skeletal_work(files: &[PathBuf], tables: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    let drop = work.path().join("drop");
    std::fs::create_dir_all(&drop).expect("create the drop folder");
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for f in files {
        let to = drop.join(f.file_name().unwrap_or_default());
        std::fs::copy(f, &to).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        std::fs::File::options()
            .write(true)
            .open(&to)
            .and_then(|file| file.set_modified(old))
            .unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let url = runtime.block_on(support::seeded_sqlite(work.path()));
    support::write_config(
        work.path(),
        &url,
        &format!("[workers]\nthreads = 2\n{tables}"),
        "unmatched = \"skeletal\"\n",
    );
    work
}

fn whole_scan(files: &[PathBuf], vips_per_sec: Option<f64>) {
    let work = skeletal_work(files, "");
    let started = Instant::now();
    let mut child = support::specdrop_command()
        .args(["scan", "--config", "specdrop.toml"])
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run specdrop scan");
    let pid = child.id();
    let mut peak_kib = 0;
    while child.try_wait().expect("wait for specdrop scan").is_none() {
        peak_kib = peak_kib.max(vm_hwm_kib(pid));
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed().as_secs_f64();
    let out = child.wait_with_output().expect("specdrop scan's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "summary: 0 linked, 0 parked, {} skeletal, 0 failed",
            files.len()
        )),
        "{stdout}"
    );
    let per_sec = files.len() as f64 / took;
    print!(
        "\nwhole `specdrop scan` of {} sheets (2 threads, SQLite, hash + rows + archive): {per_sec:.2} sheets/s, \
         peak RSS {:.0} MiB",
        files.len(),
        peak_kib as f64 / 1024.0
    );
    match vips_per_sec {
        Some(v) => println!("; {:.2}x vipsthumbnail's {v:.2} sheets/s", per_sec / v),
        None => println!(),
    }
}
