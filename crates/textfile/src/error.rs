/// Why a text file cannot be read. The messages are shown to the imaging
/// team as they are (in result files and reports), so they say what to do
/// where the team can do something.
#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error("the file is saved as UTF-16; save it as \"CSV UTF-8\" (or plain CSV) instead")]
    Utf16,

    /// A byte Windows-1252 leaves undefined, in a file that is not UTF-8.
    #[error("the file is neither UTF-8 nor Windows-1252 (byte {byte:#04x}); save it as \"CSV UTF-8\"")]
    NotText { byte: u8 },

    // Not `#[source]`: the message already carries the cause.
    #[error("cannot read the header line: {cause}")]
    Header { cause: csv::Error },

    #[error("cannot read the file: {cause}")]
    Records { cause: csv::Error },
}
