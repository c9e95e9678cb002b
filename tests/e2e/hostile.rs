//! Hostile and malformed input, generated here from a real sheet: each
//! file ends with its own specific reason, the run goes on to the good
//! file, nothing is written outside the image library and the archive,
//! and refused files stay where they are.

use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use crate::support::*;

/// What a case must end as: its outcome and a piece of its reason.
struct Case {
    name: Vec<u8>,
    outcome: &'static str,
    reason: &'static str,
}

fn case(name: impl AsRef<[u8]>, outcome: &'static str, reason: &'static str) -> Case {
    Case {
        name: name.as_ref().to_vec(),
        outcome,
        reason,
    }
}

/// A JPEG header whose frame claims `width` x `height`, then nothing more
/// than a few bytes of scan data and an end marker.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
    out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
    out.extend_from_slice(&[0x12, 0x34, 0x56]);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A real (grey) JPEG of `width` x `height`.
fn jpeg_of(width: u16, height: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let pixels = vec![180u8; usize::from(width) * usize::from(height)];
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Luma)
        .expect("encode a grey JPEG");
    out
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn sixty_hostile_files_each_end_with_their_own_reason() {
    let env = Env::new(Backend::Sqlite).await;
    let drop = env.path("var/drop/mich");
    std::fs::create_dir_all(&drop).expect("create the drop folder");
    let sheet = sample(SMALL_7);
    let mut cases: Vec<Case> = Vec::new();
    let write = |name: &[u8], bytes: &[u8]| {
        let path = drop.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    };

    // 1-12: cut short at every stage of the file.
    for (i, percent) in [1usize, 2, 5, 10, 20, 30, 50, 70, 90, 95, 99, 100].iter().enumerate() {
        let cut = sheet.len() * percent / 100 - usize::from(*percent == 100) * 2;
        let name = format!("MICH-V-13909{i:02}_cut{percent}.jpg");
        write(name.as_bytes(), &sheet[..cut]);
        cases.push(case(name, "skipped", "incomplete"));
    }
    // 13: empty.
    write(b"MICH-V-1390950.jpg", b"");
    cases.push(case("MICH-V-1390950.jpg", "failed", "empty"));
    // 14-19: random bytes of several sizes.
    for (i, len) in [1usize, 7, 100, 1000, 10_000, 100_000].iter().enumerate() {
        let name = format!("MICH-V-13909{}_random.jpg", 60 + i);
        write(name.as_bytes(), &pseudo_random(*len, i as u64));
        cases.push(case(name, "failed", "not an image"));
    }
    // 20-25: other formats and polyglots under a JPEG name.
    let others: [(&str, Vec<u8>, &str, &str); 6] = [
        (
            "MICH-V-1390970_pdf.jpg",
            b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n".to_vec(),
            "failed",
            "a PDF document",
        ),
        (
            "MICH-V-1390971_html.jpg",
            b"<html><script>alert(1)</script></html>".to_vec(),
            "failed",
            "not an image",
        ),
        (
            "MICH-V-1390972_gif.jpg",
            b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec(),
            "failed",
            "a GIF image",
        ),
        (
            "MICH-V-1390973_zip.jpg",
            b"PK\x03\x04\x14\x00\x00\x00".to_vec(),
            "failed",
            "a ZIP archive",
        ),
        (
            "MICH-V-1390974_tiff.jpg",
            b"II*\x00\x08\x00\x00\x00".to_vec(),
            "failed",
            "TIFF/DNG/RAW",
        ),
        (
            "MICH-V-1390975_elf.jpg",
            b"\x7fELF\x02\x01\x01\x00".to_vec(),
            "failed",
            "not an image",
        ),
    ];
    for (name, bytes, outcome, reason) in others {
        write(name.as_bytes(), &bytes);
        cases.push(case(name, outcome, reason));
    }
    // 26-27: a JPEG with a ZIP or HTML after its end marker is a JPEG.
    for (i, tail) in [&b"PK\x03\x04 zip payload"[..], b"<script>x</script>"]
        .iter()
        .enumerate()
    {
        let mut polyglot = distinct(&sheet, &format!("polyglot {i}"));
        polyglot.extend_from_slice(tail);
        let name = format!("MICH-V-1390993_poly{i}.jpg");
        write(name.as_bytes(), &polyglot);
        cases.push(case(name, "linked", "occid 202"));
    }
    // 28-31: decompression bombs: frames claiming far more pixels than
    // derive.max_pixels, with and without data behind them.
    for (i, (w, h)) in [
        (65_000u16, 65_000u16),
        (60_000, 6_000),
        (65_535, 65_535),
        (30_000, 30_000),
    ]
    .iter()
    .enumerate()
    {
        let name = format!("MICH-V-13909{}_bomb.jpg", 80 + i);
        write(name.as_bytes(), &jpeg_claiming(*w, *h));
        cases.push(case(name, "failed", "max_pixels"));
    }
    // 32-33: one pixel by 65535 (JPEG's limit) each way: odd but real.
    for (i, (w, h)) in [(1u16, 65_535u16), (65_535, 1)].iter().enumerate() {
        let name = format!("MICH-V-13909{}_line.jpg", 85 + i);
        write(name.as_bytes(), &jpeg_of(*w, *h));
        cases.push(case(name, "parked", "no specimen"));
    }
    // 34-50: names that try to be code, paths or trouble.
    let names: [&[u8]; 17] = [
        b"MICH-V-1391075 ..\\..\\windows.JPG",
        b"MICH-V-1391076 <img src=x onerror=alert(1)>.jpeg",
        b"MICH-V-1391060'; DROP TABLE media; --.jpg",
        b"MICH-V-1391061\" OR \"1\"=\"1.jpg",
        b"MICH-V-1391062$(touch pwned).jpg",
        b"MICH-V-1391063`id`.jpg",
        b"MICH-V-1391064;rm -rf x.jpg",
        b"MICH-V-1391065\nsecond line.jpg",
        b"MICH-V-1391066\r.jpg",
        b"MICH-V-1391067 \xff\xfe invalid utf8.jpg",
        b"MICH-V-1391068%2e%2e%2fescape.jpg",
        b"MICH-V-1391069..jpg",
        b"MICH-V-1391070\xe2\x80\xaegpj.exe.jpg",
        b"MICH-V-1391071 \xf0\x9f\x8c\xbf herbarium.jpg",
        b"-MICH-V-1391072.jpg",
        b"MICH-V-1391073<>|*?.jpg",
        b"MICH-V-1391074\t\x01\x7f.jpg",
    ];
    for (i, name) in names.iter().enumerate() {
        write(name, &distinct(&sheet, &format!("name {i}")));
        let reason = if name.starts_with(b"-") {
            "no catalog number"
        } else {
            "no specimen"
        };
        let outcome = if name.starts_with(b"-") { "skipped" } else { "parked" };
        cases.push(case(name, outcome, reason));
    }
    // 51: the longest name a file system takes (255 bytes).
    let mut long = b"MICH-V-1391010_".to_vec();
    long.resize(251, b'x');
    long.extend_from_slice(b".jpg");
    write(&long, &distinct(&sheet, "long"));
    cases.push(case(&long, "parked", "no specimen"));
    // 52-55: links leading out of the drop folder.
    let outside = env.path("outside");
    env.write_file("outside/secret.jpg", &distinct(&sheet, "outside"));
    for (i, target) in [
        outside.join("secret.jpg"),
        PathBuf::from("/etc/passwd"),
        PathBuf::from("/nonexistent"),
    ]
    .iter()
    .enumerate()
    {
        let name = format!("MICH-V-13910{}_symlink.jpg", 20 + i);
        std::os::unix::fs::symlink(target, drop.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        cases.push(case(name, "skipped", "symbolic link"));
    }
    let hard = "MICH-V-1391030_hardlink.jpg";
    std::fs::hard_link(outside.join("secret.jpg"), drop.join(hard)).expect("hard-link a file from outside");
    cases.push(case(hard, "failed", "hard link"));
    // 56-57: things with an image's name that are not files.
    std::fs::create_dir_all(drop.join("MICH-V-1391040.jpg")).expect("a folder with an image's name");
    let fifo = drop.join("MICH-V-1391041_fifo.jpg");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    // 58-61: JPEG structure damage inside a complete file.
    let mut bad_marker = distinct(&sheet, "bad marker");
    let middle = bad_marker.len() / 2;
    bad_marker[middle..middle + 64].fill(0xFF);
    // A real specimen's number, so the body is decoded (an unknown number
    // is parked before any pixel is read).
    write(b"MICH-V-1390993_markers.jpg", &bad_marker);
    cases.push(case("MICH-V-1390993_markers.jpg", "failed", "JPEG"));
    let mut no_soi = sheet.clone();
    no_soi[0] = 0;
    write(b"MICH-V-1391051_nosoi.jpg", &no_soi);
    cases.push(case("MICH-V-1391051_nosoi.jpg", "failed", "not an image"));
    let header_only = jpeg_claiming(4000, 6000);
    write(b"MICH-V-1391052_header.jpg", &header_only[..header_only.len() - 5]);
    cases.push(case("MICH-V-1391052_header.jpg", "skipped", "incomplete"));
    write(b"MICH-V-1391053_eoi.jpg", &[0xFF, 0xD8, 0xFF, 0xD9]);
    cases.push(case("MICH-V-1391053_eoi.jpg", "failed", "JPEG"));
    // The one good file, after all of them in name order.
    write(b"MICH-V-0045678.jpg", &sample(SMALL_8));
    cases.push(case("MICH-V-0045678.jpg", "linked", "occid 203"));
    assert!(cases.len() >= 60, "{} cases", cases.len());

    let before_outside = files_below(&outside);
    let rows_before = env.image_rows().await;
    let run = env.scan();
    assert!(
        run.code == 1,
        "some failed, none crashed the run:\n{}\n{}",
        run.stdout,
        run.stderr
    );

    let mut problems = Vec::new();
    for c in &cases {
        let shown = String::from_utf8_lossy(&c.name).into_owned();
        // Every case's number (and what follows it up to a control
        // character) is its own.
        let key: String = shown
            .chars()
            .skip_while(|ch| !ch.is_ascii_digit())
            .take_while(|ch| !ch.is_control())
            .take(16)
            .collect();
        let line = run.stdout.lines().find(|l| l.contains(&key));
        match line {
            Some(l) if l.starts_with(c.outcome) && l.contains(c.reason) => {}
            other => problems.push(format!("{shown:?}: want {} / {:?}, got {other:?}", c.outcome, c.reason)),
        }
    }
    assert!(problems.is_empty(), "{}\n\n{}", problems.join("\n"), run.stdout);
    assert!(
        run.stdout.contains("MICH-V-1391065\\nsecond line.jpg: no specimen"),
        "a newline in a name is shown escaped, on one line:\n{}",
        run.stdout
    );

    // Refused and failed files are all still there; nothing outside the
    // library and the archive changed; no derivative escaped the library.
    for c in cases.iter().filter(|c| c.outcome != "linked") {
        let path = drop.join(std::ffi::OsStr::from_bytes(&c.name));
        assert!(std::fs::symlink_metadata(&path).is_ok(), "{} is gone", path.display());
    }
    assert!(drop.join("MICH-V-1391040.jpg").is_dir());
    assert_eq!(
        files_below(&outside),
        before_outside,
        "a file outside the drop folder changed"
    );
    for (path, _) in files_below(env.dir.path()) {
        let rel = path.strip_prefix(env.dir.path()).unwrap_or(&path);
        let allowed = [
            "var/drop/",
            "var/www/imglib/",
            "var/archive/",
            "var/state/",
            "outside/",
            "portal.db",
            "specdrop.toml",
        ];
        assert!(
            allowed.iter().any(|a| rel.to_string_lossy().starts_with(a)),
            "written outside its place: {}",
            rel.display()
        );
    }
    assert!(
        !env.path("pwned").exists() && !env.path("var/drop/pwned").exists(),
        "a name was run as a command"
    );
    assert_eq!(
        env.image_rows().await,
        rows_before + 3,
        "the two polyglots and the good file"
    );
}
