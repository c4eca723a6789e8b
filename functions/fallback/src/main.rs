//! Every path no other function claims: the handler is `fallback::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http_unlimited(fallback::handle).await
}
