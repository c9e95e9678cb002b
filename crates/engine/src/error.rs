//! Why a command could not do its job at all (a file's own trouble is its
//! outcome, never an error here). The binary turns [`Error::Config`] into
//! exit 2 and the rest into exit 1 (docs/admin.md, "Exit status").

use crate::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config or the command line is wrong; the message names the key
    /// or the option and says what to change.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Portal(#[from] specdrop_mapper::MapperError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Anything else that stopped the run, as a sentence for the user.
    #[error("{0}")]
    Run(String),
}

impl Error {
    /// Exit 2 rather than 1.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_))
    }
}

impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Error {
        Error::Config(e.to_string())
    }
}
