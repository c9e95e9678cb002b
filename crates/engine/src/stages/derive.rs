//! Stage 5, derive: the large, web and thumbnail images, made on the
//! derivative workers (`workers.threads`, each reusing its big pixel
//! buffers); with barcodes read from the decoded pixels on the way when
//! the collection asks (docs/performance.md: what reads, and what it
//! costs).

use specdrop_derive::{Derivatives, DeriveConfig, DeriveError};

use super::verdict::{LedgerEntry, Step, Verdict};
use crate::config::BarcodeRules;
use crate::context::Context;
use crate::outcome::Kind;
use crate::upright::{self, Decision};

/// A source image on its way: still bytes, or already derived (when its
/// pixels were needed to read its barcodes).
pub enum Image {
    Bytes(Vec<u8>),
    Derived(Upright),
}

/// Derivatives, and whether the sheet was turned to make them
/// (`derive.auto_rotate`).
pub struct Upright {
    pub set: Derivatives,
    pub decision: Decision,
}

/// The derivatives of `image`; a file that cannot be decoded or resized
/// fails with the reason.
pub async fn make(ctx: &Context, image: Image, entry: &LedgerEntry) -> Step<Upright> {
    make_with(ctx, image, entry, ctx.derive.clone()).await
}

/// [`make`] with sizes other than the session's (a daemon's part in a
/// rebuild of some sizes only).
pub async fn make_with(ctx: &Context, image: Image, entry: &LedgerEntry, config: DeriveConfig) -> Step<Upright> {
    match image {
        Image::Derived(made) => Ok(made),
        Image::Bytes(bytes) => {
            let needs = needs_mb(ctx, &bytes, None);
            on_worker(ctx, needs, move || {
                let decision = upright::decide(&bytes, &config);
                let set = specdrop_derive::build_turned(&bytes, &config, decision.turn(), None)?;
                Ok(Upright { set, decision })
            })
            .await
            .map_err(|e| Verdict::new(Kind::Failed, e.to_string(), Some(entry)))
        }
    }
}

/// [`make`], reading the sheet's barcodes from the decoded pixels on the
/// way (at full size, or at least `READ_WIDTH` across).
pub async fn derive_and_read(
    ctx: &Context,
    bytes: Vec<u8>,
    rules: &BarcodeRules,
) -> Result<(Upright, Vec<specdrop_barcode::Found>), DeriveError> {
    let config = ctx.derive.clone();
    let (kinds, pattern) = (rules.symbologies.clone(), rules.pattern.clone());
    let needs = needs_mb(ctx, &bytes, Some(specdrop_barcode::READ_WIDTH));
    on_worker(ctx, needs, move || {
        let mut read = Vec::new();
        let decision = upright::decide(&bytes, &config);
        let mut look = |view: specdrop_derive::View<'_>| {
            let pixels = specdrop_barcode::Pixels {
                width: view.width,
                height: view.height,
                channels: view.channels,
                data: view.pixels,
            };
            let wanted = |text: &str| pattern.catalog_number(text).is_some();
            // A reader crash on one sheet costs its barcodes, not its
            // derivatives: the file is parked as carrying none.
            let reading = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                specdrop_barcode::read(pixels, &kinds, &wanted)
            }));
            match reading {
                Ok(Ok(found)) => read = found,
                Ok(Err(e)) => tracing::warn!("{e}"),
                Err(_) => tracing::warn!("the barcode reader crashed on a sheet; it is treated as carrying none"),
            }
        };
        let look = Some((specdrop_barcode::READ_WIDTH, &mut look as specdrop_derive::Look<'_>));
        let set = specdrop_derive::build_turned(&bytes, &config, decision.turn(), look)?;
        Ok((Upright { set, decision }, read))
    })
    .await
}

/// What deriving `bytes` holds, in MB, from the header alone (at the
/// scale it will be decoded at: a reader of the pixels keeps `look_width`
/// across); a file whose header does not read fails in the job with the
/// reason, at the smallest share.
fn needs_mb(ctx: &Context, bytes: &[u8], look_width: Option<u32>) -> u32 {
    let derive = specdrop_derive::decoded_size(bytes, &ctx.derive, look_width)
        .map_or(1, |(w, h)| crate::memory_budget::MemoryBudget::needs_mb(w, h));
    derive.max(upright::needs_mb(bytes, &ctx.derive))
}

/// Run `job` on the derivative workers and wait for it, once the
/// sheet's pixels fit in the memory budget (memory_budget.rs).
async fn on_worker<T: Send + 'static>(
    ctx: &Context,
    needs: u32,
    job: impl FnOnce() -> Result<T, DeriveError> + Send + 'static,
) -> Result<T, DeriveError> {
    if needs > ctx.memory.total_mb() {
        tracing::info!(
            "a {needs} MB sheet is more than workers.memory_mb = {}: it is derived alone",
            ctx.memory.total_mb()
        );
    }
    let _admitted = ctx.memory.admit(needs).await;
    let (reply, result) = tokio::sync::oneshot::channel();
    let submitted = ctx.workers.submit(move || {
        let _ = reply.send(job());
    });
    if !submitted {
        return Err(DeriveError::Resize("the worker pool is shut down".into()));
    }
    // No reply: the job panicked inside a decoder or resizer.
    result
        .await
        .unwrap_or_else(|_| Err(DeriveError::Corrupt("the image crashed the decoder".into())))
}
