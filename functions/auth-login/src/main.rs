//! `/api/v1/auth/login`: the handler is `auth_login::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(auth_login::handle).await
}
