//! How an HTTP function's answer travels to the front (API Gateway, ALB, the emulator):
//! lambda_http's conversion, except that a large body goes in base64, written as it is into
//! the Runtime API's JSON.
//!
//! Through lambda_http, a body is a JSON string of the Lambda response: serde_json looks at
//! every byte of it for characters to escape (a JSON body has many), and the front unescapes
//! it. A 10,000-form list spent about a quarter of its CPU there. Base64 from a SIMD encoder
//! costs far less both ways, and nothing in it needs escaping, so it is written as it is.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use base64_simd::STANDARD as BASE64;
use lambda_http::http::Response;
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::request::LambdaRequest;
use lambda_http::request::RequestContext;
use lambda_http::{Adapter, Body, Error, Request, RequestExt, Service, service_fn};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::web::http::Finished;
use crate::web::spare;

/// Bodies from this size on go in base64 (large text only where the front decodes it).
const LARGE_FROM_BYTES: usize = 16 * 1024;
/// The largest text whose base64 still fits Lambda's 6 MB response limit, with room for
/// the envelope and headers; a larger one stays text, which grows less when escaped.
const TEXT_IN_BASE64_UP_TO_BYTES: usize = (6 * 1024 * 1024 - 64 * 1024) / 4 * 3;

/// API Gateway's HTTP API and ALB decode a base64 body before the client sees it; a REST
/// API only for the binary media types it is configured with, so text stays text there.
pub fn front_decodes_base64(req: &Request) -> bool {
    matches!(
        req.request_context_ref(),
        Some(RequestContext::ApiGatewayV2(_) | RequestContext::Alb(_))
    )
}

/// One invocation's large body, set aside before lambda_http converts the response and
/// written by `WireResponse` after.
#[derive(Clone, Default)]
pub struct LargeBody(Arc<Mutex<Option<Vec<u8>>>>);

impl LargeBody {
    /// Takes a large body out of `response`: bytes (lambda_http sends those in base64
    /// anyway), or text where the front decodes base64 and its base64 fits the limit.
    pub fn set_aside(&self, front_decodes_base64: bool, response: &mut Response<Body>) {
        let bytes = match std::mem::replace(response.body_mut(), Body::Empty) {
            Body::Binary(bytes) if bytes.len() >= LARGE_FROM_BYTES => bytes,
            Body::Text(text)
                if front_decodes_base64
                    && (LARGE_FROM_BYTES..=TEXT_IN_BASE64_UP_TO_BYTES).contains(&text.len()) =>
            {
                text.into_bytes()
            }
            body => {
                *response.body_mut() = body;
                return;
            }
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
    }

    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// One invocation as `lambda_http::run_concurrent` answers it (its `Adapter` around
/// `serve`), except that a body `serve` sets aside is written by `WireResponse`.
pub fn invoke<S, Fut>(
    event: LambdaEvent<LambdaRequest>,
    mut serve: S,
) -> impl Future<Output = Result<WireResponse<impl Serialize>, Error>> + Send
where
    S: FnMut(Request, LargeBody) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Finished, Error>> + Send + 'static,
{
    let large_body = LargeBody::default();
    let set_aside = large_body.clone();
    // `call` without `poll_ready`: a `service_fn` is always ready, and so its adapter.
    let answer = Adapter::from(service_fn(move |req: Request| {
        serve(req, set_aside.clone())
    }))
    .call(event);
    async move { WireResponse::new(answer.await?, large_body.take()).map_err(Error::from) }
}

/// What the function answers the Runtime API: lambda_http's answer, or, with a large body,
/// its envelope and the body in base64, written as it is.
#[derive(Serialize)]
#[serde(untagged)]
pub enum WireResponse<A> {
    AsIs(A),
    Base64Body {
        #[serde(flatten)]
        envelope: Map<String, Value>,
        body: Base64Text,
    },
}

/// The body in base64, in quotes: a JSON string written as it is. Its buffer is kept for
/// the next large answer once the response is written (see [`spare`]).
pub struct Base64Text(Option<Box<RawValue>>);

impl Serialize for Base64Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl Drop for Base64Text {
    fn drop(&mut self) {
        if let Some(text) = self.0.take() {
            spare::keep(String::from(Box::<str>::from(text)).into_bytes());
        }
    }
}

impl<A: Serialize> WireResponse<A> {
    /// `answer`: lambda_http's conversion of the response (its type is private to
    /// lambda_http; its envelope is read back as a JSON value, small without the body).
    fn new(answer: A, large_body: Option<Vec<u8>>) -> serde_json::Result<Self> {
        let Some(bytes) = large_body else {
            return Ok(Self::AsIs(answer));
        };
        let Value::Object(mut envelope) = serde_json::to_value(&answer)? else {
            return Err(serde::ser::Error::custom(
                "lambda_http's answer is not an object",
            ));
        };
        envelope.remove("body");
        envelope.insert("isBase64Encoded".into(), Value::Bool(true));
        let mut quoted = spare::take_string(BASE64.encoded_length(bytes.len()) + 2);
        quoted.push('"');
        BASE64.encode_append(&bytes, &mut quoted);
        quoted.push('"');
        spare::keep(bytes);
        // SAFETY: base64 between quotes is one JSON string with nothing to escape, and no
        // whitespace around it. Unchecked because checking read every byte again: about a
        // millisecond of a 10,000-form list's (debug builds still check).
        let body = unsafe { RawValue::from_string_unchecked(quoted) };
        Ok(Self::Base64Body {
            envelope,
            body: Base64Text(Some(body)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::lambda_runtime::Context;

    // Events of each origin, from lambda_http's own tests (its tests/data).
    const FIXTURES: [(&str, &str); 3] = [
        (
            "API Gateway HTTP API",
            include_str!("wire_events/apigw_v2_proxy_request.json"),
        ),
        (
            "API Gateway REST API",
            include_str!("wire_events/apigw_proxy_request.json"),
        ),
        ("ALB", include_str!("wire_events/alb_request.json")),
    ];

    fn event(fixture: &str) -> LambdaEvent<LambdaRequest> {
        LambdaEvent::new(serde_json::from_str(fixture).unwrap(), Context::default())
    }

    /// What the Runtime API gets for `response` to `fixture`'s event: through lambda_http
    /// alone, or as `run_http` sends it (and whether a body was set aside).
    async fn answer(fixture: &str, response: Response<Body>, wire: bool) -> (Value, bool) {
        let mut response = Some(response);
        let was_set_aside = Arc::new(Mutex::new(false));
        let seen = was_set_aside.clone();
        let sent = match wire {
            false => {
                let respond = service_fn(move |_: Request| {
                    let response = response.take().unwrap();
                    async move { Ok::<_, Error>(Finished(response)) }
                });
                serde_json::to_vec(&Adapter::from(respond).call(event(fixture)).await.unwrap())
            }
            true => {
                let serve = move |req: Request, large_body: LargeBody| {
                    let mut response = response.take().unwrap();
                    let had_a_body = !matches!(response.body(), Body::Empty);
                    large_body.set_aside(front_decodes_base64(&req), &mut response);
                    *seen.lock().unwrap() = had_a_body && matches!(response.body(), Body::Empty);
                    async move { Ok::<_, Error>(Finished(response)) }
                };
                serde_json::to_vec(&invoke(event(fixture), serve).await.unwrap())
            }
        };
        let was_set_aside = *was_set_aside.lock().unwrap();
        (
            serde_json::from_slice(&sent.unwrap()).unwrap(),
            was_set_aside,
        )
    }

    fn response(body: Body) -> Response<Body> {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("set-cookie", "a=1")
            .body(body)
            .unwrap()
    }

    /// Whatever the origin and the body, the front gets what lambda_http would have sent;
    /// large bytes are set aside and written by `WireResponse`.
    #[tokio::test]
    async fn the_front_gets_what_lambda_http_would_send() {
        let small_text = Body::Text("{\"name\":\"Zoë \\\"x\\\"\"}".into());
        let large_bytes: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
        let bodies = [
            ("empty", Body::Empty, false),
            ("small text", small_text, false),
            ("small bytes", Body::Binary(vec![0, 255, 1]), false),
            ("large bytes", Body::Binary(large_bytes), true),
        ];
        for (origin, fixture) in FIXTURES {
            for (kind, body, set_aside) in &bodies {
                let (theirs, _) = answer(fixture, response(body.clone()), false).await;
                let (ours, was_set_aside) = answer(fixture, response(body.clone()), true).await;
                assert_eq!(was_set_aside, *set_aside, "{origin}, {kind}");
                assert_eq!(ours, theirs, "{origin}, {kind}");
            }
        }
    }

    /// Large text goes in base64 only where the front decodes it; the client gets the
    /// same bytes either way, and everything but the body is lambda_http's.
    #[tokio::test]
    async fn large_text_goes_in_base64_only_where_the_front_decodes_it() {
        let large = "é\"\\\n".repeat(LARGE_FROM_BYTES);
        for (origin, fixture) in FIXTURES {
            let decodes = front_decodes_base64(&Request::from(event(fixture).payload));
            assert_eq!(decodes, origin != "API Gateway REST API", "{origin}");
            let (mut theirs, _) = answer(fixture, response(Body::Text(large.clone())), false).await;
            let (mut ours, set_aside) =
                answer(fixture, response(Body::Text(large.clone())), true).await;
            assert_eq!(set_aside, decodes, "{origin}");
            assert_eq!(theirs["body"], large.as_str(), "{origin}");
            if decodes {
                let base64 = ours["body"].as_str().unwrap();
                ours["body"] = String::from_utf8(BASE64.decode_to_vec(base64).unwrap())
                    .unwrap()
                    .into();
                theirs["isBase64Encoded"] = true.into();
            }
            assert_eq!(ours, theirs, "{origin}");
        }
    }

    #[test]
    fn text_is_set_aside_from_16_kib_while_its_base64_fits_a_lambda_response() {
        for (len, set_aside) in [
            (LARGE_FROM_BYTES - 1, false),
            (LARGE_FROM_BYTES, true),
            (TEXT_IN_BASE64_UP_TO_BYTES, true),
            (TEXT_IN_BASE64_UP_TO_BYTES + 1, false),
        ] {
            let aside = LargeBody::default();
            let mut resp = response(Body::Text("x".repeat(len)));
            aside.set_aside(true, &mut resp);
            assert_eq!(
                aside.take().map(|b| b.len()),
                set_aside.then_some(len),
                "{len}"
            );
            assert_eq!(matches!(resp.body(), Body::Empty), set_aside, "{len}");
        }
        let base64_len = BASE64.encoded_length(TEXT_IN_BASE64_UP_TO_BYTES);
        assert!(base64_len + 64 * 1024 <= 6 * 1024 * 1024);
    }
}
