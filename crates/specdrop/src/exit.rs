//! How a command ends: exit 0 all good, 1 some files or rows failed or had
//! to wait (each named with its reason) or the run could not go on, 2 the
//! config or the command line is wrong (docs/admin.md, "Exit status").

use std::process::ExitCode;

use specdrop_engine::Error;
use specdrop_engine::outcome::Summary;

/// Why a command could not do its job at all.
#[derive(Debug)]
pub enum Failure {
    /// The config or the command line is wrong (exit 2).
    Config(String),
    /// Something else stopped the run (exit 1).
    Run(anyhow::Error),
}

impl Failure {
    pub fn report(&self) -> ExitCode {
        match self {
            Failure::Config(message) => {
                eprintln!("specdrop: {}", message.trim_end());
                ExitCode::from(2)
            }
            Failure::Run(error) => {
                eprintln!("specdrop: {error:#}");
                ExitCode::from(1)
            }
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        if e.is_config() {
            Failure::Config(e.to_string())
        } else {
            Failure::Run(e.into())
        }
    }
}

impl From<specdrop_engine::config::ConfigError> for Failure {
    fn from(e: specdrop_engine::config::ConfigError) -> Failure {
        Failure::Config(e.to_string())
    }
}

/// Print the summary; exit 1 when any file failed or had to wait for the
/// database.
pub fn finish(summary: &Summary) -> ExitCode {
    println!("{}", summary.closing_lines());
    if summary.has_trouble() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
