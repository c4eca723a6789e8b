//! `/api/v1/auth/login`: the handler is `auth_login::handle` (src/lib.rs).

use lambda_http::Error;
use shared::domain::passwords;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    passwords::warm_up();
    shared::web::runtime::run_http(auth_login::handle).await
}
