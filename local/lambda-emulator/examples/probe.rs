//! A test function for the emulator's tests. It behaves by its name
//! (`AWS_LAMBDA_FUNCTION_NAME`) and by the request's query:
//!
//! - `raw`: a plain `lambda_runtime` handler that answers the raw event it received as the
//!   JSON body of a 200, or, with `?mode=`, a hand-made answer: `plain` (JSON without
//!   `statusCode`), `string`, `malformed`, `oversize` (7 MB), `cookies`, `binary`;
//! - `email`, `cleanup`, `recorder`: append `<name> <event>` to the file `$PROBE_RECORD`
//!   and answer `{"ok":true,"event":...}`; an event `{"fail":true}` is a function error,
//!   `{"sleep_ms":N}` sleeps first;
//! - any other name (`lambda_http`, `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once, as
//!   the functions run): `?crash` exits mid-invocation, `?panic` panics,
//!   `?error` returns an error, `?sleep_ms=N` sleeps first, `?bytes=N&seed=S` answers N
//!   bytes of `pattern(N, S)`, `?echo` answers the request body as received; otherwise a
//!   JSON description of the request as lambda_http saw it.

#[path = "../tests/common/pattern.rs"]
mod pattern;

use std::io::Write;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

type Error = lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    eprintln!("probe {name} starting, pid {}", std::process::id());
    match name.as_str() {
        "raw" => lambda_runtime::run(lambda_runtime::service_fn(raw)).await,
        "email" | "cleanup" | "recorder" => {
            lambda_runtime::run(lambda_runtime::service_fn(record)).await
        }
        _ => lambda_http::run_concurrent(service_fn(http)).await,
    }
}

fn query(event: &Value, key: &str) -> Option<String> {
    event["queryStringParameters"][key]
        .as_str()
        .map(str::to_string)
}

async fn raw(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let event = event.payload;
    Ok(match query(&event, "mode").as_deref() {
        Some("plain") => json!({ "hello": "world" }),
        Some("string") => json!("just text"),
        Some("malformed") => json!({ "statusCode": "abc" }),
        Some("oversize") => json!({ "statusCode": 200, "body": "x".repeat(7_000_000) }),
        Some("cookies") => json!({
            "statusCode": 201,
            "headers": { "content-type": "text/plain", "x-one": "1" },
            "multiValueHeaders": { "x-many": ["a", "b"] },
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "cookies",
        }),
        Some("binary") => json!({
            "statusCode": 200,
            "headers": { "content-type": "application/octet-stream" },
            "body": "/wCA",
            "isBase64Encoded": true,
        }),
        _ => json!({
            "statusCode": 200,
            "headers": { "content-type": "application/json" },
            "body": event.to_string(),
        }),
    })
}

async fn record(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    if let Ok(path) = std::env::var("PROBE_RECORD") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{name} {}", event.payload)?;
    }
    if let Some(ms) = event.payload["sleep_ms"].as_u64() {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if event.payload["fail"] == true {
        return Err("asked to fail".into());
    }
    Ok(json!({ "ok": true, "event": event.payload, "request_id": event.context.request_id }))
}

async fn http(request: Request) -> Result<Response<Body>, Error> {
    let params = request.query_string_parameters();
    let has = |key: &str| params.first(key).is_some();
    let number = |key: &str| params.first(key).and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = number("sleep_ms") {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if has("crash") {
        std::process::exit(3);
    }
    if has("panic") {
        panic!("the probe was asked to panic");
    }
    if has("error") {
        return Err("the probe was asked to fail".into());
    }
    if let Some(n) = number("bytes") {
        let body = pattern::pattern(n as usize, number("seed").unwrap_or(0));
        let body = String::from_utf8(body).expect("the pattern is ASCII");
        return Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(Body::Text(body))?);
    }
    if has("echo") {
        let body = request.body().clone();
        return Ok(Response::builder()
            .header("content-type", "application/octet-stream")
            .body(body)?);
    }
    // One line of the function's own log per described request (not for the integrity
    // test's bulk traffic): the tests find it again, tagged with the request id.
    eprintln!(
        "probe handling {} {}",
        request.method(),
        request.uri().path()
    );
    let (kind, len) = match request.body() {
        Body::Empty => ("empty", 0),
        Body::Text(t) => ("text", t.len()),
        Body::Binary(b) => ("binary", b.len()),
        _ => ("other", 0),
    };
    let (context, source_ip) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => ("ApiGatewayV2", c.http.source_ip.clone()),
        Some(RequestContext::ApiGatewayV1(c)) => ("ApiGatewayV1", c.identity.source_ip.clone()),
        Some(_) => ("other", None),
        None => ("none", None),
    };
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
        .collect();
    let description = json!({
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        "pid": std::process::id(),
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "raw_path": request.raw_http_path(),
        "query": request.uri().query(),
        "body_kind": kind,
        "body_len": len,
        "source_ip": source_ip,
        "context": context,
        "headers": headers,
        "request_id": request.lambda_context_ref().map(|c| c.request_id.clone()),
        "email_invoke_url": std::env::var("EMAIL_INVOKE_URL").ok(),
        "runtime_api": std::env::var("AWS_LAMBDA_RUNTIME_API").ok(),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Body::Text(description.to_string()))?)
}
