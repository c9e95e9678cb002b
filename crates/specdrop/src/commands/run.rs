//! `specdrop run`: the daemon, with the metrics endpoint when configured.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use specdrop_engine::metrics::Metrics;

use crate::exit::Failure;

pub async fn run(config_file: &Path) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let metrics = Arc::new(Metrics::default());
    if let Some(listen) = config.metrics_listen {
        let bound = crate::http::serve(listen, metrics.clone())
            .await
            .map_err(|e| Failure::Config(format!("metrics.listen: cannot listen on {listen}: {e}")))?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    Ok(specdrop_engine::daemon::run(config_file, config, metrics).await?)
}
