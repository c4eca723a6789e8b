//! Every path no other function claims, in-process: `fallback::handle` with events
//! recorded from the project's emulator (tests/events). The expected answers are the
//! contract's (sections 1, 5) as tests/test_foundation.py asserts them.

use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use shared::testing::{Event, TestApp, assert_message, assert_page, body_bytes, body_text};
use shared::web::pages::{LOGO_PNG, LOGO_SVG};

/// The recorded `GET /nope`.
fn event() -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), "fallback_get.json")
}

fn get(path: &str) -> Request {
    event().path(path).request()
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    fallback::handle(app, req).await
}

#[track_caller]
fn assert_not_found_page(resp: &Response<Body>) {
    let paragraph = "The requested URL was not found on the server.";
    assert_page(resp, 404, "Not Found", &[paragraph]);
    let html = body_text(resp);
    assert!(
        html.starts_with("<!doctype html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(html.contains(&format!("<p>{paragraph}</p>")));
}

#[tokio::test]
async fn the_recorded_event_is_an_unknown_page() {
    let app = TestApp::new().await;
    let req = event().request();
    assert_eq!(req.uri().path(), "/nope");
    assert_not_found_page(&call(&app, req).await);
}

#[tokio::test]
async fn unknown_pages_are_an_html_404_whatever_the_method() {
    let app = TestApp::new().await;
    for path in [
        "/nope",
        "//nope",
        "/",
        "/api",
        "/api/v10",
        "/reset-password/x",
        "/static/logo.gif",
    ] {
        assert_not_found_page(&call(&app, get(path)).await);
    }
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let req = event().method(method).request();
        assert_not_found_page(&call(&app, req).await);
    }
}

#[tokio::test]
async fn unknown_api_paths_are_a_json_404() {
    let app = TestApp::new().await;
    for path in [
        "/api/v1/nope",
        "//api/v1/nope",
        "///api/v1/auth/nope",
        "/api/v1",
        "/api/v1/",
    ] {
        assert_message(&call(&app, get(path)).await, 404, "Not found");
    }
    let post = event()
        .path("/api/v1/nope")
        .method("POST")
        .header("content-type", "application/json")
        .body(r#"{"a": 1}"#)
        .request();
    assert_message(&call(&app, post).await, 404, "Not found");
}

#[tokio::test]
async fn the_logo_in_both_formats() {
    let app = TestApp::new().await;
    for (path, content_type, bytes) in [
        ("/static/logo.svg", "image/svg+xml", LOGO_SVG.as_bytes()),
        ("/static/logo.png", "image/png", LOGO_PNG),
        ("//static/logo.png", "image/png", LOGO_PNG),
    ] {
        for method in ["GET", "HEAD"] {
            let req = event().path(path).method(method).request();
            let resp = call(&app, req).await;
            assert_eq!(resp.status(), 200, "{method} {path}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], content_type);
            assert_eq!(
                resp.headers()[header::CACHE_CONTROL],
                "public, max-age=86400"
            );
            assert_eq!(body_bytes(&resp), bytes);
        }
    }
    assert!(LOGO_SVG.contains("<svg"));
    assert!(LOGO_PNG.starts_with(b"\x89PNG"));
    // binary, so the runtime sends it base64-encoded
    assert!(matches!(
        call(&app, get("/static/logo.png")).await.body(),
        Body::Binary(_)
    ));
    // only GET and HEAD read it
    let post = event().path("/static/logo.png").method("POST").request();
    assert_not_found_page(&call(&app, post).await);
}

#[tokio::test]
async fn four_or_more_leading_slashes_redirect_to_the_single_slash_path() {
    // API Gateway routes up to three leading slashes to the functions; longer runs land here
    let app = TestApp::new().await;
    let recorded = Event::fixture(env!("CARGO_MANIFEST_DIR"), "fallback_redirect.json")
        .with("body", r#"{"username": "alice", "password": "x"}"#);
    let resp = call(&app, recorded.request()).await;
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/api/v1/auth/login?a=1&b=x%20y"
    );
    assert!(body_bytes(&resp).is_empty());
    assert_eq!(resp.headers().len(), 1);

    let resp = call(&app, recorded.clone().query("").request()).await;
    assert_eq!(resp.headers()[header::LOCATION], "/api/v1/auth/login");
    let resp = call(&app, recorded.path("//////nope").query("").request()).await;
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()[header::LOCATION], "/nope");
}
