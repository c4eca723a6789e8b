//! The emulator's behaviour, through its binary and the probe function: API Gateway's
//! event and answers, the two listeners, processes like Lambda's, logs, schedules, SIGTERM.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Emulator, Options, get, post, send};
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The emulator over the default functions and routes, with these arguments.
fn started_with(list: &[&str]) -> Emulator {
    Emulator::start(Options {
        args: args(list),
        ..Options::default()
    })
}

/// The pid of the probe process that answers a plain `GET /probe`.
async fn probe_pid(emulator: &Emulator) -> Value {
    get(&emulator.client, &emulator.url("/probe")).await.json()["pid"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_is_filled_as_api_gateway_fills_it() {
    let emulator = Emulator::start(Options::default());
    let request = Request::get(emulator.url("////raw?b=2&a=1&a=x%20y"))
        .header("user-agent", "probe-test/1")
        .header("accept", "text/html")
        .header("Accept", "application/json")
        .header("cookie", "c1=v1; c2=v2")
        .body(Full::default())
        .unwrap();
    let answer = send(&emulator.client, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let event: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["rawPath"], "////raw");
    assert_eq!(event["rawQueryString"], "b=2&a=1&a=x%20y");
    assert_eq!(
        event["queryStringParameters"],
        json!({"a": "1,x y", "b": "2"})
    );
    assert_eq!(event["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(event["headers"]["accept"], "text/html,application/json");
    assert_eq!(event["headers"]["host"], emulator.public.to_string());
    assert!(event["headers"].get("cookie").is_none());
    assert!(event.get("body").is_none());
    assert_eq!(event["isBase64Encoded"], false);
    let context = &event["requestContext"];
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["path"], "////raw");
    assert_eq!(context["http"]["protocol"], "HTTP/1.1");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["http"]["userAgent"], "probe-test/1");
    assert_eq!(context["stage"], "$default");
    assert_eq!(context["routeKey"], "$default");
    assert_eq!(context["domainName"], emulator.public.to_string());
    // The gateway's request id is the invocation's, and the response names it.
    assert_eq!(
        context["requestId"].as_str().unwrap(),
        answer.headers["apigw-requestid"].to_str().unwrap()
    );
    let time = context["time"].as_str().unwrap();
    assert!(time.ends_with(" +0000") && time.len() == 26, "{time}");
    let epoch = context["timeEpoch"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now - epoch < 10_000);
    // lambda_http reads it as an HTTP API request, with the TCP peer as the client.
    let seen = get(&emulator.client, &emulator.url("/probe?x=1"))
        .await
        .json();
    assert_eq!(seen["context"], "ApiGatewayV2");
    assert_eq!(seen["source_ip"], "127.0.0.1");
    assert_eq!(seen["query"], "x=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_utf8_arrives_in_base64() {
    let emulator = Emulator::start(Options::default());
    let bytes: &'static [u8] = &[0xff, 0xfe, 0x00, b'a'];
    let event = post(&emulator.client, &emulator.url("/raw"), bytes)
        .await
        .json();
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "//4AYQ==");
    let text = post(&emulator.client, &emulator.url("/raw"), "héllo")
        .await
        .json();
    assert_eq!(text["isBase64Encoded"], false);
    assert_eq!(text["body"], "héllo");
    // lambda_http decodes it back into the same bytes.
    let seen = post(&emulator.client, &emulator.url("/probe"), bytes)
        .await
        .json();
    assert_eq!(seen["body_kind"], "binary");
    assert_eq!(seen["body_len"], 4);
    let echoed = post(&emulator.client, &emulator.url("/probe?echo"), bytes).await;
    assert_eq!(echoed.status, StatusCode::OK);
    assert_eq!(&echoed.body[..], bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_run_of_leading_slashes_routes_like_one() {
    let emulator = Emulator::start(Options::default());
    for path in [
        "/probe",
        "//probe",
        "///probe",
        "////probe",
        "//////////probe",
    ] {
        let answer = get(&emulator.client, &emulator.url(path)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        let seen = answer.json();
        assert_eq!(seen["function"], "probe", "{path}");
        assert_eq!(seen["raw_path"], path);
    }
    // Only the leading run: inner slashes are part of the path.
    let seen = get(&emulator.client, &emulator.url("//probe//"))
        .await
        .json();
    assert_eq!(seen["function"], "fallback");
    let four = emulator.find_log("request", |r| r["path"] == "////probe");
    assert_eq!(four["route"], "/probe");
    assert_eq!(four["function"], "probe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cors_headers_even_with_an_origin() {
    let emulator = Emulator::start(Options::default());
    for method in [Method::GET, Method::OPTIONS, Method::POST] {
        let request = Request::builder()
            .method(method.clone())
            .uri(emulator.url("/probe"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .body(Full::default())
            .unwrap();
        let answer = send(&emulator.client, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{method}");
        let cors: Vec<_> = answer
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{method}: {cors:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_and_invoke_apis_are_not_on_the_public_address() {
    let emulator = Emulator::start(Options::default());
    let paths = [
        "/2018-06-01/runtime/invocation/next",
        "/.rt/2018-06-01/runtime/invocation/next",
        "/probe/x/2018-06-01/runtime/invocation/next",
        "/2015-03-31/functions/probe/invocations",
        "/2015-03-31/functions/fallback/invocations",
    ];
    for path in paths {
        for method in [Method::GET, Method::POST] {
            let request = Request::builder()
                .method(method.clone())
                .uri(emulator.url(path))
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            let answer = send(&emulator.client, request).await;
            assert_eq!(answer.status, StatusCode::OK, "{method} {path}");
            let seen = answer.json();
            assert_eq!(seen["function"], "fallback", "{method} {path}");
            assert_eq!(seen["path"], path);
        }
    }
    // The internal API wants a runtime's own token.
    let stolen = get(
        &emulator.client,
        &emulator.internal_url("/probe/guess/2018-06-01/runtime/invocation/next"),
    )
    .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_api_wants_the_callers_own_token_and_takes_paths_literally() {
    let emulator = Emulator::start(Options::default());
    let c = &emulator.client;
    let seen = get(c, &emulator.url("/probe")).await.json();
    let runtime_api = seen["runtime_api"].as_str().unwrap();
    let token = runtime_api.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 24, "{runtime_api}");
    let next = "2018-06-01/runtime/invocation/next";
    for path in [
        // Another function's name with probe's token, probe's name with a wrong token.
        format!("/fallback/{token}/{next}"),
        format!("/probe/{}/{next}", token.to_uppercase()),
        format!("/probe/{}0/{next}", token),
        format!("/probe/{}/{next}", &token[..23]),
        // Percent-encoding is not decoded: it names no function.
        format!("/%70robe/{token}/{next}"),
    ] {
        let answer = get(c, &emulator.internal_url(&path)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Dot segments are not resolved: a valid prefix leads nowhere else.
    for path in [
        format!("/probe/{token}/../fallback/{token}/{next}"),
        format!("/probe/{token}/2018-06-01/runtime/../runtime/invocation/next"),
        format!("/probe/{token}/2018-06-01/runtime/invocation/%2E%2E/next"),
    ] {
        let answer = get(c, &emulator.internal_url(&path)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    // With the token, an answer for an invocation not running on that instance is refused.
    let forged = post(
        c,
        &emulator.internal_url(&format!(
            "/probe/{token}/2018-06-01/runtime/invocation/{}/response",
            seen["request_id"].as_str().unwrap()
        )),
        r#"{"statusCode":200,"body":"forged"}"#,
    )
    .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert_eq!(forged.json()["errorType"], "InvalidRequestID");
}

/// Writes `request` on a new connection while reading (so that a refusal is read even when
/// the server stops reading) and returns all that comes back until the server closes the
/// connection, or 10 s have passed.
async fn raw_exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // The write half stays open until the end: hyper closes a half-closed connection.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&request).await;
        write
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n @ 1..) = read.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    drop(writer.await);
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_on_the_public_listener_are_refused_by_http_alone() {
    let emulator = Emulator::start(Options::default());
    let at = emulator.public;
    let request = |extra: &str| format!("GET /probe HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    // More than 100 headers: 431, and no function runs.
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw_exchange(at, request(&many).into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    // More header bytes than hyper buffers (about 400 KB): 431 as well.
    let huge = format!("X-Big: {}\r\n", "a".repeat(600 * 1024));
    let answer = raw_exchange(at, request(&huge).into_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 "),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // A control character in a value (a smuggled line), a space in a name: 400.
    for bad in ["X-A: a\x01b\r\n", "X-A: a\rX-B: b\r\n", "Bad Name: x\r\n"] {
        let answer = raw_exchange(at, request(bad).into_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{bad:?}: {answer}");
    }
    assert!(emulator.log_of("request").is_empty(), "no function ran");
    // Bytes that are not UTF-8 in a value reach the function as U+FFFD.
    let latin = b"GET /probe HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(at, latin.to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let seen: Value = serde_json::from_str(body).unwrap();
    assert_eq!(seen["headers"]["x-latin"], "caf\u{fffd}");

    // HTTP/1.0 is served, named in the event, and the connection closes after the answer.
    let answer = raw_exchange(at, b"GET /raw HTTP/1.0\r\nHost: x\r\n\r\n".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    let event: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(event["requestContext"]["http"]["protocol"], "HTTP/1.0");

    // Pipelined requests are answered in order on their connection.
    let pipelined = "GET /raw?mode=string HTTP/1.1\r\nHost: x\r\n\r\n\
                     GET /raw?mode=plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(at, pipelined.as_bytes().to_vec()).await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{answer}");
    let first = answer.find("just text").expect("the first answer");
    let second = answer
        .find(r#"{"hello":"world"}"#)
        .expect("the second answer");
    assert!(first < second, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_ends_is_a_408_at_the_deadline() {
    let emulator = started_with(&["--instances", "1", "--timeout", "1"]);
    let started = Instant::now();
    let stalled = b"POST /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
    let answer = raw_exchange(emulator.public, stalled.to_vec()).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer.ends_with(r#"{"message":"Request Timeout"}"#),
        "{answer}"
    );
    // Answered at the function's deadline, and the connection closed.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let logged = emulator.find_log("request", |r| r["status"] == 408);
    assert_eq!(logged["function"], "probe");
    // The function never saw it, and serves on.
    assert_eq!(
        get(&emulator.client, &emulator.url("/probe")).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_invocation_holds_no_instance() {
    use tokio::io::AsyncWriteExt;
    let emulator = started_with(&["--instances", "1"]);
    let pid = probe_pid(&emulator).await;
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(emulator.public)
        .await
        .unwrap();
    stream
        .write_all(b"GET /probe?sleep_ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    // The gateway sees the client go (hyper drops the request's future) and logs it as
    // nginx would, 499: had it waited for the function, the line would say 200.
    let gone = emulator.find_log("request", |r| r["status"] == 499);
    assert_eq!(gone["function"], "probe");
    // The instance finishes that invocation (nothing interrupts a function, as in Lambda)
    // and serves the next request.
    let next = get(&emulator.client, &emulator.url("/probe")).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(next.json()["pid"], pid);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_answers_map_back_as_api_gateway_maps_them() {
    let emulator = Emulator::start(Options::default());
    let c = &emulator.client;
    let cookies = get(c, &emulator.url("/raw?mode=cookies")).await;
    assert_eq!(cookies.status, StatusCode::CREATED);
    assert_eq!(cookies.headers["content-type"], "text/plain");
    assert_eq!(cookies.headers["x-one"], "1");
    let many: Vec<_> = cookies.headers.get_all("x-many").iter().collect();
    assert_eq!(many, ["a", "b"]);
    let set: Vec<_> = cookies.headers.get_all("set-cookie").iter().collect();
    assert_eq!(set, ["a=1; Path=/", "b=2"]);
    assert_eq!(cookies.body, "cookies");

    let binary = get(c, &emulator.url("/raw?mode=binary")).await;
    assert_eq!(&binary.body[..], &[0xff, 0x00, 0x80]);

    let plain = get(c, &emulator.url("/raw?mode=plain")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.headers["content-type"], "application/json");
    assert_eq!(plain.json(), json!({"hello": "world"}));
    let string = get(c, &emulator.url("/raw?mode=string")).await;
    assert_eq!(string.body, "just text");

    for mode in ["malformed", "oversize"] {
        let answer = get(c, &emulator.url(&format!("/raw?mode={mode}"))).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{mode}");
        assert_eq!(answer.json(), json!({"message": "Internal server error"}));
    }
    let oversize = emulator.find_log("request", |r| {
        r["status"] == 502 && r["error"].as_str().is_some_and(|e| e.contains("6291456"))
    });
    assert_eq!(oversize["function"], "raw");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_6_mb_is_a_502_and_the_instance_goes_on() {
    let emulator = started_with(&["--instances", "1"]);
    let c = &emulator.client;
    let before = probe_pid(&emulator).await;
    let big = get(c, &emulator.url("/probe?bytes=7000000")).await;
    assert_eq!(big.status, StatusCode::BAD_GATEWAY);
    assert_eq!(big.json(), json!({"message": "Internal server error"}));
    // Just under the limit (the JSON around the body counts too) passes whole.
    let fits = get(c, &emulator.url("/probe?bytes=6000000&seed=9")).await;
    assert_eq!(fits.status, StatusCode::OK);
    assert!(common::pattern::matches(&fits.body, 6_000_000, 9));
    let after = probe_pid(&emulator).await;
    assert_eq!(before, after, "the same process serves on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_invocation_is_a_502_and_a_new_instance_serves_the_next_request() {
    let emulator = started_with(&["--instances", "1"]);
    let c = &emulator.client;
    let first = probe_pid(&emulator).await;
    let started = Instant::now();
    let crash = get(c, &emulator.url("/probe?crash")).await;
    assert_eq!(crash.status, StatusCode::BAD_GATEWAY);
    assert_eq!(crash.json(), json!({"message": "Internal server error"}));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered when the process died"
    );
    let next = get(c, &emulator.url("/probe")).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(next.json()["pid"], first, "a restarted instance");
    // A panic and a returned error are function errors: 502 too, and the process lives.
    for query in ["panic", "error"] {
        let answer = get(c, &emulator.url(&format!("/probe?{query}"))).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{query}");
    }
    let last = get(c, &emulator.url("/probe")).await.json();
    assert_eq!(last["pid"], next.json()["pid"]);
    let crashed = emulator.find_log("request", |r| r["status"] == 502);
    assert!(
        crashed["error"]
            .as_str()
            .unwrap()
            .contains("exit status: 3"),
        "{crashed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_past_its_timeout_is_a_503_and_its_instance_is_replaced() {
    let emulator = started_with(&["--instances", "1", "--timeout", "1"]);
    let c = &emulator.client;
    let first = probe_pid(&emulator).await;
    let started = Instant::now();
    let slow = get(c, &emulator.url("/probe?sleep_ms=5000")).await;
    let took = started.elapsed();
    assert_eq!(slow.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(slow.json(), json!({"message": "Service Unavailable"}));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let next = get(c, &emulator.url("/probe")).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(
        next.json()["pid"],
        first,
        "the killed instance was replaced"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the sleeper did not hold the slot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_invoke_past_its_timeout_reports_the_timeout() {
    let emulator = Emulator::start(Options {
        functions: vec!["probe", "fallback", "recorder"],
        routes: "\"/recorder\" = \"recorder\"\n\"/{*path}\" = \"fallback\"\n",
        args: args(&["--instances", "1", "--timeout", "1"]),
        ..Options::default()
    });
    let url = emulator.internal_url("/2015-03-31/functions/recorder/invocations");
    let started = Instant::now();
    let answer = send(
        &emulator.client,
        invoke_request(url.clone(), None, r#"{"sleep_ms":5000}"#),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["x-amz-function-error"], "Unhandled");
    assert_eq!(answer.json()["errorType"], "Sandbox.Timedout");
    // The replacement answers.
    let again = send(&emulator.client, invoke_request(url, None, "{}")).await;
    assert_eq!(again.json()["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_binary_is_a_500_and_a_path_without_route_a_404() {
    let emulator = Emulator::start(Options {
        functions: vec!["probe"],
        routes: "\"/probe\" = \"probe\"\n\"/ghost\" = \"ghost\"\n",
        ..Options::default()
    });
    let ghost = get(&emulator.client, &emulator.url("//ghost")).await;
    assert_eq!(ghost.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(ghost.json(), json!({"message": "Internal Server Error"}));
    let nothing = get(&emulator.client, &emulator.url("/nothing")).await;
    assert_eq!(nothing.status, StatusCode::NOT_FOUND);
    assert_eq!(nothing.json(), json!({"message": "Not Found"}));
    assert_eq!(
        get(&emulator.client, &emulator.url("/probe")).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_runs_first_and_is_retried_until_it_succeeds() {
    // Fails on its first run, succeeds on the second; the functions start only then.
    let emulator = Emulator::start(Options {
        migrate: Some(
            "echo run >> migrate-runs.txt\n\
             [ \"$(wc -l < migrate-runs.txt)\" -ge 2 ] || { echo 'database not up yet' >&2; exit 1; }\n\
             echo 'migrated'",
        ),
        ..Options::default()
    });
    let started = Instant::now();
    let answer = get(&emulator.client, &emulator.url("/probe")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let runs = std::fs::read_to_string(emulator.dir.join("migrate-runs.txt")).unwrap();
    assert_eq!(runs.lines().count(), 2);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Its output passes through as it is.
    emulator.find_log_line(|l| l == "database not up yet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_instances_serve_n_requests_at_once() {
    let emulator = started_with(&["--instances", "4", "--concurrency", "1"]);
    // Every instance up (a cold start is not what is measured).
    for _ in 0..8 {
        get(&emulator.client, &emulator.url("/probe")).await;
    }
    let started = Instant::now();
    let requests = (0..4).map(|_| {
        let client = emulator.client.clone();
        let url = emulator.url("/probe?sleep_ms=500");
        tokio::spawn(async move { get(&client, &url).await })
    });
    let mut pids = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        pids.push(answer.json()["pid"].as_u64().unwrap());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 4, "four processes");
}

/// `count` probe requests sleeping `sleep_ms` at once: how long they all took, and the
/// processes that answered.
async fn at_once(emulator: &Emulator, count: usize, query: &str) -> (Duration, Vec<u64>) {
    let started = Instant::now();
    let requests = (0..count).map(|_| {
        let client = emulator.client.clone();
        let url = emulator.url(&format!("/probe?{query}"));
        tokio::spawn(async move { get(&client, &url).await })
    });
    let mut pids = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        let answer = request.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        pids.push(answer.json()["pid"].as_u64().unwrap());
    }
    (started.elapsed(), pids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_serves_its_concurrency_at_once_and_no_more() {
    let emulator = started_with(&["--instances", "1", "--concurrency", "4"]);
    get(&emulator.client, &emulator.url("/probe")).await;
    let (took, pids) = at_once(&emulator, 4, "sleep_ms=500").await;
    assert!(took < Duration::from_millis(1200), "four at once: {took:?}");
    assert!(
        pids.windows(2).all(|p| p[0] == p[1]),
        "one process: {pids:?}"
    );
    // A fifth waits for a free slot.
    let (took, _) = at_once(&emulator, 5, "sleep_ms=500").await;
    assert!(
        took >= Duration::from_millis(1000),
        "five on four slots: {took:?}"
    );
    // The runtime was told its concurrency, as Lambda Managed Instances tell it.
    let environ = std::fs::read(format!("/proc/{}/environ", pids[0])).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|v| v == b"AWS_LAMBDA_MAX_CONCURRENCY=4")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_fails_the_invocations_beside_it_and_a_new_instance_serves_the_next() {
    let emulator = started_with(&["--instances", "1", "--concurrency", "2"]);
    get(&emulator.client, &emulator.url("/probe")).await;
    let beside = {
        let client = emulator.client.clone();
        let url = emulator.url("/probe?sleep_ms=2000");
        tokio::spawn(async move { get(&client, &url).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let crashed = get(&emulator.client, &emulator.url("/probe?crash")).await;
    assert_eq!(crashed.status, StatusCode::BAD_GATEWAY);
    let beside = beside.await.unwrap();
    assert_eq!(beside.status, StatusCode::BAD_GATEWAY, "{:?}", beside.body);
    let next = get(&emulator.client, &emulator.url("/probe")).await;
    assert_eq!(next.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_over_10_mb_is_a_413() {
    let emulator = Emulator::start(Options::default());
    let c = &emulator.client;
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let answer = post(c, &emulator.url("/probe"), big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.json(),
        json!({"message": "Request Entity Too Large"})
    );
    // Without a Content-Length (chunked), the limit holds as well.
    let status = chunked_post(emulator.public, "/probe", 11, 1024 * 1024).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // Just under it passes the gateway and reaches the function.
    let fits = post(c, &emulator.url("/probe"), vec![b'c'; 10 * 1024 * 1024]).await;
    assert_eq!(fits.status, StatusCode::OK);
    assert_eq!(fits.json()["body_len"], 10 * 1024 * 1024);
}

/// Sends `chunks` chunks of `size` bytes with chunked transfer encoding while reading the
/// answer; returns its status line.
async fn chunked_post(
    addr: std::net::SocketAddr,
    path: &str,
    chunks: usize,
    size: usize,
) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b'b'; size];
        for _ in 0..chunks {
            write.write_all(format!("{size:x}\r\n").as_bytes()).await?;
            write.write_all(&chunk).await?;
            write.write_all(b"\r\n").await?;
        }
        write.write_all(b"0\r\n\r\n").await?;
        Ok::<_, std::io::Error>(write)
    });
    let mut status = String::new();
    BufReader::new(read).read_line(&mut status).await.unwrap();
    let _ = writer.await;
    status
}

fn invoke_request(url: String, kind: Option<&str>, payload: &'static str) -> Request<Full<Bytes>> {
    let mut request = Request::post(url);
    if let Some(kind) = kind {
        request = request.header("x-amz-invocation-type", kind);
    }
    request
        .body(Full::new(Bytes::from_static(payload.as_bytes())))
        .unwrap()
}

fn records(emulator: &Emulator) -> Vec<String> {
    std::fs::read_to_string(emulator.dir.join("record.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let give_up = Instant::now() + limit;
    while !done() {
        if Instant::now() > give_up {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoke_api_runs_request_response_and_event_invocations() {
    let emulator = Emulator::start(Options {
        functions: vec!["probe", "fallback", "email", "recorder"],
        routes: "\"/probe\" = \"probe\"\n\"/recorder\" = \"recorder\"\n\"/{*path}\" = \"fallback\"\n",
        ..Options::default()
    });
    let c = &emulator.client;
    let url =
        |name: &str| emulator.internal_url(&format!("/2015-03-31/functions/{name}/invocations"));

    let answer = send(c, invoke_request(url("email"), None, r#"{"n":1}"#)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.headers.get("x-amz-function-error").is_none());
    let payload = answer.json();
    assert_eq!(payload["ok"], true);
    assert_eq!(payload["event"], json!({"n": 1}));
    assert_eq!(
        payload["request_id"].as_str().unwrap(),
        answer.headers["x-amzn-requestid"].to_str().unwrap()
    );

    // An ARN names the function as well; a function error is a 200 with the error.
    let arn = url("arn:aws:lambda:us-east-1:000000000000:function:recorder");
    let failed = send(
        c,
        invoke_request(arn, Some("RequestResponse"), r#"{"fail":true}"#),
    )
    .await;
    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(failed.headers["x-amz-function-error"], "Unhandled");
    assert_eq!(failed.json()["errorMessage"], "asked to fail");

    let queued = send(c, invoke_request(url("email"), Some("Event"), r#"{"n":2}"#)).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    assert!(queued.body.is_empty());
    assert!(
        until(Duration::from_secs(5), || records(&emulator)
            .contains(&r#"email {"n":2}"#.to_string()))
        .await,
        "the Event invocation ran: {:?}",
        records(&emulator)
    );

    let missing = send(c, invoke_request(url("nothing"), None, "{}")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers["x-amzn-errortype"],
        "ResourceNotFoundException"
    );
    assert_eq!(missing.json()["Type"], "User");
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Function not found: arn:aws:lambda:")
    );

    let bad = send(c, invoke_request(url("email"), Some("Later"), "{}")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_get_an_invoke_url_for_email_and_the_schedule_fires() {
    let emulator = Emulator::start(Options {
        functions: vec!["probe", "fallback", "email", "cleanup"],
        env: vec![("EMAIL_SCHEDULE_SECONDS".into(), "1".into())],
        ..Options::default()
    });
    let seen = get(&emulator.client, &emulator.url("/probe")).await.json();
    assert_eq!(seen["function"], "probe");
    assert_eq!(
        seen["email_invoke_url"],
        emulator.internal_url("/2015-03-31/functions/email/invocations")
    );
    let runtime_api = seen["runtime_api"].as_str().unwrap();
    assert!(
        runtime_api.starts_with(&emulator.internal_url("/probe/")),
        "{runtime_api}"
    );
    assert!(
        until(Duration::from_secs(6), || records(&emulator)
            .iter()
            .filter(|r| *r == "email {}")
            .count()
            >= 2)
        .await,
        "two scheduled runs: {:?}",
        records(&emulator)
    );
    // cleanup runs only in production.
    assert!(!records(&emulator).iter().any(|r| r.starts_with("cleanup")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_runs_on_its_schedule_in_production() {
    let emulator = Emulator::start(Options {
        functions: vec!["probe", "fallback", "cleanup"],
        env: vec![
            ("FLASK_ENV".into(), "production".into()),
            ("CLEANUP_INTERVAL".into(), "1".into()),
        ],
        ..Options::default()
    });
    assert!(
        until(Duration::from_secs(5), || records(&emulator)
            .iter()
            .any(|r| r == "cleanup {}"))
        .await,
        "{:?}",
        records(&emulator)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_and_function_lines_carry_the_request_id() {
    let emulator = Emulator::start(Options::default());
    let answer = get(&emulator.client, &emulator.url("/probe?x=secret")).await;
    let id = answer.headers["apigw-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    let request = emulator.find_log("request", |r| r["request_id"] == id.as_str());
    // Every line but the one naming the internal address is JSON.
    for line in emulator
        .log_lines()
        .iter()
        .filter(|l| !l.starts_with("internal API on http://"))
    {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert_eq!(request["method"], "GET");
    assert_eq!(request["path"], "/probe", "no query in the log");
    assert_eq!(request["route"], "/probe");
    assert_eq!(request["function"], "probe");
    assert_eq!(request["status"], 200);
    assert_eq!(request["bytes"], answer.body.len());
    assert_eq!(request["source_ip"], "127.0.0.1");
    assert!(request["ms"].as_f64().unwrap() > 0.0);
    let handled = emulator.find_log("function", |f| {
        f["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("probe handling"))
    });
    assert_eq!(handled["request_id"], id.as_str());
    assert_eq!(handled["function"], "probe");
    assert!(handled["instance"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let mut emulator = Emulator::start(Options::default());
    let client = emulator.client.clone();
    let url = emulator.url("/probe?sleep_ms=1500");
    let in_flight = tokio::spawn(async move { get(&client, &url).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    emulator.signal(libc::SIGTERM);
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["function"], "probe");
    let status = emulator.wait(Duration::from_secs(10)).expect("it exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        std::net::TcpStream::connect(emulator.public).is_err(),
        "no longer listening"
    );
}
