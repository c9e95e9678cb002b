//! Stage 3, identify: the file's catalog number, from its name or the
//! sheet's barcodes as the collection's `identifier` says
//! (catalog_number.rs decides; this stage reads what it needs). Reading
//! barcodes needs the full-size pixels, so the derivatives are made here
//! on the way.

use std::path::Path;

use specdrop_derive::Derivatives;
use specdrop_mapper::{Key, Lookup, MediaValues};

use super::derive::{self, Image};
use super::source::Source;
use super::verdict::{LedgerEntry, Step, Verdict, unless_stopping};
use crate::catalog_number::{self, Candidate, Decision};
use crate::collection::Prepared;
use crate::config::{Identifier, Mapping, MultiSpecimen};
use crate::context::Context;
use crate::mapping_lines::Mapped;
use crate::outcome::{Kind, NumberFrom};

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
        Identifier::Barcode => None,
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
        NumberFrom::Barcode(_) => format!("{number}.jpg"),
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
) -> Step<(Derivatives, Vec<String>, NumberFrom, Option<String>)> {
    let cfg = &collection.config;
    let (set, read) = derive::derive_and_read(ctx, bytes, &cfg.barcode)
        .await
        .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), Some(entry)))?;
    let park = |reason: String| Verdict::new(Kind::Parked, reason, Some(entry));
    match catalog_number::decide(&cfg.barcode, cfg.match_rules.leading_zeros, from_name, &read) {
        Decision::Use { number, from, note } => Ok((set, vec![number], from, note)),
        Decision::Park(reason) => Err(park(reason)),
        Decision::ByRecord { candidates, note } => {
            let mut with_records = Vec::new();
            // With link_all: one number per record (two labels of one
            // record, an old and a new number, are one specimen), and none
            // that names several.
            let mut each_record: Option<Vec<(&Candidate, i64)>> = Some(Vec::new());
            for candidate in &candidates {
                let find = || ctx.portal.find(cfg.collid, &candidate.number, cfg.match_rules);
                let lookup = ctx
                    .outage
                    .retry(name, find)
                    .await
                    .map_err(|e| Verdict::of_database(ctx, e, entry))?;
                match lookup {
                    Lookup::NotFound => continue,
                    Lookup::Found(o) => {
                        if let Some(each) = each_record.as_mut()
                            && !each.iter().any(|(_, occid)| *occid == o.occid)
                        {
                            each.push((candidate, o.occid));
                        }
                    }
                    Lookup::Ambiguous(_) => each_record = None,
                }
                with_records.push(candidate);
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
