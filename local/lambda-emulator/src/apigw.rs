//! API Gateway's part (HTTP API, payload format 2.0): the event a request becomes, the
//! HTTP response a function's answer becomes, and the answers API Gateway gives by itself.

use std::net::IpAddr;
use std::ops::Range;
use std::time::SystemTime;

use std::borrow::Cow;
use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use aws_lambda_events::http::{StatusCode, Uri, Version, request};
use aws_lambda_events::query_map::QueryMap;
use base64_simd::STANDARD as BASE64;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{body, ids};

/// HTTP API's payload quota for a request body.
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;

/// What an HTTP response is made of, before it meets the connection.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// API Gateway's own answers: `{"message": "..."}`.
    pub fn gateway(status: StatusCode, message: &str) -> Self {
        Self::json(
            status,
            Bytes::from(serde_json::json!({ "message": message }).to_string()),
        )
    }

    /// An `application/json` answer.
    fn json(status: StatusCode, body: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn internal_error() -> Self {
        Self::gateway(StatusCode::BAD_GATEWAY, "Internal server error")
    }

    pub fn unavailable() -> Self {
        Self::gateway(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    }

    pub fn too_large() -> Self {
        Self::gateway(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
    }

    pub fn not_found() -> Self {
        Self::gateway(StatusCode::NOT_FOUND, "Not Found")
    }

    /// The Lambda service refused the invocation (here: the function's binary is missing).
    pub fn invoke_refused() -> Self {
        Self::gateway(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

/// Who asked, and when: what the request line and body do not say.
pub struct Origin<'a> {
    pub source_ip: IpAddr,
    pub request_id: &'a str,
    pub now: SystemTime,
}

/// The event's top level as API Gateway sends it. The request context is
/// `aws_lambda_events`' own type; the top level is spelled out because that crate's
/// request type also carries fields of other payloads (`httpMethod`, `methodArn`, ...),
/// which would reach the function as noise. The body is borrowed, not copied.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    version: &'static str,
    route_key: &'static str,
    raw_path: &'a str,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cookies: Vec<String>,
    headers: JoinedHeaders<'a>,
    #[serde(
        skip_serializing_if = "QueryMap::is_empty",
        serialize_with = "aws_lambda_events::query_map::serde::aws_api_gateway_v2::serialize_query_string_parameters"
    )]
    query_string_parameters: QueryMap,
    request_context: ApiGatewayV2httpRequestContext,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Cow<'a, str>>,
    is_base64_encoded: bool,
}

/// API Gateway serves a request only for a host it has a domain for: one whose host is
/// not a plain host name (or address) and optional port is answered 400 by the gateway,
/// and nothing of it reaches a function. lambda_http builds each request's URI from the
/// event's host with the `url` crate and panics when that fails: a forged `Host: a b` was a
/// 502. Checked with the same crate, after a strict character check (no user info, path,
/// percent-escapes or non-ASCII bytes).
pub fn check_host(headers: &HeaderMap, uri: &Uri) -> Result<(), String> {
    if headers.get_all(header::HOST).iter().nth(1).is_some() {
        return Err("more than one Host header".into());
    }
    let Some(host) = request_host(headers, uri) else {
        return Ok(());
    };
    let plain = host
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(b));
    let parses = || {
        std::str::from_utf8(host)
            .is_ok_and(|host| url::Url::parse(&format!("https://{host}/")).is_ok())
    };
    if host.is_empty() || !plain || !parses() {
        return Err(format!("invalid host {:?}", String::from_utf8_lossy(host)));
    }
    Ok(())
}

/// The host the event names: the `Host` header, else the request target's authority (a
/// client may send `GET http://host/path` and no `Host`).
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a [u8]> {
    headers
        .get(header::HOST)
        .map(HeaderValue::as_bytes)
        .or_else(|| uri.authority().map(|a| a.as_str().as_bytes()))
}

/// API Gateway sets `X-Forwarded-Proto` itself; here nginx sets it in front (`$scheme`).
/// A value that is not a scheme lambda_http can build a URI with is not passed on (it
/// then assumes https, as behind API Gateway).
pub fn drop_forged_forwarded_proto(headers: &mut HeaderMap) {
    let name = HeaderName::from_static("x-forwarded-proto");
    let mut values = headers.get_all(&name).iter();
    let valid = match (values.next(), values.next()) {
        (Some(value), None) => {
            value.as_bytes().eq_ignore_ascii_case(b"https")
                || value.as_bytes().eq_ignore_ascii_case(b"http")
        }
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !valid {
        headers.remove(&name);
    }
}

/// The event API Gateway sends for a request: `rawPath` exactly as received, cookies out of
/// the headers, repeated headers and query parameters joined with commas, and a body that
/// is not valid UTF-8 in base64 with `isBase64Encoded`.
pub fn event(parts: &request::Parts, body: &[u8], origin: &Origin) -> serde_json::Result<Vec<u8>> {
    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or("");
    let host = request_host(&parts.headers, &parts.uri)
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .unwrap_or_else(|| "localhost".into());

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some("$default".into());
    context.account_id = Some(crate::lambda::ACCOUNT_ID.into());
    context.stage = Some("$default".into());
    context.request_id = Some(origin.request_id.to_string());
    context.apiid = Some("local".into());
    context.domain_prefix = Some(host.split('.').next().unwrap_or_default().to_string());
    context.domain_name = Some(host);
    context.time = Some(ids::clf_time(origin.now));
    context.time_epoch = ids::epoch_ms(origin.now) as i64;
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(raw_path.to_string());
    http.protocol = Some(protocol(parts.version).into());
    http.source_ip = Some(origin.source_ip.to_string());
    http.user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    context.http = http;

    let (body, is_base64_encoded) = match body.is_empty() {
        true => (None, false),
        false => match std::str::from_utf8(body) {
            Ok(text) => (Some(Cow::Borrowed(text)), false),
            Err(_) => (Some(Cow::Owned(BASE64.encode_to_string(body))), true),
        },
    };
    let event = Event {
        version: "2.0",
        route_key: "$default",
        raw_path,
        raw_query_string: raw_query,
        cookies: cookies(&parts.headers),
        headers: JoinedHeaders(&parts.headers),
        query_string_parameters: raw_query.parse::<QueryMap>().unwrap_or_default(),
        request_context: context,
        body,
        is_base64_encoded,
    };
    let mut out =
        Vec::with_capacity(1024 + event.body.as_ref().map_or(0, |b| b.len() + b.len() / 8));
    serde_json::to_writer(&mut out, &event)?;
    Ok(out)
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `Cookie` headers become the `cookies` list, one entry per cookie.
fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One value per header name (names are lower case already), repeated headers joined with
/// commas; the cookies travel apart. Bytes that are not UTF-8 arrive as U+FFFD.
struct JoinedHeaders<'a>(&'a HeaderMap);

impl Serialize for JoinedHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let headers = self.0;
        let mut map = serializer.serialize_map(None)?;
        for name in headers.keys() {
            if name == header::COOKIE {
                continue;
            }
            let mut values = headers.get_all(name).iter();
            let first = values.next().map(|v| String::from_utf8_lossy(v.as_bytes()));
            let mut text = first.unwrap_or_default();
            for more in values {
                let joined = text.to_mut();
                joined.push(',');
                joined.push_str(&String::from_utf8_lossy(more.as_bytes()));
            }
            map.serialize_entry(name.as_str(), &text)?;
        }
        map.end()
    }
}

/// Headers a function may not set: the connection's framing is the gateway's business.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
            | "proxy-connection"
    )
}

/// A function's answer as API Gateway maps it (payload format 2.0): an object with a
/// `statusCode` is a response (headers, `multiValueHeaders`, `cookies` as `Set-Cookie`,
/// a base64 body decoded); any other JSON value is a 200 `application/json` whose body is
/// that JSON (a JSON string: its text). `Err` says why the answer is malformed (→ 502).
pub fn response(payload: Bytes) -> Result<Answer, String> {
    // An object's members are read as they are written: the body (megabytes of base64 for
    // a large list) is decoded from the payload itself, not copied into a JSON value first.
    let Ok(members) = serde_json::from_slice::<HashMap<String, &RawValue>>(&payload) else {
        let value: Value =
            serde_json::from_slice(&payload).map_err(|e| format!("the answer is not JSON: {e}"))?;
        return Ok(plain(match value {
            Value::String(text) => Bytes::from(text),
            _ => payload,
        }));
    };
    let mut object = Map::new();
    let mut body = None;
    for (name, raw) in members {
        match name.as_str() {
            "body" => body = Some(raw),
            _ => {
                let value = serde_json::from_str(raw.get())
                    .map_err(|e| format!("the answer is not JSON: {e}"))?;
                object.insert(name, value);
            }
        }
    }
    let Some(status) = object.remove("statusCode") else {
        return Ok(plain(payload));
    };
    let status = status_code(&status)?;
    let headers = response_headers(&mut object)?;
    let base64 = matches!(object.get("isBase64Encoded"), Some(Value::Bool(true)));
    let body = match body.filter(|_| base64).and_then(unescaped_string) {
        Some(text) => {
            let start = text.as_ptr() as usize - payload.as_ptr() as usize;
            let range = start..start + text.len();
            decode_in_place(payload, range)?
        }
        None => response_body(body, base64)?,
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// `statusCode`, a number or its text: a final HTTP status.
fn status_code(status: &Value) -> Result<StatusCode, String> {
    status
        .as_u64()
        .or_else(|| status.as_str().and_then(|s| s.parse().ok()))
        .and_then(|code| u16::try_from(code).ok())
        // A final status: 1xx cannot end an exchange (hyper would send a bare 500 instead,
        // or switch protocols for 101), and HTTP has none above 599.
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("statusCode {status} is no final HTTP status"))
}

/// `multiValueHeaders`, then `headers` (a single value replaces the multi-valued ones of
/// the same name), then `cookies` as `Set-Cookie`.
fn response_headers(object: &mut Map<String, Value>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(map)) = object.remove("multiValueHeaders") {
        for (name, values) in map {
            let name = header_name(&name)?;
            for value in values.as_array().into_iter().flatten() {
                append(&mut headers, &name, value)?;
            }
        }
    }
    if let Some(Value::Object(map)) = object.remove("headers") {
        for (name, value) in map {
            let name = header_name(&name)?;
            headers.remove(&name);
            append(&mut headers, &name, &value)?;
        }
    }
    if let Some(Value::Array(cookies)) = object.remove("cookies") {
        for cookie in cookies {
            append(&mut headers, &header::SET_COOKIE, &cookie)?;
        }
    }
    Ok(headers)
}

/// `body`: text, or bytes in base64 when `isBase64Encoded`; none is empty.
fn response_body(body: Option<&RawValue>, base64: bool) -> Result<Bytes, String> {
    let Some(raw) = body else {
        return Ok(Bytes::new());
    };
    match serde_json::from_str(raw.get()).map_err(|e| format!("the body: {e}"))? {
        Value::Null => Ok(Bytes::new()),
        Value::String(text) if base64 => decode_base64(text.as_bytes()),
        Value::String(text) => Ok(Bytes::from(text)),
        other => Err(format!("the body is not a string but {other}")),
    }
}

/// A JSON string with no escape in it, as the text between its quotes (base64 needs none).
fn unescaped_string(raw: &RawValue) -> Option<&str> {
    let text = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    (!text.contains('\\')).then_some(text)
}

/// The base64 at `range` of `payload`, decoded where it lies: each group of bytes is
/// shorter than its base64, so it lands before what is still to be read. A second buffer
/// only when the payload's is shared.
fn decode_in_place(payload: Bytes, range: Range<usize>) -> Result<Bytes, String> {
    match payload.try_into_mut() {
        Ok(mut buffer) => {
            let decoded = BASE64
                .decode_inplace(&mut buffer[range.clone()])
                .map_err(not_base64)?
                .len();
            let body = body::returning_when_sent(Vec::from(buffer));
            Ok(body.slice(range.start..range.start + decoded))
        }
        Err(shared) => decode_base64(&shared[range]),
    }
}

fn decode_base64(text: &[u8]) -> Result<Bytes, String> {
    BASE64
        .decode_to_vec(text)
        .map(Bytes::from)
        .map_err(not_base64)
}

fn not_base64(e: base64_simd::Error) -> String {
    format!("isBase64Encoded, but the body is not base64: {e}")
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header name {name:?}"))
}

/// Appends a function's header value; a value with a control character (CR, LF: a header
/// or `Set-Cookie` smuggled in) makes the whole answer malformed.
fn append(headers: &mut HeaderMap, name: &HeaderName, value: &Value) -> Result<(), String> {
    if is_hop_by_hop(name) {
        return Ok(());
    }
    let text: Cow<str> = match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::Null => return Ok(()),
        other => return Err(format!("header {name}: {other} is no header value")),
    };
    let value =
        HeaderValue::from_str(&text).map_err(|_| format!("header {name}: bad value {text:?}"))?;
    headers.append(name.clone(), value);
    Ok(())
}

/// A function's answer without a `statusCode`: a 200 carrying it as JSON.
fn plain(body: Bytes) -> Answer {
    Answer::json(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::http::Request;
    use std::time::{Duration, UNIX_EPOCH};

    fn with(name: &'static str, values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(name, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    #[test]
    fn hosts_a_gateway_could_serve_pass() {
        for host in [
            &b"api.example.com"[..],
            b"localhost:9000",
            b"127.0.0.1",
            b"[::1]:8443",
            b"functions_1",
            b"xn--exmple-cua.com",
        ] {
            assert_eq!(
                check_host(&with("host", &[host]), &Uri::from_static("/")),
                Ok(()),
                "{host:?}"
            );
        }
        let none = HeaderMap::new();
        assert_eq!(
            check_host(&none, &Uri::from_static("/")),
            Ok(()),
            "none (HTTP/1.0)"
        );
        let target = Uri::from_static("http://api.example.com/x");
        assert_eq!(check_host(&none, &target), Ok(()), "the target's authority");
    }

    /// Each of these made lambda_http panic (a 502) before the check.
    #[test]
    fn forged_hosts_are_refused() {
        for host in [
            &b"a b"[..],
            b"a%00b",
            b"h:99999",
            b"[::1",
            b"1.2.3.999",
            b"\xff\xfe",
            "ex\u{e4}mple.com".as_bytes(),
            b"user@host",
            b"host/path",
            b"",
        ] {
            let origin_form = Uri::from_static("/");
            assert!(
                check_host(&with("host", &[host]), &origin_form).is_err(),
                "{host:?}"
            );
        }
        let two = with("host", &[b"a.example", b"b.example"]);
        assert!(check_host(&two, &Uri::from_static("/")).is_err());
        // No Host: the request target's authority is the event's host, and is checked.
        for target in [
            "http://h:99999/x",
            "http://1.2.3.999/x",
            "http://user@host/x",
        ] {
            let target = Uri::from_static(target);
            assert!(check_host(&HeaderMap::new(), &target).is_err(), "{target}");
        }
    }

    #[test]
    fn only_a_scheme_passes_as_x_forwarded_proto() {
        for (values, kept) in [
            (&[&b"https"[..]][..], true),
            (&[&b"HTTP"[..]][..], true),
            (&[&b"a b"[..]][..], false),
            (&[&b"ftp://"[..]][..], false),
            (&[&b"https"[..], &b"http"[..]][..], false),
        ] {
            let mut headers = with("x-forwarded-proto", values);
            drop_forged_forwarded_proto(&mut headers);
            assert_eq!(
                headers.contains_key("x-forwarded-proto"),
                kept,
                "{values:?}"
            );
        }
    }

    fn build(request: Request<()>, body: &[u8]) -> Value {
        let (parts, ()) = request.into_parts();
        let origin = Origin {
            source_ip: "203.0.113.7".parse().unwrap(),
            request_id: "req-1",
            now: UNIX_EPOCH + Duration::from_millis(1_583_348_638_390),
        };
        serde_json::from_slice(&event(&parts, body, &origin).unwrap()).unwrap()
    }

    #[test]
    fn the_event_is_filled_as_api_gateway_fills_it() {
        let request = Request::post("////api/v1/form?b=2&a=1&a=x%20y")
            .header("Host", "api.example.com")
            .header("User-Agent", "probe/1")
            .header("Accept", "text/html")
            .header("accept", "application/json")
            .header("Cookie", "a=1; b=2")
            .header("cookie", "c=3")
            .header("X-Empty", "")
            .body(())
            .unwrap();
        let e = build(request, br#"{"x":1}"#);
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "////api/v1/form");
        assert_eq!(e["rawQueryString"], "b=2&a=1&a=x%20y");
        assert_eq!(e["queryStringParameters"]["a"], "1,x y");
        assert_eq!(e["queryStringParameters"]["b"], "2");
        assert_eq!(e["cookies"], serde_json::json!(["a=1", "b=2", "c=3"]));
        assert_eq!(e["headers"]["accept"], "text/html,application/json");
        assert_eq!(e["headers"]["host"], "api.example.com");
        assert_eq!(e["headers"]["x-empty"], "");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["body"], r#"{"x":1}"#);
        assert_eq!(e["isBase64Encoded"], false);
        let c = &e["requestContext"];
        assert_eq!(c["accountId"], crate::lambda::ACCOUNT_ID);
        assert_eq!(c["apiId"], "local");
        assert_eq!(c["domainName"], "api.example.com");
        assert_eq!(c["domainPrefix"], "api");
        assert_eq!(c["requestId"], "req-1");
        assert_eq!(c["routeKey"], "$default");
        assert_eq!(c["stage"], "$default");
        assert_eq!(c["time"], "04/Mar/2020:19:03:58 +0000");
        assert_eq!(c["timeEpoch"], 1_583_348_638_390_i64);
        assert_eq!(c["http"]["method"], "POST");
        assert_eq!(c["http"]["path"], "////api/v1/form");
        assert_eq!(c["http"]["protocol"], "HTTP/1.1");
        assert_eq!(c["http"]["sourceIp"], "203.0.113.7");
        assert_eq!(c["http"]["userAgent"], "probe/1");
    }

    #[test]
    fn bodies_that_are_not_utf8_travel_in_base64_and_empty_ones_not_at_all() {
        let e = build(Request::post("/a").body(()).unwrap(), &[0xff, 0x00, 0x80]);
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wCA");
        let e = build(Request::get("/a").body(()).unwrap(), b"");
        assert!(e.get("body").is_none());
        assert!(e.get("cookies").is_none());
        assert!(e.get("queryStringParameters").is_none());
        assert_eq!(e["rawQueryString"], "");
    }

    #[test]
    fn the_event_reads_back_as_an_http_api_request_and_nothing_else() {
        let request = Request::put("//health?x=1&x=2")
            .header("host", "h")
            .header("cookie", "a=1")
            .body(())
            .unwrap();
        let e = build(request, b"body");
        // Only the fields API Gateway sends.
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "body",
                "cookies",
                "headers",
                "isBase64Encoded",
                "queryStringParameters",
                "rawPath",
                "rawQueryString",
                "requestContext",
                "routeKey",
                "version"
            ]
        );
        // lambda_http tries REST (v1) first: the event must not pass for one.
        let v1: Result<aws_lambda_events::apigw::ApiGatewayProxyRequest, _> =
            serde_json::from_value(e.clone());
        assert!(v1.is_err());
        let v2: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(e).unwrap();
        assert_eq!(v2.raw_path.as_deref(), Some("//health"));
        assert_eq!(v2.raw_query_string.as_deref(), Some("x=1&x=2"));
        assert_eq!(v2.query_string_parameters.all("x"), Some(vec!["1", "2"]));
        assert_eq!(v2.cookies, Some(vec!["a=1".to_string()]));
        assert_eq!(v2.headers["host"], "h");
        assert_eq!(v2.body.as_deref(), Some("body"));
        assert_eq!(
            v2.request_context.http.method,
            aws_lambda_events::http::Method::PUT
        );
        assert_eq!(
            v2.request_context.http.source_ip.as_deref(),
            Some("203.0.113.7")
        );
    }

    fn answer(payload: &str) -> Answer {
        response(Bytes::from(payload.to_string())).unwrap()
    }

    #[test]
    fn a_response_object_maps_back() {
        let a = answer(
            r#"{"statusCode":201,"headers":{"content-type":"text/plain","x-n":5,"content-length":"999"},
                "multiValueHeaders":{"x-m":["1","2"]},"cookies":["a=1; Path=/","b=2"],
                "body":"hi","isBase64Encoded":false}"#,
        );
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(a.headers["content-type"], "text/plain");
        assert_eq!(a.headers["x-n"], "5");
        assert!(a.headers.get("content-length").is_none());
        let multi: Vec<_> = a.headers.get_all("x-m").iter().collect();
        assert_eq!(multi, ["1", "2"]);
        let cookies: Vec<_> = a.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(a.body, "hi");
        // The edges of the final statuses, as numbers or as text.
        assert_eq!(answer(r#"{"statusCode":200}"#).status, StatusCode::OK);
        assert_eq!(answer(r#"{"statusCode":"599"}"#).status.as_u16(), 599);
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let a = answer(r#"{"statusCode":200,"body":"/wCA","isBase64Encoded":true}"#);
        assert_eq!(&a.body[..], &[0xff, 0x00, 0x80]);
        // Escapes are undone first (some encoders write `/` as `\/`); the last of two
        // members of one name counts, as in a JSON value; `null` is no body.
        let a = answer(r#"{"isBase64Encoded":true,"body":"\/wC\u0041","statusCode":200}"#);
        assert_eq!(&a.body[..], &[0xff, 0x00, 0x80]);
        let a = answer(r#"{"statusCode":200,"body":"eA==","body":"/wCA","isBase64Encoded":true}"#);
        assert_eq!(&a.body[..], &[0xff, 0x00, 0x80]);
        let a = answer(r#"{"statusCode":200,"body":"/wCA","isBase64Encoded":false}"#);
        assert_eq!(a.body, "/wCA");
        assert!(
            answer(r#"{"statusCode":200,"body":null,"isBase64Encoded":true}"#)
                .body
                .is_empty()
        );
        // A large body, decoded where it lies.
        let bytes: Vec<u8> = (0..=255u8).cycle().take(3_000_000).collect();
        let payload = format!(
            r#"{{"statusCode":200,"isBase64Encoded":true,"body":"{}"}}"#,
            BASE64.encode_to_string(&bytes)
        );
        assert_eq!(&answer(&payload).body[..], &bytes[..]);
        // Decoded into a buffer of its own when the payload's is shared.
        let shared = Bytes::from(payload);
        let also_held = shared.clone();
        assert_eq!(&response(shared).unwrap().body[..], &bytes[..]);
        assert!(
            also_held
                .starts_with(b"{\"statusCode\":200,\"isBase64Encoded\":true,\"body\":\"AAECAw")
        );
        let a = answer(r#"{"statusCode":204}"#);
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        assert!(a.body.is_empty());
    }

    #[test]
    fn json_without_a_status_code_is_a_200_with_that_json() {
        let a = answer(r#"{"hello":"world"}"#);
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(a.body, r#"{"hello":"world"}"#);
        assert_eq!(answer(r#""Hello from Lambda!""#).body, "Hello from Lambda!");
        assert_eq!(answer("[1,2]").body, "[1,2]");
        assert_eq!(answer("null").body, "null");
    }

    #[test]
    fn malformed_answers_are_refused() {
        for payload in [
            "not json",
            r#"{"statusCode":"abc"}"#,
            r#"{"statusCode":99}"#,
            r#"{"statusCode":100}"#,
            r#"{"statusCode":101}"#,
            r#"{"statusCode":199}"#,
            r#"{"statusCode":600}"#,
            r#"{"statusCode":999}"#,
            r#"{"statusCode":1000}"#,
            r#"{"statusCode":-200}"#,
            r#"{"statusCode":200,"body":{"a":1}}"#,
            r#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
            r#"{"statusCode":200,"body":"\u0021!","isBase64Encoded":true}"#,
            r#"{"statusCode":200,"body":7,"isBase64Encoded":true}"#,
            r#"{"statusCode":200,"body":"/wCA","isBase64Encoded":true"#,
            r#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
            r#"{"statusCode":200,"headers":{"x":"a\nb"}}"#,
            r#"{"statusCode":200,"headers":{"x":"a\r\nset-cookie: evil=1"}}"#,
            r#"{"statusCode":200,"multiValueHeaders":{"x":["ok","a\r\nb: c"]}}"#,
            r#"{"statusCode":200,"multiValueHeaders":{"bad name":["x"]}}"#,
            r#"{"statusCode":200,"cookies":["a=1\r\nx-evil: 1"]}"#,
            r#"{"statusCode":200,"cookies":["a=1\nb=2"]}"#,
            r#"{"statusCode":200,"cookies":[{"a":1}]}"#,
        ] {
            assert!(response(Bytes::from(payload)).is_err(), "{payload}");
        }
    }

    #[test]
    fn gateway_answers() {
        let a = Answer::internal_error();
        assert_eq!(a.status, StatusCode::BAD_GATEWAY);
        assert_eq!(a.body, r#"{"message":"Internal server error"}"#);
        assert_eq!(
            Answer::unavailable().body,
            r#"{"message":"Service Unavailable"}"#
        );
        assert_eq!(Answer::too_large().status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
