//! `POST /api/v1/auth/register`: the handler is `auth_register::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(auth_register::handle).await
}
