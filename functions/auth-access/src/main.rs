//! `PATCH /api/v1/auth/access`: the handler is `auth_access::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(auth_access::handle).await
}
