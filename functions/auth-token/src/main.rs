//! `/api/v1/auth/token`: the handler is `auth_token::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(auth_token::handle).await
}
