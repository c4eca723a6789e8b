//! `/bench/floor`: a function that does nothing and answers 200 `{"ok":true}` to every
//! request. `make bench` compares the other functions' figures to it: what is left over is
//! the function's own work, the rest is the runtime and the emulator.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

/// One invocation: no state, no configuration, no database.
pub async fn handle(_req: Request) -> Response<Body> {
    let mut response = Response::new(Body::from(r#"{"ok":true}"#));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
