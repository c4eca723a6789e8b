//! The internal listener: the Runtime API the function processes poll, and the Invoke API
//! (`EMAIL_INVOKE_URL`, tools). Never on the public address.
//!
//! Each process reaches the Runtime API under its own prefix, `/<function>/<token>`
//! (its `AWS_LAMBDA_RUNTIME_API`), so the emulator knows which instance calls, and nobody
//! without the token can take another function's invocations.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::http::header::{CONTENT_TYPE, HeaderValue};
use aws_lambda_events::http::{Method, StatusCode};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;

use crate::body::{self, BodyError};
use crate::ids;
use crate::lambda::{self, Function, Instance, Invocation, MAX_PAYLOAD, Outcome, Service};
use crate::server::Reply;

/// Lambda's limit on an Event invocation's payload.
const MAX_EVENT_PAYLOAD: usize = 1024 * 1024;

pub struct Internal {
    pub service: Arc<Service>,
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Reply {
    reply(
        status,
        json!({ "errorType": error_type, "errorMessage": message }).to_string(),
    )
}

/// The Runtime API's acknowledgement of a response, an error or an init error.
fn accepted() -> Reply {
    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

/// `X-Amz-Invocation-Type`.
#[derive(Clone, Copy)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    /// The header's value (`RequestResponse` when absent), or why it is refused.
    fn of(request: &Request<Incoming>) -> Result<Self, String> {
        let Some(value) = request.headers().get("x-amz-invocation-type") else {
            return Ok(InvocationType::RequestResponse);
        };
        match value.as_bytes() {
            b"RequestResponse" => Ok(InvocationType::RequestResponse),
            b"Event" => Ok(InvocationType::Event),
            b"DryRun" => Ok(InvocationType::DryRun),
            other => Err(format!(
                "X-Amz-Invocation-Type {:?} is not RequestResponse, Event or DryRun",
                String::from_utf8_lossy(other)
            )),
        }
    }

    /// Lambda's limit on the payload.
    fn max_payload(self) -> usize {
        match self {
            InvocationType::Event => MAX_EVENT_PAYLOAD,
            InvocationType::RequestResponse | InvocationType::DryRun => MAX_PAYLOAD,
        }
    }
}

impl Internal {
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>, _peer: SocketAddr) -> Reply {
        let path = request.uri().path().to_string();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = request.method().clone();
        match (&method, segments.as_slice()) {
            (&Method::POST, ["2015-03-31", "functions", name, "invocations"]) => {
                self.invoke(name, request).await
            }
            (_, [function, token, "2018-06-01", "runtime", rest @ ..]) => {
                let Some(instance) = self.service.instance(function, token) else {
                    return runtime_error(StatusCode::FORBIDDEN, "Forbidden", "unknown runtime");
                };
                match (&method, rest) {
                    (&Method::GET, ["invocation", "next"]) => next(&instance).await,
                    // An answer for an invocation this instance is not running: refused
                    // before its body is read.
                    (&Method::POST, ["invocation", id, "response" | "error"])
                        if !instance.is_running(id) =>
                    {
                        invalid_request_id(&instance, id)
                    }
                    (&Method::POST, ["invocation", id, "response"]) => {
                        respond(&instance, id, request).await
                    }
                    (&Method::POST, ["invocation", id, "error"]) => {
                        report_error(&instance, id, request).await
                    }
                    (&Method::POST, ["init", "error"]) => init_error(&instance, request).await,
                    _ => runtime_error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        "no such Runtime API call",
                    ),
                }
            }
            _ => runtime_error(StatusCode::NOT_FOUND, "NotFound", "no such API"),
        }
    }

    /// `POST /2015-03-31/functions/{name}/invocations`: `RequestResponse` waits for the
    /// outcome (a function error is a 200 with `X-Amz-Function-Error`, as in AWS); `Event`
    /// is queued and answered 202 at once.
    async fn invoke(&self, name: &str, request: Request<Incoming>) -> Reply {
        let started = Instant::now();
        let name = function_name(name);
        let Some(function) = self.service.function(name).cloned() else {
            return invoke_refusal(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("Function not found: {}", lambda::function_arn(name)),
            );
        };
        let (kind, payload) = match invocation_request(request).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let id = ids::request_id();
        let response = match kind {
            InvocationType::DryRun => reply(StatusCode::NO_CONTENT, Bytes::new()),
            InvocationType::Event => queue_event(&function, payload, &id),
            InvocationType::RequestResponse => {
                request_response(&function, payload, &id, started).await
            }
        };
        with_invoke_headers(response, &id)
    }
}

/// An Invoke API request's invocation type and payload (`{}` when empty), or the refusal
/// of a bad `X-Amz-Invocation-Type` (before the body is read) or of an unreadable or
/// oversized payload.
async fn invocation_request(request: Request<Incoming>) -> Result<(InvocationType, Bytes), Reply> {
    let kind = InvocationType::of(&request).map_err(|why| {
        invoke_refusal(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &why,
        )
    })?;
    let max = kind.max_payload();
    match body::read_request(request, max).await {
        Ok(payload) if payload.is_empty() => Ok((kind, Bytes::from_static(b"{}"))),
        Ok(payload) => Ok((kind, payload)),
        Err(BodyError::TooLarge(_)) => Err(invoke_refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("Request must be smaller than {max} bytes for the InvokeFunction operation"),
        )),
        Err(BodyError::Broken(e)) => Err(invoke_refusal(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &e.to_string(),
        )),
    }
}

/// `Event`: queued (or joined to an identical queued one) and answered 202 at once.
fn queue_event(function: &Function, payload: Bytes, id: &str) -> Reply {
    let queued = function.invoke(Invocation::event(payload, id.to_string()));
    tracing::debug!(
        r#type = "invoke", function = %function.name, request_id = %id,
        invocation_type = "Event", coalesced = !queued, "Event invocation queued"
    );
    reply(StatusCode::ACCEPTED, Bytes::new())
}

/// `RequestResponse`: runs the invocation within the function's timeout (counted from the
/// request's arrival), answers its outcome and logs the call.
async fn request_response(
    function: &Function,
    payload: Bytes,
    id: &str,
    started: Instant,
) -> Reply {
    let deadline = started + function.timeout;
    let outcome = function.call(payload, id.to_string(), deadline).await;
    let response = outcome_reply(outcome, id, function.timeout);
    let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    tracing::info!(
        r#type = "invoke", function = %function.name, request_id = %id,
        invocation_type = "RequestResponse", status = response.status().as_u16(), ms,
        function_error = response.headers().contains_key("x-amz-function-error"),
        "invoke {} {ms} ms", function.name
    );
    response
}

/// A synchronous invocation's outcome as the Invoke API answers it: the function's payload,
/// or its error document as a 200 with `X-Amz-Function-Error`; `None` (dropped) is a 500.
fn outcome_reply(outcome: Option<Outcome>, id: &str, timeout: Duration) -> Reply {
    match outcome {
        Some(Outcome::Response(payload)) => reply(StatusCode::OK, payload),
        Some(Outcome::FunctionError { payload, .. }) => unhandled(payload),
        Some(Outcome::Failed { error_type, reason }) => unhandled(
            json!({ "errorType": error_type, "errorMessage": format!("RequestId: {id} Error: {reason}") })
                .to_string(),
        ),
        Some(Outcome::TimedOut) => unhandled(
            json!({
                "errorType": "Sandbox.Timedout",
                "errorMessage": format!(
                    "RequestId: {id} Error: Task timed out after {:.2} seconds",
                    timeout.as_secs_f64()
                ),
            })
            .to_string(),
        ),
        None => invoke_refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "the invocation was dropped",
        ),
    }
}

/// The headers of every answer to an invocation the Invoke API accepted.
fn with_invoke_headers(mut response: Reply, id: &str) -> Reply {
    let headers = response.headers_mut();
    headers.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if let Ok(id) = HeaderValue::from_str(id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// `my-fn`, `my-fn:$LATEST` or `arn:aws:lambda:region:account:function:my-fn[:qualifier]`.
fn function_name(name: &str) -> &str {
    let name = name.rsplit_once(":function:").map_or(name, |(_, n)| n);
    name.split(':').next().unwrap_or(name)
}

fn invoke_refusal(status: StatusCode, error_type: &'static str, message: &str) -> Reply {
    let mut response = reply(
        status,
        json!({ "Type": "User", "message": message }).to_string(),
    );
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    response
}

fn unhandled(payload: impl Into<Bytes>) -> Reply {
    let mut response = reply(StatusCode::OK, payload);
    response.headers_mut().insert(
        "x-amz-function-error",
        HeaderValue::from_static("Unhandled"),
    );
    response
}

/// `GET .../invocation/next`: waits for an invocation, with the headers Lambda sends.
async fn next(instance: &Instance) -> Reply {
    let Some(assignment) = instance.next().await else {
        return runtime_error(StatusCode::GONE, "Gone", "this runtime's process has ended");
    };
    let now = SystemTime::now();
    let left = assignment
        .deadline
        .saturating_duration_since(Instant::now());
    let deadline_ms = ids::epoch_ms(now + left);
    let mut response = reply(StatusCode::OK, assignment.payload);
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", assignment.id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        lambda::function_arn(&instance.function.name),
    );
    set("lambda-runtime-trace-id", ids::trace_id(now));
    response
}

/// `POST .../invocation/{id}/response`: acknowledged (202) only once the whole answer has
/// been read; an answer that cannot be read, or is over 6 MB, fails the invocation. (An
/// id this instance is not running was refused by `handle`.)
async fn respond(instance: &Instance, id: &str, request: Request<Incoming>) -> Reply {
    let streaming = request
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    let outcome = match body::read_request(request, MAX_PAYLOAD).await {
        Ok(_) if streaming => Err((
            "Runtime.StreamingUnsupported",
            "streamed responses are not supported by this emulator".to_string(),
            StatusCode::BAD_REQUEST,
        )),
        Ok(payload) => Ok(payload),
        Err(BodyError::TooLarge(rest)) => {
            tokio::spawn(body::drain(rest, MAX_PAYLOAD, Duration::from_secs(5)));
            Err((
                "Function.ResponseSizeTooLarge",
                format!("the response is larger than {MAX_PAYLOAD} bytes"),
                StatusCode::PAYLOAD_TOO_LARGE,
            ))
        }
        Err(BodyError::Broken(e)) => Err((
            "Runtime.ResponseReadError",
            format!("could not read the function's response: {e}"),
            StatusCode::BAD_REQUEST,
        )),
    };
    match outcome {
        Ok(payload) => match instance.finish(id, Outcome::Response(payload)) {
            Some(_) => accepted(),
            None => invalid_request_id(instance, id),
        },
        Err((error_type, reason, status)) => {
            tracing::error!(
                function = %instance.function.name, instance = instance.slot, request_id = id,
                error_type, "{reason}"
            );
            instance.finish(
                id,
                Outcome::Failed {
                    error_type,
                    reason: reason.clone(),
                },
            );
            runtime_error(status, error_type, &reason)
        }
    }
}

fn invalid_request_id(instance: &Instance, id: &str) -> Reply {
    tracing::warn!(
        function = %instance.function.name, instance = instance.slot, request_id = id,
        "an answer for an invocation that is not running (any more) on this instance"
    );
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

/// `POST .../invocation/{id}/error`: the function failed this invocation. (An id this
/// instance is not running was refused by `handle`.)
async fn report_error(instance: &Instance, id: &str, request: Request<Incoming>) -> Reply {
    let error_type = request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_string();
    let payload = match body::read_request(request, MAX_PAYLOAD).await {
        Ok(payload) => payload,
        Err(_) => Bytes::from(
            json!({ "errorType": error_type, "errorMessage": "(unreadable)" }).to_string(),
        ),
    };
    tracing::warn!(
        function = %instance.function.name, instance = instance.slot, request_id = id,
        error_type = %error_type, "function error: {}",
        String::from_utf8_lossy(&payload[..payload.len().min(2000)])
    );
    instance.finish(
        id,
        Outcome::FunctionError {
            error_type,
            payload,
        },
    );
    accepted()
}

/// `POST .../init/error`: the process could not start; it exits and is restarted.
async fn init_error(instance: &Instance, request: Request<Incoming>) -> Reply {
    let payload = body::read_request(request, MAX_PAYLOAD)
        .await
        .unwrap_or_default();
    tracing::error!(
        function = %instance.function.name, instance = instance.slot,
        "initialization failed: {}", String::from_utf8_lossy(&payload[..payload.len().min(2000)])
    );
    accepted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_in_every_spelling() {
        assert_eq!(function_name("email"), "email");
        assert_eq!(function_name("email:$LATEST"), "email");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:000000000000:function:email"),
            "email"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:000000000000:function:email:3"),
            "email"
        );
    }
}
