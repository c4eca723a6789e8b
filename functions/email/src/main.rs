//! The `email` function: drains the outbox (see `drain` for what one invocation does and
//! the delivery guarantees). Event: `{}`, `{"retry_dead": [ids]}` or `{"dismiss_dead": [ids]}`.

mod batch;
mod drain;
mod ses_http;
mod settle;
mod transport;

use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::transport::Transport;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::init_process();
    let state = shared::web::runtime::state_or_exit().await;
    let transport: &'static Transport = match Transport::from_config(&state.config).await {
        Ok(t) => Box::leak(Box::new(t)),
        Err(message) => shared::web::runtime::exit_with(message),
    };
    let worker: &'static str = Box::leak(shared::domain::jwt::random_id().into_boxed_str());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let event: drain::Event = serde_json::from_value(event.payload).unwrap_or_default();
            drain::handle(state, transport, worker, event).await
        },
    ))
    .await
}
