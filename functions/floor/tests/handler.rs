//! `/bench/floor` in-process: `floor::handle` with an event recorded from the project's
//! emulator (tests/events). It answers 200 `{"ok":true}` to anything, and nothing else.

use lambda_http::Body;
use lambda_http::http::header;
use shared::testing::{Event, body_text};

fn event() -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), "floor_get.json")
}

#[tokio::test]
async fn answers_ok_to_the_recorded_request() {
    let resp = floor::handle(event().request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().len(), 1);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert!(matches!(resp.body(), Body::Text(_)));
    assert_eq!(body_text(&resp), r#"{"ok":true}"#);
}

#[tokio::test]
async fn answers_the_same_to_any_method_path_and_body() {
    let requests = [
        event()
            .method("POST")
            .body("{\"a\": 1}")
            .header("content-type", "application/json"),
        event().method("DELETE").path("//bench/floor").query("x=1"),
        event().path("/anything").binary_body(&[0xff, 0x00]),
        event().without_header("user-agent").without_header("host"),
    ];
    for e in requests {
        let resp = floor::handle(e.request()).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body_text(&resp), r#"{"ok":true}"#);
    }
}
