//! The barcode kinds herbarium sheets carry, by the names a config uses.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbology {
    Code39,
    Code128,
    Qr,
    DataMatrix,
}

impl Symbology {
    pub const ALL: [Symbology; 4] = [
        Symbology::Code39,
        Symbology::Code128,
        Symbology::Qr,
        Symbology::DataMatrix,
    ];

    /// `code39`, `Code 39`, `code_39`, `CODE-39`... (case, spaces, `_` and
    /// `-` do not matter); `None` for a name not known here.
    pub fn from_name(name: &str) -> Option<Symbology> {
        let key: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "code39" => Some(Symbology::Code39),
            "code128" => Some(Symbology::Code128),
            "qr" | "qrcode" => Some(Symbology::Qr),
            "datamatrix" => Some(Symbology::DataMatrix),
            _ => None,
        }
    }

    /// One-dimensional (bars), as opposed to a 2-D matrix.
    pub fn is_linear(self) -> bool {
        matches!(self, Symbology::Code39 | Symbology::Code128)
    }

    /// The name as reports and the journal show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Symbology::Code39 => "Code 39",
            Symbology::Code128 => "Code 128",
            Symbology::Qr => "QR",
            Symbology::DataMatrix => "DataMatrix",
        }
    }
}

impl fmt::Display for Symbology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_loosely_and_shown_plainly() {
        for (name, want) in [
            ("code39", Symbology::Code39),
            ("Code 39", Symbology::Code39),
            ("CODE_128", Symbology::Code128),
            ("qr", Symbology::Qr),
            ("QR-Code", Symbology::Qr),
            ("Data Matrix", Symbology::DataMatrix),
        ] {
            assert_eq!(Symbology::from_name(name), Some(want), "{name}");
            assert_eq!(Symbology::from_name(want.as_str()), Some(want));
        }
        assert_eq!(Symbology::from_name("ean13"), None);
    }
}
