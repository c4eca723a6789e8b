//! The scheduled `cleanup` function: deletes revoked-token records whose tokens have
//! expired anyway, and delivered e-mails past the retention period. Idempotent.

use lambda_runtime::Error;
use shared::AppState;
use shared::app::cleanup::Removed;

/// One invocation (the event carries nothing this function reads): what was removed.
pub async fn handle(state: &AppState) -> Result<Removed, Error> {
    let removed = shared::app::cleanup::run(state, shared::domain::now()).await?;
    tracing::info!(?removed, "cleanup done");
    Ok(removed)
}
