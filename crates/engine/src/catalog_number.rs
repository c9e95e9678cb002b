//! Which catalog number a file is for, from its name, its sheet's
//! barcodes, or both (`collection.identifier`, `collection.barcode`).
//! Never a guess: several candidates are settled by which of them has a
//! record, and anything still open parks the file with every value read.

use specdrop_barcode::{Found, Symbology};

use crate::config::{BarcodeRules, Conflict, Identifier};
use crate::outcome::NumberFrom;

/// Whether the sheet's barcodes must be read, given the number the file
/// name gave (if any).
pub fn needs_barcode(identifier: Identifier, verify: bool, from_name: Option<&str>) -> bool {
    match identifier {
        Identifier::Filename => verify && from_name.is_some(),
        Identifier::Barcode | Identifier::BarcodeThenOcr => true,
        Identifier::FilenameThenBarcode | Identifier::FilenameThenBarcodeThenOcr => from_name.is_none() || verify,
    }
}

/// Every value `barcode.pattern` takes from the label text, in the order
/// read, each once: each word (cut at blanks, with the punctuation around
/// it trimmed), each pair of neighbouring words (a number printed as
/// `MICH 1390992` for a pattern that expects the two), and each line.
pub fn in_text(rules: &BarcodeRules, text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |piece: &str| {
        if let Some(number) = rules.pattern.catalog_number(piece)
            && !found.contains(&number)
        {
            found.push(number);
        }
    };
    for line in text.lines() {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, word) in words.iter().enumerate() {
            add(word);
            if let Some(next) = words.get(i + 1) {
                add(&format!("{word} {next}"));
            }
        }
        add(line.trim());
    }
    found
}

/// A barcode value that passed `barcode.pattern`, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub number: String,
    pub symbology: Symbology,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// This number; `note` goes into the report (a confirmation, or a
    /// conflict that `barcode.conflict` settled).
    Use {
        number: String,
        from: NumberFrom,
        note: Option<String>,
    },
    /// Several barcode numbers: the one with a record wins, if exactly one
    /// has. `note` as for `Use`.
    ByRecord {
        candidates: Vec<Candidate>,
        note: Option<String>,
    },
    /// Park with this reason.
    Park(String),
}

/// Decide from the file name's number and the values read from the sheet;
/// with `leading_zeros` (`match.leading_zeros`), `0045678` and `45678`
/// are the same number, as the lookup treats them.
pub fn decide(rules: &BarcodeRules, leading_zeros: bool, from_name: Option<&str>, read: &[Found]) -> Decision {
    let mut candidates: Vec<Candidate> = Vec::new();
    for found in read {
        if let Some(number) = rules.pattern.catalog_number(&found.text)
            && !candidates.iter().any(|c| c.number == number)
        {
            candidates.push(Candidate {
                number,
                symbology: found.symbology,
            });
        }
    }
    let Some(name_number) = from_name else {
        return from_barcodes(rules, candidates, read, None);
    };
    // Verifying: the file name gave a number, the barcodes are a check.
    if candidates.is_empty() {
        let note = if read.is_empty() {
            "barcode not read, the file name's number is used".to_string()
        } else {
            format!(
                "barcode {} does not match barcode.pattern, the file name's number is used",
                values(read)
            )
        };
        return Decision::Use {
            number: name_number.to_string(),
            from: NumberFrom::FileName,
            note: Some(note),
        };
    }
    let same_number = |number: &str| {
        number == name_number
            || (leading_zeros
                && specdrop_mapper::lookup::zero_variants(name_number)
                    .iter()
                    .any(|v| v == number))
    };
    if let Some(same) = candidates.iter().find(|c| same_number(&c.number)) {
        return Decision::Use {
            number: name_number.to_string(),
            from: NumberFrom::FileName,
            note: Some(format!("confirmed by its {} barcode", same.symbology)),
        };
    }
    let disagreement = format!(
        "the file name gives {name_number} but the barcode {}",
        candidates
            .iter()
            .map(|c| c.number.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    match rules.conflict {
        Conflict::Park => Decision::Park(format!(
            "{disagreement}; barcode.conflict = \"park\": rename the file, or set barcode.conflict to \"filename\" \
             or \"barcode\""
        )),
        Conflict::Filename => Decision::Use {
            number: name_number.to_string(),
            from: NumberFrom::FileName,
            note: Some(format!(
                "{disagreement}; the file name wins (barcode.conflict = \"filename\")"
            )),
        },
        Conflict::Barcode => from_barcodes(
            rules,
            candidates,
            read,
            Some(format!(
                "{disagreement}; the barcode wins (barcode.conflict = \"barcode\")"
            )),
        ),
    }
}

fn from_barcodes(
    rules: &BarcodeRules,
    mut candidates: Vec<Candidate>,
    read: &[Found],
    note: Option<String>,
) -> Decision {
    match candidates.len() {
        0 if read.is_empty() => Decision::Park(format!(
            "no barcode read ({} looked for): the sheet may carry none, or be too small or blurred to read \
             (labels read on full 3750 px wide sheets, not on 1400-2000 px wide copies); put the catalog number \
             in the file name",
            rules
                .symbologies
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        0 => Decision::Park(format!(
            "barcode {} does not match barcode.pattern; check the pattern, or put the catalog number in the file name",
            values(read)
        )),
        1 => {
            let only = candidates.remove(0);
            Decision::Use {
                number: only.number,
                from: NumberFrom::Barcode(only.symbology),
                note,
            }
        }
        _ => Decision::ByRecord { candidates, note },
    }
}

/// Every value read, as a reason shows it: `1390992 (Code 39), X (QR)`.
pub fn values(read: &[Found]) -> String {
    read.iter()
        .map(|f| format!("{} ({})", crate::outcome::printable(&f.text), f.symbology))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The park reason when several barcodes gave numbers and not exactly one
/// of them finds a record (`records` of them do): every value read is
/// named. Two numbers of one specimen (an old and a new label) count as
/// two: which label is current is not guessed.
pub fn not_one_record(candidates: &[Candidate], records: usize, read: &[Found]) -> String {
    let numbers = candidates
        .iter()
        .map(|c| c.number.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let matched = match records {
        0 => "no record matches".to_string(),
        1 => "1 record matches".to_string(),
        n => format!("{n} records match"),
    };
    // Values the pattern turned into these numbers, or did not take, are
    // named too: the team sees everything the sheet gave.
    let also = if read.iter().all(|f| candidates.iter().any(|c| c.number == f.text)) {
        String::new()
    } else {
        format!(" (values read: {})", values(read))
    };
    let several = if records > 1 {
        "; a sheet of several specimens is linked to each with collection.multi_specimen = \"link_all\""
    } else {
        ""
    };
    format!(
        "barcodes {numbers}: {matched}{also}; which one is this sheet's is not guessed: put its catalog number in \
         the file name{several}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use specdrop_mapper::CatalogPattern;

    fn rules(pattern: &str, conflict: Conflict) -> BarcodeRules {
        BarcodeRules {
            symbologies: Symbology::ALL.to_vec(),
            pattern: CatalogPattern::new(pattern, None).expect("test setup"),
            verify: true,
            conflict,
        }
    }

    fn code39(text: &str) -> Found {
        Found {
            text: text.to_string(),
            symbology: Symbology::Code39,
        }
    }

    #[test]
    fn the_pattern_finds_numbers_in_label_text_word_by_word_pair_and_line() {
        let digits = rules("^(\\d{7})$", Conflict::Park);
        let text = "PLANTS OF ILLINOIS, USA\nHerbarium (1390992).\nCollected 1998 by A. B. Smith\n1390992\n";
        assert_eq!(in_text(&digits, text), vec!["1390992".to_string()], "each value once");
        let spaced = rules("^MICH (\\d+)$", Conflict::Park);
        assert_eq!(
            in_text(&spaced, "UNIVERSITY OF MICHIGAN\nMICH 1449838 Carex"),
            vec!["1449838".to_string()]
        );
        assert!(in_text(&digits, "no number here\n12345").is_empty());
    }

    #[test]
    fn when_the_barcode_is_read_at_all() {
        use Identifier::*;
        assert!(!needs_barcode(Filename, false, Some("1")));
        assert!(!needs_barcode(Filename, false, None));
        assert!(needs_barcode(Filename, true, Some("1")));
        assert!(needs_barcode(Barcode, false, Some("1")));
        assert!(!needs_barcode(FilenameThenBarcode, false, Some("1")));
        assert!(needs_barcode(FilenameThenBarcode, false, None));
        assert!(needs_barcode(FilenameThenBarcode, true, Some("1")));
        assert!(needs_barcode(BarcodeThenOcr, false, Some("1")));
        assert!(!needs_barcode(FilenameThenBarcodeThenOcr, false, Some("1")));
        assert!(needs_barcode(FilenameThenBarcodeThenOcr, false, None));
    }

    #[test]
    fn one_matching_barcode_gives_the_number_and_others_are_ignored() {
        let r = rules(r"^(\d{7})$", Conflict::Park);
        let read = [code39("ACC-99"), code39("1122841")];
        assert_eq!(
            decide(&r, true, None, &read),
            Decision::Use {
                number: "1122841".into(),
                from: NumberFrom::Barcode(Symbology::Code39),
                note: None
            }
        );
    }

    #[test]
    fn nothing_read_or_nothing_matching_parks_and_says_what_was_read() {
        let r = rules(r"^(\d{7})$", Conflict::Park);
        let Decision::Park(reason) = decide(&r, true, None, &[]) else {
            panic!("not parked")
        };
        assert!(
            reason.starts_with("no barcode read (Code 39, Code 128, QR, DataMatrix looked for)"),
            "{reason}"
        );
        let Decision::Park(reason) = decide(&r, true, None, &[code39("ACC-99")]) else {
            panic!("not parked")
        };
        assert!(
            reason.contains("ACC-99 (Code 39) does not match barcode.pattern"),
            "{reason}"
        );
    }

    #[test]
    fn several_numbers_go_to_the_records_and_the_same_value_twice_is_one() {
        let r = rules(r"^(\d{7})$", Conflict::Park);
        let read = [code39("1387491"), code39("1560612"), code39("1387491")];
        let Decision::ByRecord { candidates, .. } = decide(&r, true, None, &read) else {
            panic!("not by record")
        };
        assert_eq!(candidates.len(), 2);
        assert_eq!(
            not_one_record(&candidates, 2, &read),
            "barcodes 1387491, 1560612: 2 records match; which one is this sheet's is not guessed: put its catalog \
             number in the file name; a sheet of several specimens is linked to each with \
             collection.multi_specimen = \"link_all\""
        );
        let with_other = [code39("1387491"), code39("1560612"), code39("ACC-99")];
        assert!(
            not_one_record(&candidates, 0, &with_other)
                .contains("no record matches (values read: 1387491 (Code 39), 1560612 (Code 39), ACC-99 (Code 39))"),
            "every value read is named"
        );
    }

    #[test]
    fn verifying_confirms_parks_or_follows_the_conflict_rule() {
        let read = [code39("1122841")];
        let agree = decide(&rules(r"^(\d{7})$", Conflict::Park), true, Some("1122841"), &read);
        assert!(
            matches!(&agree, Decision::Use { from: NumberFrom::FileName, note: Some(n), .. } if n.contains("confirmed")),
            "{agree:?}"
        );
        let Decision::Park(reason) = decide(&rules(r"^(\d{7})$", Conflict::Park), true, Some("1390992"), &read) else {
            panic!("not parked")
        };
        assert!(
            reason.starts_with("the file name gives 1390992 but the barcode 1122841; barcode.conflict = \"park\""),
            "{reason}"
        );
        let name_wins = decide(&rules(r"^(\d{7})$", Conflict::Filename), true, Some("1390992"), &read);
        assert!(
            matches!(&name_wins, Decision::Use { number, .. } if number == "1390992"),
            "{name_wins:?}"
        );
        let barcode_wins = decide(&rules(r"^(\d{7})$", Conflict::Barcode), true, Some("1390992"), &read);
        assert!(
            matches!(&barcode_wins, Decision::Use { number, from: NumberFrom::Barcode(_), note: Some(_) } if number == "1122841"),
            "{barcode_wins:?}"
        );
        // Nothing read: the file name's number stands.
        let unread = decide(&rules(r"^(\d{7})$", Conflict::Park), true, Some("1390992"), &[]);
        assert!(
            matches!(&unread, Decision::Use { number, .. } if number == "1390992"),
            "{unread:?}"
        );
    }

    #[test]
    fn the_replacement_normalises_before_comparing() {
        let r = BarcodeRules {
            pattern: CatalogPattern::new(r"^(\d+)$", Some(("^", "MICH-V-"))).expect("test setup"),
            ..rules(r"^(\d+)$", Conflict::Park)
        };
        let agree = decide(&r, true, Some("MICH-V-0045678"), &[code39("0045678")]);
        assert!(
            matches!(&agree, Decision::Use { note: Some(n), .. } if n.contains("confirmed")),
            "{agree:?}"
        );
    }

    #[test]
    fn a_leading_zero_is_no_conflict_when_the_lookup_ignores_it() {
        let r = rules(r"^(\d+)$", Conflict::Park);
        let read = [code39("0045678")];
        let agree = decide(&r, true, Some("45678"), &read);
        assert!(
            matches!(&agree, Decision::Use { note: Some(n), .. } if n.contains("confirmed")),
            "{agree:?}"
        );
        let strict = decide(&r, false, Some("45678"), &read);
        assert!(matches!(strict, Decision::Park(_)), "{strict:?}");
    }
}
