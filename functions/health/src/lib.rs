//! `GET /health`: is the database up, and has every e-mail gone out?

use std::sync::OnceLock;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::app::health;
use shared::web::http::{ApiError, json_response};

/// One invocation: the whole answer to one request (no rate limit: monitors poll it,
/// `shared::web::runtime::run_http_unlimited`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let report = health::check(state, hostname()).await;
    let status = if report.passed {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json_response(status, &report.body)
}

/// The machine's host name, read once per process (`main` reads it at cold start).
pub fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into())
    })
}
