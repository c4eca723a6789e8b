//! `cleanup`: the handler is `cleanup::handle` (src/lib.rs).

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::init_process();
    let state = shared::web::runtime::state_or_exit().await;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move { cleanup::handle(state).await },
    ))
    .await
}
