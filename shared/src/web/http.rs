//! HTTP helpers shared by every API function: path normalisation, the body rules of
//! contract section 1, and the one place where errors become responses.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, IntoResponse, Request, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::app::error::{AppError, Cause};
use crate::domain::refusal::Refusal;
use crate::web::spare;

/// Every answer the API can give that is not a success, mapped to the contract's
/// status codes and bodies in [`ApiError::into_response`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 422 with a `message` (token problems).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 422 with a field map (validation).
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("rate limited: {0}")]
    TooManyRequests(String),
    /// Anything unexpected: logged with its causes, never shown.
    #[error("internal error")]
    Internal(#[source] Cause),
}

pub const NO_INPUT: &str = "No input data provided";

impl ApiError {
    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

    pub fn into_response(self) -> Response<Body> {
        match self {
            ApiError::BadRequest(m) => message(StatusCode::BAD_REQUEST, &m),
            ApiError::Unauthorized(m) => message(StatusCode::UNAUTHORIZED, &m),
            ApiError::Unprocessable(m) => message(StatusCode::UNPROCESSABLE_ENTITY, &m),
            ApiError::Validation(fields) => {
                json_response(StatusCode::UNPROCESSABLE_ENTITY, &fields.0)
            }
            ApiError::NotFound => message(StatusCode::NOT_FOUND, "Not found"),
            ApiError::MethodNotAllowed => message(
                StatusCode::METHOD_NOT_ALLOWED,
                "The method is not allowed for the requested URL.",
            ),
            ApiError::TooManyRequests(m) => message(StatusCode::TOO_MANY_REQUESTS, &m),
            ApiError::Internal(cause) => {
                tracing::error!(cause = %causes(&*cause), "internal error");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

/// An error and its sources, outermost first: "a: b: c".
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The one place where a use case's refusal gets its status code.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let refusal = match e {
            AppError::Refused(refusal) => refusal,
            AppError::Internal(cause) => return ApiError::Internal(cause),
        };
        let text = refusal.to_string();
        match refusal {
            Refusal::Token(e) if !e.is_unauthorized() => ApiError::Unprocessable(text),
            Refusal::BadAuthorization => ApiError::Unprocessable(text),
            Refusal::MissingAuthorization
            | Refusal::Token(_)
            | Refusal::TokenRevoked
            | Refusal::TokenUserGone(_)
            | Refusal::AdminRequired
            | Refusal::InvalidCredentials
            | Refusal::NotYours(..) => ApiError::Unauthorized(text),
            Refusal::OwnPasswordNotSet
            | Refusal::NoSuchUser(_)
            | Refusal::NoSuchUserQuoted(_)
            | Refusal::PasswordNotSet(_)
            | Refusal::UsernameTaken(_)
            | Refusal::EmailTaken(_)
            | Refusal::NoSuchForm(_)
            | Refusal::FormClosed(_)
            | Refusal::AlreadyResolved(_) => ApiError::BadRequest(text),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        AppError::Refused(refusal).into()
    }
}

/// Validation errors: field name → messages, reported all together.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Err(422)` when anything failed, so callers can `?` after checking every field.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self))
        }
    }
}

/// The request path with any run of leading slashes folded into one: the app calls
/// `//api/v1/auth/login`.
pub fn normalized_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// Whether the request declares a JSON body (`application/json` or `*+json`), as Flask's
/// `request.is_json` decides.
fn is_json_content_type(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v.split(';').next().unwrap_or_default().trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The JSON object of a request that must carry a body (contract section 1): absent,
/// non-JSON or falsy bodies are 400 `No input data provided`, checked before any
/// authentication. Returns the object's members; a non-object truthy value is handed
/// on as an empty map so that validation reports the missing fields.
pub fn required_json_body(req: &Request) -> Result<Map<String, Value>, ApiError> {
    if !is_json_content_type(req) {
        return Err(ApiError::BadRequest(NO_INPUT.into()));
    }
    let bytes = body_bytes(req);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(NO_INPUT.into()));
    }
    let value = parse_json(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Failed to decode JSON object: {e}")))?;
    match value {
        Value::Object(map) if !map.is_empty() => Ok(map),
        Value::Null | Value::Bool(false) => Err(ApiError::BadRequest(NO_INPUT.into())),
        Value::Object(_) => Err(ApiError::BadRequest(NO_INPUT.into())),
        Value::Array(a) if a.is_empty() => Err(ApiError::BadRequest(NO_INPUT.into())),
        Value::String(s) if s.is_empty() => Err(ApiError::BadRequest(NO_INPUT.into())),
        Value::Number(n) if n.as_f64() == Some(0.0) => Err(ApiError::BadRequest(NO_INPUT.into())),
        _ => Ok(Map::new()),
    }
}

/// Parses JSON as Python's `json.loads` accepts it: a number too large for a float
/// (`1e400`) is valid JSON, so it must reach validation (a 422 on its field) rather than
/// fail the whole body with a 400. serde_json refuses such numbers, so only then is the
/// body read again member by member: a member that is such a number becomes `±f64::MAX`,
/// still a number that is no integer, boolean or string to every check (amounts are read
/// from the raw text, `forms::parse_amount`, and refused there for their size); an array
/// or object holding one becomes an empty one of its kind, since validation only ever
/// looks at a member's type. One pass, whatever the nesting.
fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes).or_else(|error| {
        if !is_out_of_range(&error) {
            return Err(error);
        }
        // Raw values skip over numbers without converting them.
        let Ok(members) = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(bytes) else {
            // Not an object: valid JSON all the same (`1e400`, `[1e400]`), a truthy
            // non-object, which validation sees as an empty body.
            serde_json::from_slice::<Box<RawValue>>(bytes).map_err(|_| error)?;
            return Ok(Value::Array(vec![Value::Null]));
        };
        members
            .into_iter()
            .map(|(key, member)| Ok((key, clamped(&member)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object)
    })
}

fn is_out_of_range(error: &serde_json::Error) -> bool {
    error.to_string().starts_with("number out of range")
}

/// One member of a body serde_json refused for an out-of-range number; any other fault in
/// it (a lone surrogate, say) is still the 400 it always was.
fn clamped(member: &RawValue) -> Result<Value, serde_json::Error> {
    let text = member.get();
    match serde_json::from_str(text) {
        Err(error) if is_out_of_range(&error) => Ok(match text.as_bytes().first() {
            Some(b'{') => Value::Object(Map::new()),
            Some(b'[') => Value::Array(Vec::new()),
            Some(b'-') => Value::from(-f64::MAX),
            _ => Value::from(f64::MAX),
        }),
        parsed => parsed,
    }
}

/// The raw text of a JSON request body, kept exact (amounts must never pass through a
/// float). Only call after [`required_json_body`] accepted the request.
pub fn raw_body(req: &Request) -> &[u8] {
    body_bytes(req)
}

pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    json_text(status, text)
}

/// A response whose body is JSON text already.
fn json_text(status: StatusCode, text: String) -> Response<Body> {
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn message(status: StatusCode, text: &str) -> Response<Body> {
    json_response(status, &json!({ "message": text }))
}

/// A 200 JSON array written one element at a time, for lists read row by row. Its
/// elements are written as text (`&str`s and ASCII), so the array is UTF-8 by construction
/// and never checked again (a 10,000-form list is 2.4 MiB).
#[derive(Debug)]
pub struct JsonArray {
    text: String,
    failed: Option<serde_json::Error>,
    /// Whether `text` went on in a spare buffer (see [`spare`]).
    large: bool,
}

impl Default for JsonArray {
    fn default() -> Self {
        Self {
            text: String::from("["),
            failed: None,
            large: false,
        }
    }
}

impl JsonArray {
    /// Appends the element that `write` writes (by hand, or serde_json's text of it).
    pub fn push_written(&mut self, write: impl FnOnce(&mut String) -> serde_json::Result<()>) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        if !self.large && self.text.len() >= spare::SPARE_FROM_BYTES / 2 {
            // From here on it grows in blocks that glibc maps afresh: go on in a kept one.
            let mut large = spare::take_string(2 * spare::SPARE_FROM_BYTES);
            large.push_str(&self.text);
            self.text = large;
            self.large = true;
        }
        if let Err(e) = write(&mut self.text)
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }

    pub fn into_response(self) -> Result<Response<Body>, ApiError> {
        Ok(ok_json_text(self.into_text().map_err(ApiError::internal)?))
    }

    /// The array's text; the first error an element's writing had, if any.
    pub fn into_text(mut self) -> Result<String, Cause> {
        if let Some(e) = self.failed {
            return Err(e.into());
        }
        self.text.push(']');
        Ok(self.text)
    }
}

/// A 200 whose body is JSON text already.
pub fn ok_json_text(text: String) -> Response<Body> {
    json_text(StatusCode::OK, text)
}

pub fn ok_json<T: Serialize + ?Sized>(body: &T) -> Response<Body> {
    json_response(StatusCode::OK, body)
}

pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

pub fn html_response(status: StatusCode, html: String) -> Response<Body> {
    let mut resp = Response::new(Body::Text(html));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Bodies smaller than this are sent as they are: compressing them saves nothing.
const COMPRESS_FROM_BYTES: usize = 1024;

/// Gzips a large response when the client accepts it (the app's HTTP client does, and so do
/// browsers): a 10,000-form list shrinks about tenfold, which keeps it far below Lambda's
/// 6 MB response limit and makes it cheaper to send.
pub fn compress(
    accept_encoding: Option<&HeaderValue>,
    mut response: Response<Body>,
) -> Response<Body> {
    let accepts_gzip = accept_encoding
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|part| {
                let mut fields = part.split(';');
                let coding = fields.next().unwrap_or_default().trim();
                let refused =
                    fields.any(|f| matches!(f.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
            })
        });
    let bytes: &[u8] = match response.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return response,
    };
    if !accepts_gzip
        || bytes.len() < COMPRESS_FROM_BYTES
        || response.headers().contains_key(header::CONTENT_ENCODING)
    {
        return response;
    }
    // A JSON list shrinks about eightfold (10,000 forms: 2.4 MiB -> 289 KiB).
    let output = spare::take(bytes.len() / 8);
    let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::fast());
    let compressed =
        match std::io::Write::write_all(&mut encoder, bytes).and_then(|()| encoder.finish()) {
            Ok(c) => c,
            Err(_) => return response,
        };
    match std::mem::replace(response.body_mut(), Body::Binary(compressed)) {
        Body::Text(text) => spare::keep(text.into_bytes()),
        Body::Binary(bytes) => spare::keep(bytes),
        _ => {}
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// Turns a handler's result into the response the contract wants.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}

/// A finished response, handed to lambda_http as it is. lambda_http's own `IntoResponse`
/// for `Response<B>` collects every body into new bytes and decodes text by its charset
/// through `encoding_rs`: two copies of a 2.5 MB list per request, and the tables of every
/// legacy encoding (about 150 KiB) in every function. Ours are UTF-8 text or bytes already,
/// each in the variant that conversion would choose for its type (the test below holds
/// them to it); the one change it makes that reaches the wire, an empty body sent as `""`,
/// is kept.
pub struct Finished(pub Response<Body>);

impl IntoResponse for Finished {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        let mut response = self.0;
        if matches!(response.body(), Body::Empty) {
            *response.body_mut() = Body::Text(String::new());
        }
        Box::pin(std::future::ready(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of response the edge builds leaves `Finished` exactly as lambda_http's
    /// own conversion would have sent it: same variant (text or base64), same bytes.
    #[tokio::test]
    async fn finished_responses_are_sent_as_lambda_http_would_send_them() {
        use lambda_http::http::Method;

        use crate::web::pages::fallback;

        let large = json!({ "rows": "é\"\\\u{1}".repeat(600) });
        type Build<'a> = Box<dyn Fn() -> Response<Body> + 'a>;
        let kinds: Vec<(&str, Build)> = vec![
            (
                "json",
                Box::new(|| ok_json(&json!({ "name": "Zoë \"x\"" }))),
            ),
            (
                "message",
                Box::new(|| message(StatusCode::BAD_REQUEST, "No")),
            ),
            (
                "list",
                Box::new(|| {
                    let mut list = JsonArray::default();
                    list.push_written(|text| {
                        text.push_str(&serde_json::to_string(&json!({ "id": 1 }))?);
                        Ok(())
                    });
                    list.into_response().unwrap()
                }),
            ),
            (
                "error",
                Box::new(|| ApiError::TooManyRequests("1 per 1 second".into()).into_response()),
            ),
            ("no content", Box::new(no_content)),
            (
                "html",
                Box::new(|| html_response(StatusCode::OK, "<p>é</p>".into())),
            ),
            (
                "gzip",
                Box::new(|| {
                    let gzip = HeaderValue::from_static("gzip");
                    compress(Some(&gzip), ok_json(&large))
                }),
            ),
            (
                "svg",
                Box::new(|| fallback(&Method::GET, "/static/logo.svg", None)),
            ),
            (
                "png",
                Box::new(|| fallback(&Method::GET, "/static/logo.png", None)),
            ),
            (
                "redirect",
                Box::new(|| fallback(&Method::GET, "////form", Some("a=1"))),
            ),
            (
                "404 page",
                Box::new(|| fallback(&Method::GET, "/nowhere", None)),
            ),
        ];
        for (kind, make) in kinds {
            let theirs = IntoResponse::into_response(make()).await;
            let ours = Finished(make()).into_response().await;
            assert_eq!(ours.status(), theirs.status(), "{kind}");
            assert_eq!(ours.headers(), theirs.headers(), "{kind}");
            assert_eq!(ours.body(), theirs.body(), "{kind}");
        }
    }

    fn json_request(body: &str) -> Request {
        let mut req = Request::new(Body::Text(body.to_string()));
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        req
    }

    #[test]
    fn large_bodies_are_gzipped_only_for_clients_that_accept_it() {
        let big = || ok_json(&vec!["x".repeat(100); 50]);
        let gzip = HeaderValue::from_static("gzip, deflate");
        let resp = compress(Some(&gzip), big());
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        let Body::Binary(bytes) = resp.body() else {
            panic!("not binary")
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        assert_eq!(
            text,
            serde_json::to_string(&vec!["x".repeat(100); 50]).unwrap()
        );
        assert!(
            compress(None, big())
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_none()
        );
        let refused = HeaderValue::from_static("gzip;q=0, identity");
        assert!(
            compress(Some(&refused), big())
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_none()
        );
        let small = compress(Some(&gzip), message(StatusCode::OK, "hi"));
        assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
    }

    /// Lists large enough to go on in kept buffers (and gzipped into one) come out as
    /// serde_json writes them, each time, whatever an earlier, longer list left behind.
    #[test]
    fn large_lists_are_written_whole_in_kept_buffers() {
        let text = |body: &Body| match body {
            Body::Text(text) => text.clone(),
            Body::Binary(bytes) => {
                let mut text = String::new();
                let mut gunzip = flate2::read::GzDecoder::new(&bytes[..]);
                std::io::Read::read_to_string(&mut gunzip, &mut text).unwrap();
                text
            }
            _ => panic!("no body"),
        };
        let gzip = HeaderValue::from_static("gzip");
        for rows in [80_000, 30_000, 3_000, 80_000] {
            let items: Vec<_> = (0..rows)
                .map(|i| json!({ "id": i, "name": format!("Zoë \"{i}\"") }))
                .collect();
            let list = || {
                let mut list = JsonArray::default();
                for item in &items {
                    list.push_written(|text| {
                        text.push_str(&serde_json::to_string(item)?);
                        Ok(())
                    });
                }
                list.into_response().unwrap()
            };
            let expected = serde_json::to_string(&items).unwrap();
            let plain = list();
            assert_eq!(text(plain.body()), expected, "{rows} rows");
            spare::keep(text(plain.body()).into_bytes());
            let gzipped = compress(Some(&gzip), list());
            assert_eq!(
                gzipped.headers().contains_key(header::CONTENT_ENCODING),
                expected.len() >= COMPRESS_FROM_BYTES
            );
            assert_eq!(text(gzipped.body()), expected, "{rows} rows, gzip");
        }
    }

    #[test]
    fn leading_slashes_fold_into_one() {
        assert_eq!(normalized_path("//api/v1/auth/login"), "/api/v1/auth/login");
        assert_eq!(normalized_path("///health"), "/health");
        assert_eq!(normalized_path("/"), "/");
    }

    #[test]
    fn falsy_and_missing_bodies_are_no_input() {
        for body in ["", "  ", "{}", "[]", "null", "false", "0", "0.0", "\"\""] {
            let err = required_json_body(&json_request(body)).unwrap_err();
            assert!(
                matches!(&err, ApiError::BadRequest(m) if m == NO_INPUT),
                "{body}: {err:?}"
            );
        }
        let mut req = json_request("{\"a\": 1}");
        req.headers_mut().remove(header::CONTENT_TYPE);
        assert!(required_json_body(&req).is_err());
    }

    #[test]
    fn malformed_json_is_400_with_a_message() {
        let err = required_json_body(&json_request("{nope")).unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(m) if m.starts_with("Failed to decode JSON")));
    }

    #[test]
    fn numbers_too_large_for_a_float_are_valid_json() {
        let body = required_json_body(&json_request(
            r#"{"amount": 1e400, "time": -1e400, "nested": [{"x": 2e999}], "id": 7}"#,
        ))
        .unwrap();
        assert_eq!(body["amount"], json!(f64::MAX));
        assert_eq!(body["time"], json!(-f64::MAX));
        // validation only looks at a member's type: the nested number is not kept
        assert_eq!(body["nested"], json!([]));
        assert_eq!(body["id"], json!(7));
        for truthy in ["1e400", "[1e400]", "[[1e400]]"] {
            assert!(
                required_json_body(&json_request(truthy))
                    .unwrap()
                    .is_empty()
            );
        }
        // any other fault stays a 400, wherever the out-of-range number is
        for bad in [
            r#"{"username": "\ud800", "password": "x"}"#,
            r#"{"n": 1e400, "username": "\ud800"}"#,
        ] {
            let err = required_json_body(&json_request(bad)).unwrap_err();
            assert!(
                matches!(err, ApiError::BadRequest(m) if m.starts_with("Failed to decode JSON"))
            );
        }
        let deep = format!("{{\"a\": {}1e400{}}}", "[".repeat(120), "]".repeat(120));
        assert_eq!(
            required_json_body(&json_request(&deep)).unwrap()["a"],
            json!([])
        );
        // bad syntax is still a 400 with serde_json's own description
        let err = required_json_body(&json_request(r#"{"amount": 1e400,}"#)).unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(m) if m.starts_with("Failed to decode JSON")));
    }

    #[test]
    fn truthy_non_objects_go_on_to_validation() {
        assert!(required_json_body(&json_request("[1]")).unwrap().is_empty());
        assert_eq!(
            required_json_body(&json_request("{\"a\":1}"))
                .unwrap()
                .len(),
            1
        );
    }
}
