//! `/bench/floor`: a function that does nothing and answers 200 `{"ok":true}` to every
//! request. `make bench` compares the other functions' figures to it: what is left over is
//! the function's own work, the rest is the runtime and the emulator.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(handle)).await
}

async fn handle(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"ok":true}"#))?)
}
