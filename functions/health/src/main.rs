//! `GET /health`: is the database up, and has every e-mail gone out?

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use shared::http::{ApiError, json_response};
use shared::{AppState, health};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let hostname = hostname();
    shared::runtime::run_http_unlimited(move |state, req| {
        let hostname = hostname.clone();
        async move { handle(state, req, &hostname).await }
    })
    .await
}

async fn handle(state: &AppState, req: Request, hostname: &str) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    let report = health::check(state, hostname).await;
    let status = if report.passed {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json_response(status, &report.body)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
