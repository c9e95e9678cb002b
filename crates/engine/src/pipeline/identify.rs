//! Stage 3, identify: the file's catalog number, from its name or the
//! sheet's barcodes as the collection's `identifier` says
//! (catalog_number.rs decides; this stage reads what it needs). Reading
//! barcodes needs the full-size pixels, so the derivatives are made here
//! on the way.

use std::path::Path;

use specdrop_mapper::{Key, Lookup, MediaValues};

use super::source::Source;
use crate::catalog_number::{self, Candidate, Decision};
use crate::collection::Prepared;
use crate::config::{Identifier, Mapping, MultiSpecimen};
use crate::context::Context;
use crate::mapping_lines::Mapped;
use crate::outcome::{Kind, NumberFrom};
use crate::stages::derive::{self, Image};
use crate::stages::verdict::{LedgerEntry, Step, Verdict, unless_stopping};

/// The reason of a file whose name the pattern cannot read; the daemon
/// tries such files again when a mapping file was taken.
pub const NO_NUMBER_IN_NAME: &str = "no catalog number in name";

/// A file whose catalog number is known.
pub struct Identified {
    pub number: String,
    pub from: NumberFrom,
    /// A remark for the report (a barcode that disagreed, say).
    pub note: Option<String>,
    /// The bytes, or the derivatives when reading barcodes made them.
    pub image: Image,
    /// The name the derivatives are made from: the file's own, or, when
    /// the number came from a barcode, `<number>.jpg` (a camera's
    /// IMG_0001.jpg from two sessions must never collide).
    pub stored_name: String,
    /// The mapping line that named the specimen (what its value is, and
    /// the image's own media fields).
    pub mapped: Option<Mapped>,
    /// The other specimens on the same sheet, with `collection.multi_specimen
    /// = "link_all"` (each gets its own row for the same files).
    pub also: Vec<Also>,
}

/// Another specimen a sheet is linked to.
#[derive(Debug, Clone)]
pub struct Also {
    pub number: String,
    pub key: Key,
    pub meta: MediaValues,
}

/// Find the catalog number; `entry` learns it. A mapping line that lists
/// the file decides; else no number in the name (and none to read):
/// skipped, or parked to wait for a line with `mapping = "required"`;
/// barcodes that do not settle one: parked.
pub async fn identify(
    ctx: &Context,
    collection: &Prepared,
    path: &Path,
    source: Source,
    entry: &mut LedgerEntry,
) -> Step<Identified> {
    let cfg = &collection.config;
    let Source { name, bytes, .. } = source;
    let below = crate::mapping_file::path_below(&cfg.drop, path);
    let mapped = ctx
        .ledger
        .mapping_for(&cfg.code, &below)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, format!("the ledger: {e}"), Some(entry)))?;
    let mut lines = mapped.into_iter();
    if let Some(mapped) = lines.next() {
        let others: Vec<Mapped> = lines.collect();
        if !others.is_empty() && cfg.multi_specimen == MultiSpecimen::Park {
            let named: Vec<String> = std::iter::once(&mapped)
                .chain(&others)
                .map(|m| format!("{} {} ({})", m.key.name(), m.value, m.origin))
                .collect();
            return Err(Verdict::new(
                Kind::Parked,
                format!(
                    "several specimens for one image: {}; collection.multi_specimen = \"park\": keep one line, or set \
                     multi_specimen = \"link_all\" to link the image to each",
                    named.join(", ")
                ),
                Some(entry),
            ));
        }
        if !ctx.dry_run
            && let Err(e) = ctx.ledger.mapping_matched(&cfg.code, &mapped.path).await
        {
            tracing::warn!("cannot mark mapping line {} as matched: {e}", mapped.origin);
        }
        let also = others
            .into_iter()
            .map(|m| Also {
                number: m.value,
                key: m.key,
                meta: m.meta,
            })
            .collect();
        entry.number_from = Some(NumberFrom::MappingFile);
        entry.catalog_number = Some(mapped.value.clone());
        return Ok(Identified {
            number: mapped.value.clone(),
            from: NumberFrom::MappingFile,
            note: Some(format!("by {}", mapped.origin)),
            image: Image::Bytes(bytes),
            stored_name: name,
            mapped: Some(mapped),
            also,
        });
    }
    if cfg.mapping == Mapping::Required {
        return Err(Verdict::new(
            Kind::Parked,
            format!(
                "waiting for a mapping line: collection.mapping = \"required\" and no mapping file (NAME.map.csv) lists {below}"
            ),
            Some(entry),
        ));
    }
    let from_name = match cfg.identifier {
        Identifier::Barcode | Identifier::BarcodeThenOcr => None,
        _ => cfg.pattern.catalog_number(&name),
    };
    let mut also = Vec::new();
    let needs_barcode = catalog_number::needs_barcode(cfg.identifier, cfg.barcode.verify, from_name.as_deref());
    let (number, from, note, image) = if needs_barcode {
        if ctx.dry_run {
            let detail = match &from_name {
                Some(n) => format!("would read the sheet's barcode to check catalog number {n}"),
                None => "would read the sheet's barcode for its catalog number".to_string(),
            };
            let mut verdict = Verdict::new(Kind::Skipped, detail, None);
            verdict.fields.catalog_number = from_name;
            return Err(verdict);
        }
        unless_stopping(ctx)?;
        let (set, numbers, from, note) = by_barcode(ctx, collection, &name, bytes, from_name.as_deref(), entry).await?;
        let mut numbers = numbers.into_iter();
        let number = numbers.next().unwrap_or_default();
        also = numbers
            .map(|number| Also {
                number,
                key: Key::CatalogNumber,
                meta: MediaValues::default(),
            })
            .collect();
        (number, from, note, Image::Derived(set))
    } else {
        let Some(number) = from_name else {
            return Err(Verdict::new(Kind::Skipped, NO_NUMBER_IN_NAME, Some(entry)));
        };
        (number, NumberFrom::FileName, None, Image::Bytes(bytes))
    };
    entry.number_from = Some(from);
    entry.catalog_number = Some(number.clone());
    let stored_name = match from {
        NumberFrom::Barcode(_) | NumberFrom::LabelText => format!("{number}.jpg"),
        NumberFrom::FileName | NumberFrom::MappingFile => name,
    };
    Ok(Identified {
        number,
        from,
        note,
        image,
        stored_name,
        mapped: None,
        also,
    })
}

/// Make the derivatives, reading the sheet's barcodes on the way, and
/// decide its catalog number; of several numbers, the one that finds a
/// record is used when it is the only one that does, and with
/// `multi_specimen = "link_all"` every one that finds its own record is
/// (the first read first).
async fn by_barcode(
    ctx: &Context,
    collection: &Prepared,
    name: &str,
    bytes: Vec<u8>,
    from_name: Option<&str>,
    entry: &LedgerEntry,
) -> Step<(derive::Upright, Vec<String>, NumberFrom, Option<String>)> {
    let cfg = &collection.config;
    // Kept for the label text, which is read only if the barcodes give
    // nothing (a copy of the file's bytes, not of its pixels).
    let source = cfg.identifier.reads_text().then(|| bytes.clone());
    let (set, read) = derive::derive_and_read(ctx, bytes, &cfg.barcode)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), Some(entry)))?;
    let park = |reason: String| Verdict::new(Kind::Parked, reason, Some(entry));
    let no_candidate = read
        .iter()
        .all(|f| cfg.barcode.pattern.catalog_number(&f.text).is_none());
    match catalog_number::decide(&cfg.barcode, cfg.match_rules.leading_zeros, from_name, &read) {
        Decision::Use { number, from, note } => Ok((set, vec![number], from, note)),
        Decision::Park(reason) if cfg.identifier.reads_text() && from_name.is_none() && no_candidate => {
            let (set, number, from, note) =
                by_label_text(ctx, collection, name, set, source.unwrap_or_default(), &reason, entry).await?;
            Ok((set, vec![number], from, note))
        }
        Decision::Park(reason) => Err(park(reason)),
        Decision::ByRecord { candidates, note } => {
            let numbers: Vec<&str> = candidates.iter().map(|c| c.number.as_str()).collect();
            let found = with_records(ctx, collection, name, &numbers, entry).await?;
            let with_records: Vec<&Candidate> = found.iter().map(|(i, _)| &candidates[*i]).collect();
            // With link_all: one number per record (two labels of one
            // record, an old and a new number, are one specimen), and none
            // that names several.
            let mut each_record: Option<Vec<(&Candidate, i64)>> = Some(Vec::new());
            for (i, lookup) in &found {
                match lookup {
                    Lookup::Found(o) => {
                        if let Some(each) = each_record.as_mut()
                            && !each.iter().any(|(_, occid)| *occid == o.occid)
                        {
                            each.push((&candidates[*i], o.occid));
                        }
                    }
                    _ => each_record = None,
                }
            }
            let each_record = each_record.filter(|_| cfg.multi_specimen == MultiSpecimen::LinkAll);
            match (&with_records[..], each_record) {
                ([only], _) => Ok((
                    set,
                    vec![only.number.clone()],
                    NumberFrom::Barcode(only.symbology),
                    note,
                )),
                (_, Some(each)) if !each.is_empty() => {
                    let from = NumberFrom::Barcode(each[0].0.symbology);
                    let numbers = each.iter().map(|(c, _)| c.number.clone()).collect();
                    Ok((set, numbers, from, note))
                }
                _ => Err(park(catalog_number::not_one_record(
                    &candidates,
                    with_records.len(),
                    &read,
                ))),
            }
        }
    }
}

/// The numbers of `numbers` that find a record (their indexes, with what
/// the lookup found): a value is used only when exactly one does.
async fn with_records(
    ctx: &Context,
    collection: &Prepared,
    name: &str,
    numbers: &[&str],
    entry: &LedgerEntry,
) -> Step<Vec<(usize, Lookup)>> {
    let cfg = &collection.config;
    let mut found = Vec::new();
    for (i, number) in numbers.iter().enumerate() {
        let find = || ctx.portal.find(cfg.collid, number, cfg.match_rules);
        let lookup = ctx
            .outage
            .retry(name, find)
            .await
            .map_err(|e| Verdict::of_database(ctx, e, entry))?;
        if !matches!(lookup, Lookup::NotFound) {
            found.push((i, lookup));
        }
    }
    Ok(found)
}

/// No name and no barcode gave a number (`identifier = "...-then-ocr"`):
/// `barcode.pattern` is looked for in the label text Tesseract reads from
/// the sheet at full size, and a value is used only when exactly one
/// finds a record; otherwise the file is parked with what was read.
async fn by_label_text(
    ctx: &Context,
    collection: &Prepared,
    name: &str,
    made: derive::Upright,
    source: Vec<u8>,
    barcodes: &str,
    entry: &LedgerEntry,
) -> Step<(derive::Upright, String, NumberFrom, Option<String>)> {
    let park = |reason: String| Verdict::new(Kind::Parked, reason, Some(entry));
    let Some(tesseract) = crate::ocr::installed() else {
        return Err(park(format!(
            "{barcodes}; the label text cannot be read: tesseract is not installed (apt-get install tesseract-ocr)"
        )));
    };
    // The full-size sheet: at the large image's 3200 px the number printed
    // under a barcode was read for none of the four MICH sheets, at full
    // size for two (docs/performance.md, "Numbers in the label text").
    let (width, height) = (made.set.source_width, made.set.source_height);
    let _admitted = ctx
        .memory
        .admit(crate::memory_budget::MemoryBudget::reader_needs_mb(width, height))
        .await;
    let (config, turn) = (ctx.derive.clone(), made.decision.turn());
    let text = tokio::task::spawn_blocking(move || {
        let grey = specdrop_derive::grey(&source, &config, turn).map_err(|e| e.to_string())?;
        tesseract.text_of(&grey)
    })
    .await
    .unwrap_or_else(|e| Err(format!("reading the label text: {e}")))
    .map_err(|e| park(format!("{barcodes}; {e}")))?;
    let numbers = catalog_number::in_text(&collection.config.barcode, &text);
    let read = excerpt(&text);
    if numbers.len() > MAX_TEXT_CANDIDATES {
        return Err(park(format!(
            "{barcodes}; the label text gives {} values that fit barcode.pattern ({}, ...): make the pattern \
             narrower (e.g. with the herbarium's prefix) or put the catalog number in the file name",
            numbers.len(),
            numbers[..3].join(", ")
        )));
    }
    if numbers.is_empty() {
        return Err(park(format!(
            "{barcodes}; barcode.pattern is not in the label text either (read: {read}); put the catalog number in \
             the file name"
        )));
    }
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let found = with_records(ctx, collection, name, &refs, entry).await?;
    match found[..] {
        [(only, _)] => Ok((
            made,
            numbers[only].clone(),
            NumberFrom::LabelText,
            Some(format!("{barcodes}; read in the label text")),
        )),
        _ => Err(park(format!(
            "{barcodes}; the label text gives {}: {} with a record; which one is this sheet's is not guessed: put \
             its catalog number in the file name",
            numbers.join(", "),
            found.len()
        ))),
    }
}

/// More values than this from one label text park the file: the pattern
/// is too loose to tell a catalog number from the label's other numbers,
/// and each value would cost a lookup.
const MAX_TEXT_CANDIDATES: usize = 5;

/// The label text on one line, cut short, for a report line.
fn excerpt(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "nothing".into();
    }
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("\"{}...\"", &line[..cut]),
        None => format!("\"{line}\""),
    }
}
