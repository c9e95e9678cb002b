//! The pre-3.2 fixture (`sql/*-legacy-images.sql`, an `images` table) is
//! a copy of the `media` one (`sql/schema-mariadb.sql`, `seed-mariadb.sql`)
//! with what older Symbiota portals spell differently. These tests keep the
//! copies from drifting: every difference outside the image table is listed
//! here, and the image table has the same columns under their old names.
//! Change the `media` files and the legacy ones together; a difference that
//! is really in older portals goes into the lists below.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

const SCHEMA: &str = include_str!("../sql/schema-mariadb.sql");
const LEGACY_SCHEMA: &str = include_str!("../sql/schema-mariadb-legacy-images.sql");
const SEED: &str = include_str!("../sql/seed-mariadb.sql");
const LEGACY_SEED: &str = include_str!("../sql/seed-mariadb-legacy-images.sql");

/// Outside the image table: (as in the `media` DDL, as in the legacy DDL).
const SCHEMA_DIFFERENCES: &[(&str, &str)] = &[
    (
        "-- schema-mariadb.sql: minimal MariaDB/MySQL schema of what a Symbiota image-loader daemon reads or
-- writes, for Symbiota 3.4 (master f128c1664, v3.4.14, schema 3.4). Written from scratch; names,
-- types, lengths and defaults match the portal, index/constraint names are our own. Real portals
-- have many more columns and triggers on omoccurrences; this is a test/reference schema only.
",
        "-- schema-mariadb-legacy-images.sql: as schema-mariadb.sql, but for databases older than schema 3.2
-- (Symbiota 3.0/3.1): images live in `images` (imgid, photographer...), no mediaType column.
-- Written from scratch; names/types match the portal, index/constraint names are our own.
",
    ),
    // omoccurrences: renamed in schema 3.3.
    (
        "  recordSecurity           int(10)      null default 0,   -- named localitySecurity before schema 3.3\n",
        "  localitySecurity         int(10)      null default 0,   -- renamed recordSecurity in schema 3.3\n",
    ),
    // omoccuridentifiers: 3.2 renamed and widened columns, added two.
    (
        "-- additional identifiers (\"new\" other-catalog-number system, schema 3.2+ names)\n",
        "-- additional identifiers, schema 3.0/3.1 spelling (3.2 renamed/widened columns)\n",
    ),
    (
        "  identifierValue      varchar(75)  not null,
  identifierName       varchar(45)  not null default '',
  format               varchar(45)  null,
",
        "  identifiervalue      varchar(45)  not null,
  identifiername       varchar(45)  not null default '',
",
    ),
    (
        "  sortBy               int          null,
  recordID             varchar(45)  null,
",
        "  sortBy               int          null,
",
    ),
    (
        "  modifiedTimestamp    datetime     null,
  initialTimestamp     timestamp    not null default current_timestamp,
",
        "  modifiedtimestamp    datetime     null,
  initialtimestamp     timestamp    not null default current_timestamp,
",
    ),
    (
        "  unique key uq_occid_idval_idname (occid, identifierValue, identifierName),
  key ix_idval (identifierValue),
",
        "  unique key uq_occid_idval_idname (occid, identifiervalue, identifiername),
  key ix_idval (identifiervalue),
",
    ),
    // The image table's own comment (the table itself is compared below).
    (
        "-- media (was `images` before schema 3.2)\n",
        "-- images (renamed to `media` in schema 3.2)\n",
    ),
    // specprocessorrawlabels: refers to the image table by its old names.
    (
        "-- OCR text attached to an image; Symbiota deletes these rows before replacing a media row\n",
        "-- OCR text attached to an image; no ON DELETE CASCADE here before 3.2, so delete these first\n",
    ),
    (
        "  mediaID          int unsigned null,\n",
        "  imgid            int unsigned null,\n",
    ),
    (
        "  rawStr           text         not null,\n",
        "  rawstr           text         not null,\n",
    ),
    (
        "  key ix_rawlabels_media (mediaID),
  constraint fk_rawlabels_media foreign key (mediaID) references media (mediaID)
    on delete cascade on update cascade,
",
        "  key ix_rawlabels_img (imgid),
  constraint fk_rawlabels_img foreign key (imgid) references images (imgid)
    on update cascade,
",
    ),
];

/// The seed: (as in the `media` seed, as in the legacy seed).
const SEED_DIFFERENCES: &[(&str, &str)] = &[
    (
        "-- seed-mariadb.sql : test fixture for schema-mariadb.sql (Symbiota 3.2+ `media` table).
-- Portable SQL (also loads into SQLite with schema-sqlite.sql). Synthetic data.
-- For schema-mariadb-legacy-images.sql use seed-mariadb-legacy-images.sql.
",
        "-- seed-mariadb-legacy-images.sql : same fixture as seed-mariadb.sql, for
-- schema-mariadb-legacy-images.sql (pre-3.2 portals: `images` table, no mediaType).
",
    ),
    (
        "INSERT INTO omoccuridentifiers (idomoccuridentifiers, occid, identifierValue, identifierName, modifiedUid, modifiedTimestamp)\n",
        "INSERT INTO omoccuridentifiers (idomoccuridentifiers, occid, identifiervalue, identifiername, modifiedUid, modifiedtimestamp)\n",
    ),
    (
        "INSERT INTO media (mediaID, occid, url, thumbnailUrl, originalUrl, imageType, mediaType, format, owner,\n",
        "INSERT INTO images (imgid, occid, url, thumbnailUrl, originalUrl, imageType, format, owner,\n",
    ),
    (
        "  'specimen', 'image', 'image/jpeg', 'Arizona State University Lichen Herbarium',\n",
        "  'specimen', 'image/jpeg', 'Arizona State University Lichen Herbarium',\n",
    ),
];

/// `media` columns under their pre-3.2 names; `None`: not in `images`.
const RENAMED_COLUMNS: &[(&str, Option<&str>)] = &[
    ("mediaID", Some("imgid")),
    ("creator", Some("photographer")),
    ("creatorUid", Some("photographerUid")),
    ("mediaType", None),
];

/// `text` with each listed difference made (each must occur exactly once).
fn with_differences(text: &str, differences: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in differences {
        assert_eq!(
            out.matches(from).count(),
            1,
            "this listed difference must occur once in the media file:\n{from}"
        );
        out = out.replacen(from, to, 1);
    }
    out
}

/// `text` without the `create table NAME (...) ...;` statement, and that
/// statement.
fn cut_table<'a>(text: &'a str, name: &str) -> (String, &'a str) {
    let start = text
        .find(&format!("create table {name} ("))
        .unwrap_or_else(|| panic!("no create table {name}"));
    let len = text[start..]
        .find(";\n")
        .unwrap_or_else(|| panic!("create table {name} has no end"))
        + 2;
    let rest = format!("{}<table {name}>\n{}", &text[..start], &text[start + len..]);
    (rest, &text[start..start + len])
}

/// First difference between two texts, as a line number and both lines.
fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    (0..a.len().max(b.len())).find_map(|i| {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        (x != y).then(|| {
            (
                i + 1,
                x.unwrap_or("<end>").to_string(),
                y.unwrap_or("<end>").to_string(),
            )
        })
    })
}

#[test]
fn the_legacy_schema_differs_only_where_older_portals_do() {
    let (media_rest, _) = cut_table(SCHEMA, "media");
    let (legacy_rest, _) = cut_table(LEGACY_SCHEMA, "images");
    let expected = with_differences(&media_rest, SCHEMA_DIFFERENCES).replace("<table media>", "<table images>");
    if let Some((line, want, got)) = first_difference(&expected, &legacy_rest) {
        panic!(
            "schema-mariadb-legacy-images.sql has drifted from schema-mariadb.sql at line {line} \
             (image table cut out):\n  expected: {want}\n  found:    {got}\n\
             Make the change in both files, or list the difference in SCHEMA_DIFFERENCES."
        );
    }
}

/// Column name -> declaration (type, null, default; comment dropped).
fn columns(table: &str) -> BTreeMap<String, String> {
    table
        .lines()
        .skip(1)
        .map(|line| line.split("--").next().unwrap_or("").trim().trim_end_matches(','))
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with(')')
                && !["primary ", "key ", "unique ", "constraint ", "on "]
                    .iter()
                    .any(|k| line.starts_with(k))
        })
        .map(|line| {
            let (name, declaration) = line.split_once(' ').unwrap_or((line, ""));
            let declaration = declaration.split_whitespace().collect::<Vec<_>>().join(" ");
            (name.to_string(), declaration)
        })
        .collect()
}

#[test]
fn the_images_table_has_the_media_columns_under_their_old_names() {
    let (_, media) = cut_table(SCHEMA, "media");
    let (_, images) = cut_table(LEGACY_SCHEMA, "images");
    let expected: BTreeMap<String, String> = columns(media)
        .into_iter()
        .filter_map(
            |(name, declaration)| match RENAMED_COLUMNS.iter().find(|(new, _)| *new == name) {
                Some((_, old)) => old.map(|old| (old.to_string(), declaration)),
                None => Some((name, declaration)),
            },
        )
        .collect();
    assert!(expected.len() > 30, "the media table was not parsed: {expected:?}");
    let found = columns(images);
    let differing: Vec<_> = expected
        .keys()
        .chain(found.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|name| expected.get(*name) != found.get(*name))
        .map(|name| {
            format!(
                "{name}: media says {:?}, images {:?}",
                expected.get(name),
                found.get(name)
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "images and media (under the old names) differ:\n{}",
        differing.join("\n")
    );
    // Every index and constraint of `images` is in `media` under its new name.
    for line in images.lines().map(|l| l.trim().trim_end_matches(',')) {
        if ["primary ", "key ", "unique ", "constraint "]
            .iter()
            .any(|k| line.starts_with(k))
        {
            let renamed = line.replace("images", "media").replace("imgid", "mediaID");
            assert!(
                media.lines().any(|l| l.trim().trim_end_matches(',') == renamed),
                "`{line}` of images has no `{renamed}` in media"
            );
        }
    }
    // The same table options, and the foreign key to the occurrence.
    for part in [
        ") engine=InnoDB default charset=utf8mb4;\n",
        "foreign key (occid) references omoccurrences (occid)\n    on delete restrict on update cascade\n",
    ] {
        assert!(media.contains(part) && images.contains(part), "{part}");
    }
}

#[test]
fn the_legacy_seed_is_the_media_seed_under_the_old_names() {
    let expected = with_differences(SEED, SEED_DIFFERENCES);
    if let Some((line, want, got)) = first_difference(&expected, LEGACY_SEED) {
        panic!(
            "seed-mariadb-legacy-images.sql has drifted from seed-mariadb.sql at line {line}:\n  \
             expected: {want}\n  found:    {got}\n\
             Make the change in both files, or list the difference in SEED_DIFFERENCES."
        );
    }
}
