//! The scheduled `cleanup` function: deletes revoked-token records whose tokens have
//! expired anyway, and delivered e-mails past the retention period. Idempotent.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::init_process();
    let state = shared::runtime::state_or_exit().await;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let removed = shared::cleanup::run(state, shared::db::now()).await?;
            tracing::info!(?removed, "cleanup done");
            Ok::<_, Error>(removed)
        },
    ))
    .await
}
