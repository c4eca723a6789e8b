//! `/api/v1/form`: the handler is `form::handle` (src/lib.rs).

use lambda_http::Error;

// One worker thread per core, unlike the other functions: a list is CPU work (rows decoded,
// JSON written), and when the runtime serves several at once (`--concurrency`) one thread
// would cap the function at one core (100-form list at 16 connections: ~1,600 req/s on one
// thread, ~2,100 on two, at ~4.5 MiB more RSS).
#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(form::handle).await
}
