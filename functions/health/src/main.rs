//! `GET /health`: the handler is `health::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let _ = health::hostname(); // read once, at cold start
    shared::web::runtime::run_http_unlimited(health::handle).await
}
