//! `/bench/floor`: the handler is `floor::handle` (src/lib.rs).

use lambda_http::{Error, Request, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|req: Request| async {
        Ok::<_, Error>(floor::handle(req).await)
    }))
    .await
}
