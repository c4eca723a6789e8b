//! The public listener: API Gateway in front of the functions. Only the route table's
//! paths are served (anything else goes where the table's catch-all says); the Runtime
//! and Invoke APIs are not reachable here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::http::header::{EXPECT, HeaderMap, HeaderValue};
use aws_lambda_events::http::{Method, StatusCode, request};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::apigw::{self, Answer, MAX_REQUEST_BODY};
use crate::body::{self, BodyError};
use crate::ids;
use crate::lambda::{Outcome, Service};
use crate::routes::{Route, RouteTable};
use crate::server::Reply;

/// What is drained of a refused body at most, so that the client reads the 413.
const DRAIN_BYTES: usize = 32 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Logged (never sent) for a request whose client went away first.
const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

pub struct Gateway {
    pub routes: RouteTable,
    pub service: Arc<Service>,
}

/// An answer, and for the log why the gateway gave it (when the function did not).
struct Handled {
    answer: Answer,
    error: Option<String>,
}

impl Handled {
    fn function(answer: Answer) -> Self {
        Handled {
            answer,
            error: None,
        }
    }

    fn gateway(answer: Answer, error: impl Into<String>) -> Self {
        Handled {
            answer,
            error: Some(error.into()),
        }
    }
}

impl Gateway {
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Reply {
        let now = SystemTime::now();
        let route = self.routes.find(request.uri().path()).cloned();
        // Logs the request when it ends, even if the client goes away first.
        let mut log = RequestLog {
            request_id: ids::request_id(),
            method: request.method().clone(),
            path: request.uri().path().to_string(),
            route,
            started: Instant::now(),
            peer,
            done: false,
        };
        let handled = match (
            &log.route,
            apigw::check_host(request.headers(), request.uri()),
        ) {
            (_, Err(why)) => {
                Handled::gateway(Answer::gateway(StatusCode::BAD_REQUEST, "Bad Request"), why)
            }
            (None, Ok(())) => Handled::gateway(Answer::not_found(), "no route"),
            (Some(route), Ok(())) => {
                self.invoke(route, request, peer, &log.request_id, now, log.started)
                    .await
            }
        };
        let Handled { answer, error } = handled;
        log.finish(answer.status, answer.body.len(), error.as_deref());
        let mut response = Response::new(Full::new(answer.body));
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        if let Ok(id) = HeaderValue::from_str(&log.request_id) {
            response.headers_mut().insert("apigw-requestid", id);
        }
        response
    }

    /// Runs the route's function for the request: reads the body within the function's
    /// time, builds the event, waits for the outcome and answers as API Gateway does.
    async fn invoke(
        &self,
        route: &Route,
        request: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
        now: SystemTime,
        started: Instant,
    ) -> Handled {
        let Some(function) = self.service.function(&route.function) else {
            return Handled::gateway(
                Answer::invoke_refused(),
                format!(
                    "no binary for function {} in the bin directory",
                    route.function
                ),
            );
        };
        // The function's time runs from the request's arrival, its body's upload included
        // (a body that never ends must not hold the connection for ever).
        let deadline = started + function.timeout;
        let (mut parts, incoming) = request.into_parts();
        apigw::drop_forged_forwarded_proto(&mut parts.headers);
        let body = match read_body(&parts.headers, incoming, deadline, function.timeout).await {
            Read::Body(body) => body,
            Read::Refused(handled) => return handled,
        };
        let event = match build_event(parts, body, peer, request_id, now).await {
            Ok(event) => event,
            Err(e) => {
                return Handled::gateway(
                    Answer::internal_error(),
                    format!("cannot build the event: {e}"),
                );
            }
        };
        let outcome = function.call(event, request_id.to_string(), deadline).await;
        answer(outcome, function.timeout).await
    }
}

/// A request body, or the gateway's answer instead of it.
enum Read {
    Body(Bytes),
    Refused(Handled),
}

/// The request body, read until `deadline` (408 after it): over 10 MB is a 413 (what is
/// still coming is drained, unless the client waits for `100 Continue`), a broken one 400.
async fn read_body(
    headers: &HeaderMap,
    incoming: Incoming,
    deadline: Instant,
    timeout: Duration,
) -> Read {
    let declared = body::declared_length(headers);
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        // A client that waits for `100 Continue` sends nothing more: nothing to drain.
        if !headers.contains_key(EXPECT) {
            tokio::spawn(body::drain(incoming, DRAIN_BYTES, DRAIN_TIME));
        }
        return Read::Refused(Handled::gateway(
            Answer::too_large(),
            "request body over 10 MB",
        ));
    }
    let reading = body::read(incoming, MAX_REQUEST_BODY, declared);
    let refusal = match tokio::time::timeout_at(deadline.into(), reading).await {
        Ok(Ok(body)) => return Read::Body(body),
        Err(_) => Handled::gateway(
            Answer::gateway(StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs_f64()
            ),
        ),
        Ok(Err(BodyError::TooLarge(rest))) => {
            tokio::spawn(body::drain(rest, DRAIN_BYTES, DRAIN_TIME));
            Handled::gateway(Answer::too_large(), "request body over 10 MB")
        }
        Ok(Err(BodyError::Broken(e))) => Handled::gateway(
            Answer::gateway(StatusCode::BAD_REQUEST, "Bad Request"),
            format!("could not read the request body: {e}"),
        ),
    };
    Read::Refused(refusal)
}

/// The event API Gateway sends for the request (built off the event loop when large).
async fn build_event(
    parts: request::Parts,
    body: Bytes,
    peer: SocketAddr,
    request_id: &str,
    now: SystemTime,
) -> serde_json::Result<Bytes> {
    let size = body.len();
    let request_id = request_id.to_string();
    let build = move || {
        let origin = apigw::Origin {
            source_ip: peer.ip(),
            request_id: &request_id,
            now,
        };
        apigw::event(&parts, &body, &origin)
    };
    off_the_loop(size, build).await.map(Bytes::from)
}

/// The function's outcome as API Gateway answers it: its response mapped (502 when
/// malformed), 503 past its timeout, 502 for an error, a failure or a dropped invocation.
async fn answer(outcome: Option<Outcome>, timeout: Duration) -> Handled {
    match outcome {
        Some(Outcome::TimedOut) => Handled::gateway(
            Answer::unavailable(),
            format!(
                "the function did not answer within {} s",
                timeout.as_secs_f64()
            ),
        ),
        None => Handled::gateway(Answer::internal_error(), "the invocation was dropped"),
        Some(Outcome::Response(payload)) => {
            match off_the_loop(payload.len(), move || apigw::response(payload)).await {
                Ok(answer) => Handled::function(answer),
                Err(why) => Handled::gateway(
                    Answer::internal_error(),
                    format!("malformed function response: {why}"),
                ),
            }
        }
        Some(Outcome::FunctionError {
            error_type,
            payload,
        }) => Handled::gateway(
            Answer::internal_error(),
            format!(
                "function error {error_type}: {}",
                String::from_utf8_lossy(&payload[..payload.len().min(500)])
            ),
        ),
        Some(Outcome::Failed { error_type, reason }) => {
            Handled::gateway(Answer::internal_error(), format!("{error_type}: {reason}"))
        }
    }
}

/// Bodies from this size on are converted on a blocking thread, so that a few megabytes of
/// JSON do not hold up every other request of the event loop.
const LARGE: usize = 128 * 1024;

async fn off_the_loop<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    if size < LARGE {
        return work();
    }
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// One line per request; the path without its query (links carry tokens).
struct RequestLog {
    request_id: String,
    method: Method,
    path: String,
    route: Option<Route>,
    started: Instant,
    peer: SocketAddr,
    done: bool,
}

impl RequestLog {
    fn finish(&mut self, status: StatusCode, bytes: usize, error: Option<&str>) {
        self.done = true;
        let ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let status = status.as_u16();
        tracing::info!(
            r#type = "request",
            request_id = self.request_id,
            method = %self.method,
            path = self.path,
            route = self.route.as_ref().map(|r| &*r.key),
            function = self.route.as_ref().map(|r| &*r.function),
            status,
            ms,
            bytes,
            source_ip = %self.peer.ip(),
            error,
            "{} {} {status} {ms} ms",
            self.method,
            self.path,
        );
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        if !self.done {
            // nginx's number for it: the client closed the connection before the answer.
            self.finish(
                CLIENT_CLOSED,
                0,
                Some("the client went away before the answer"),
            );
        }
    }
}
