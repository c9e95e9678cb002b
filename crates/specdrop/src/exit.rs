//! How a command ends: DESIGN.md's exit codes.

use std::process::ExitCode;

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

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Failure {
        Failure::Config(e.to_string())
    }
}
