//! The scheduled `cleanup` function: deletes revoked-token records whose tokens have
//! expired anyway, and delivered e-mails past the retention period. Idempotent.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::runtime::init_process();
    let state: &'static AppState = match shared::runtime::prepare().await {
        Ok(state) => Box::leak(Box::new(state)),
        Err(message) => shared::runtime::exit_with(message),
    };
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let removed = shared::cleanup::run(state, shared::db::now()).await?;
            tracing::info!(?removed, "cleanup done");
            Ok::<_, Error>(removed)
        },
    ))
    .await
}
