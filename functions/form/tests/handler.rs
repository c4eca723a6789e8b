//! `/api/v1/form` in-process: `form::handle` with events recorded from the project's
//! emulator (tests/events), against a throwaway SQLite database. The expected answers are
//! the contract's (sections 1, 2, 4 and 6) as tests/test_forms.py asserts them.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::domain::jwt::TokenType;
use shared::testing::{
    RESOLVE_LINK, TestApp, assert_body_required, assert_json, assert_message,
    assert_methods_not_allowed, assert_no_content, assert_refusals, body_json, link_token,
};

// ------------------------------------------------------------------ section 1 rules

const BODY_FIXTURES: [&str; 3] = ["form_post.json", "form_patch.json", "form_delete.json"];

#[tokio::test]
async fn empty_absent_or_non_json_bodies_are_400_before_authentication() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    for fixture in BODY_FIXTURES {
        let json = r#"{"id": 1}"#;
        assert_body_required(|req| call(&app, req), &event(fixture), &root, json, "id=1").await;
    }
}

#[tokio::test]
async fn malformed_json_is_400_with_the_parser_message() {
    let app = TestApp::new().await;
    for fixture in BODY_FIXTURES {
        let resp = call(
            &app,
            with_json(fixture, &app.access_token("root"), r#"{"id": "#),
        )
        .await;
        assert_message(&resp, 400, &truncated_json(7));
    }
}

#[tokio::test]
async fn without_an_authorization_header_it_is_401() {
    let app = TestApp::new().await;
    let get = event("form_get.json")
        .with("token", "")
        .without_header("authorization");
    assert_message(&call(&app, get.request()).await, 401, MISSING_HEADER);
    let bodies = [form_body(), json!({"id": 1}), json!({"id": 1})];
    for (fixture, body) in BODY_FIXTURES.into_iter().zip(bodies) {
        let req = event(fixture)
            .with("token", "")
            .with("body", body.to_string())
            .without_header("authorization");
        assert_message(&call(&app, req.request()).await, 401, MISSING_HEADER);
    }
}

#[tokio::test]
async fn token_refusals_of_section_2() {
    let app = TestApp::new().await;
    let refusals = app.authentication_refusals(Some(TokenType::Access));
    let requests = [
        event("form_get.json"),
        event("form_post.json").with("body", form_body().to_string()),
        event("form_patch.json").with("body", r#"{"id": 1, "course": "x"}"#),
        event("form_delete.json").with("body", r#"{"id": 1}"#),
    ];
    for request in requests {
        assert_refusals(|req| call(&app, req), &request, &refusals).await;
    }
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn other_methods_are_405_before_anything_else() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    let put = with_json("form_put.json", &root, r#"{"id": 1}"#);
    assert_message(&call(&app, put).await, 405, METHOD_NOT_ALLOWED);
    let anonymous = event("form_put.json")
        .with("token", "")
        .with("body", "")
        .without_header("authorization")
        .without_body();
    assert_message(
        &call(&app, anonymous.request()).await,
        405,
        METHOD_NOT_ALLOWED,
    );
    let get = event("form_get.json").with("token", root.as_str());
    assert_methods_not_allowed(|req| call(&app, req), &get, &["HEAD", "OPTIONS"]).await;
}

// ------------------------------------------------------------------ GET

#[tokio::test]
async fn users_list_their_own_forms_and_admins_every_form() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user("bob").await;
    app.admin("adm").await;
    let bodies: Vec<Value> = (1..=4).map(|n| form_with(&json!({"amount": n}))).collect();
    let a1 = create(&app, "alice", &bodies[0]).await;
    let b1 = create(&app, "bob", &bodies[1]).await;
    let a2 = create(&app, "alice", &bodies[2]).await;
    let m1 = create(&app, "adm", &bodies[3]).await;
    let a1_json = expected_form(a1, "alice", &bodies[0], "1.00");
    let b1_json = expected_form(b1, "bob", &bodies[1], "2.00");
    let a2_json = expected_form(a2, "alice", &bodies[2], "3.00");
    let m1_json = expected_form(m1, "adm", &bodies[3], "4.00");
    assert_eq!(list(&app, "alice").await, json!([a1_json, a2_json]));
    assert_eq!(list(&app, "bob").await, json!([b1_json]));
    let everything = json!([a1_json, b1_json, a2_json, m1_json]);
    assert_eq!(list(&app, "adm").await, everything);
    assert_eq!(list(&app, "root").await, everything);
    // the app's own request: `//api/v1/form`, gzip accepted (compression is the runtime's)
    let app_req = event("form_get_app.json").with("token", app.access_token("alice"));
    assert_json(
        &call(&app, app_req.request()).await,
        200,
        &json!([a1_json, a2_json]),
    );
}

#[tokio::test]
async fn a_user_without_forms_gets_an_empty_list() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = event("form_get.json").with("token", app.access_token("alice"));
    assert_json(&call(&app, req.request()).await, 200, &json!([]));
}

#[tokio::test]
async fn admin_status_is_read_live_for_the_listing() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user("bob").await;
    let own = create(&app, "alice", &form_body()).await;
    let theirs = create(&app, "bob", &form_body()).await;
    let ids = |forms: Value| -> Vec<i64> {
        forms
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(list(&app, "alice").await), [own]);
    app.set_admin("alice", true).await;
    assert_eq!(ids(list(&app, "alice").await), [own, theirs]);
    app.set_admin("alice", false).await;
    assert_eq!(ids(list(&app, "alice").await), [own]);
}

// ------------------------------------------------------------------ POST

#[tokio::test]
async fn post_returns_200_and_the_id_and_the_form_is_stored_exactly() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let body = form_with(&json!({"payment_method": "cheque"}));
    let req = with_json(
        "form_post.json",
        &app.access_token("alice"),
        &body.to_string(),
    );
    let resp = call(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let created = body_json(&resp);
    let id = created["id"].as_i64().expect("an integer id");
    assert_eq!(created, json!({"id": id}));
    assert_eq!(
        list(&app, "alice").await,
        json!([expected_form(id, "alice", &body, "123.99")])
    );
    let second = create(&app, "alice", &body).await;
    assert!(second > id);
}

#[tokio::test]
async fn post_ignores_unknown_and_server_owned_keys() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user("bob").await;
    let extras = json!({"id": 1000, "submitter": "bob", "resolved_at": 12345, "colour": "blue"});
    let id = create(&app, "alice", &form_with(&extras)).await;
    let stored = get_form(&app, id).await.expect("the form");
    assert_eq!(stored, expected_form(id, "alice", &form_body(), "123.99"));
    assert_eq!(list(&app, "bob").await, json!([]));
}

#[tokio::test]
async fn post_emails_every_admin_once_with_their_own_resolve_link() {
    let app = TestApp::new().await;
    let extra = app.admin("extra").await;
    app.named_user("sub", "Submitta", Some("Person")).await;
    let id = create(&app, "sub", &form_body()).await;
    let mails = app.outbox().await;
    let mut to: Vec<String> = mails.iter().map(|m| m.to_address.clone()).collect();
    to.sort();
    assert_eq!(to, admin_emails(&app).await);
    assert_eq!(to, ["extra@example.test", "root@example.test"]);
    let root = app.find_user("root").await.unwrap();
    for mail in &mails {
        assert_eq!(mail.subject, format!("Form no. {id}"));
        for fragment in [
            "Submitta Person",
            "sub@example.test",
            "Advanced Basket Weaving",
            "Cash",
            "€123.99",
            "R-0001",
            "Sunday 24 March at 17:55 (UTC)",
        ] {
            assert!(
                mail.text_body.contains(fragment),
                "{fragment}: {}",
                mail.text_body
            );
        }
        // the button link, in the text part as well, on PUBLIC_HOST
        let token = link_token(mail, RESOLVE_LINK);
        let signed = app.links.verify_resolve(&token).expect("a resolve token");
        let admin_id = if mail.to_address == extra.email {
            extra.id
        } else {
            root.id
        };
        assert_eq!((signed.admin_id, signed.form_id), (admin_id.0, id));
    }
}

#[tokio::test]
async fn links_follow_x_forwarded_proto_and_never_the_host_header() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = event("form_post.json")
        .with("token", app.access_token("alice"))
        .with("body", form_body().to_string())
        .header("host", "evil.example.com")
        .header("x-forwarded-proto", "https");
    assert_eq!(call(&app, req.request()).await.status(), 200);
    let mails = app.outbox().await;
    assert_eq!(mails.len(), 1);
    let html = &mails[0].html_body;
    assert!(
        html.contains("https://bt.example.test/resolve?token="),
        "{html}"
    );
    assert!(!html.contains("evil.example.com") && !mails[0].text_body.contains("evil"));
}

#[tokio::test]
async fn amounts_are_exact_decimals_rounded_half_to_even() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let cases = [
        ("123.99", "123.99"),
        ("\"200\"", "200.00"),
        ("1e2", "100.00"),
        ("0.125", "0.12"),
        ("0.135", "0.14"),
        ("2.675", "2.68"),
        ("-5", "-5.00"),
        ("99999999999999.99", "99999999999999.99"),
    ];
    for (literal, stored) in cases {
        let text = raw_form_text(literal, "1711302900");
        let req = with_json("form_post.json", &app.access_token("alice"), &text);
        let resp = call(&app, req).await;
        assert_eq!(resp.status(), 200, "{literal}");
        let id = body_json(&resp)["id"].as_i64().unwrap();
        assert_eq!(
            get_form(&app, id).await.unwrap()["amount"],
            stored,
            "{literal}"
        );
    }
}

/// A POST body with `amount` and `time` spliced in verbatim.
fn raw_form_text(amount: &str, time: &str) -> String {
    format!(
        r#"{{"customer_name": "Jane Customer", "course": "Literal course", "payment_method": "cash", "receipt": "R-lit", "amount": {amount}, "time": {time}}}"#
    )
}

async fn post_text(app: &TestApp, text: &str) -> lambda_http::Response<lambda_http::Body> {
    call(
        app,
        with_json("form_post.json", &app.access_token("root"), text),
    )
    .await
}

#[tokio::test]
async fn post_field_errors_are_reported_together() {
    let app = TestApp::new().await;
    let every_missing: Value = INPUT_FIELDS
        .iter()
        .map(|f| (f.to_string(), json!([MISSING])))
        .collect();
    assert_json(
        &post_text(&app, r#"{"unknown": 1}"#).await,
        422,
        &every_missing,
    );
    for field in INPUT_FIELDS {
        let mut body = form_body();
        body.as_object_mut().unwrap().remove(field);
        assert_json(
            &post_text(&app, &body.to_string()).await,
            422,
            &json!({field: [MISSING]}),
        );
    }
    let wrong = form_with(&json!({"customer_name": 5, "course": ["x"], "receipt": 12,
                                  "payment_method": 1, "amount": "abc"}));
    let expected = json!({"customer_name": [NOT_STRING], "course": [NOT_STRING],
        "receipt": [NOT_STRING], "payment_method": [NOT_STRING], "amount": [NOT_NUMBER]});
    assert_json(&post_text(&app, &wrong.to_string()).await, 422, &expected);
    let nulls = form_with(
        &json!({"customer_name": null, "course": null, "receipt": null,
                                  "payment_method": null, "amount": null}),
    );
    let expected = json!({"customer_name": [NOT_NULL], "course": [NOT_NULL],
        "receipt": [NOT_NULL], "payment_method": [NOT_NULL], "amount": [NOT_NULL]});
    assert_json(&post_text(&app, &nulls.to_string()).await, 422, &expected);
    for choice in ["card", "Cash", "CHEQUE", "", "cash "] {
        let body = form_with(&json!({"payment_method": choice}));
        let expected = json!({"payment_method": [NOT_CHOICE]});
        assert_json(&post_text(&app, &body.to_string()).await, 422, &expected);
    }
    let long = form_with(
        &json!({"customer_name": "é".repeat(129), "course": "k".repeat(257),
                                 "receipt": "r".repeat(129)}),
    );
    let expected = json!({"customer_name": [too_long(128)], "course": [too_long(256)],
                          "receipt": [too_long(128)]});
    assert_json(&post_text(&app, &long.to_string()).await, 422, &expected);
    assert!(app.outbox().await.is_empty());
    assert_eq!(list(&app, "root").await, json!([]));
}

#[tokio::test]
async fn post_amount_errors() {
    let app = TestApp::new().await;
    for literal in [
        "100000000000000",
        "1e14",
        "\"100000000000000\"",
        "1e20",
        "1e400",
        "-1e400",
    ] {
        let resp = post_text(&app, &raw_form_text(literal, "1711302900")).await;
        assert_json(&resp, 422, &json!({"amount": [TOO_BIG]}));
    }
    for literal in ["\"abc\"", "true", "[]", "{}", "\"\"", "\"12abc\"", "[1]"] {
        let resp = post_text(&app, &raw_form_text(literal, "1711302900")).await;
        assert_json(&resp, 422, &json!({"amount": [NOT_NUMBER]}));
    }
    assert_eq!(list(&app, "root").await, json!([]));
}

#[tokio::test]
async fn post_time_errors_are_the_schema_error_and_hide_field_errors() {
    let app = TestApp::new().await;
    let invalid = [
        "1.5",
        "1.0",
        "1e3",
        "\"123\"",
        "true",
        "-1",
        "253402300800",
        "99999999999999999999",
        "[]",
        "{}",
        "null",
        "1e400",
    ];
    for literal in invalid {
        let resp = post_text(&app, &raw_form_text("123.99", literal)).await;
        assert_json(&resp, 422, &bad_time());
    }
    // with other fields wrong as well: only the whole-object error
    let text = raw_form_text("\"x\"", "1.5").replace("\"Jane Customer\"", "7");
    assert_json(&post_text(&app, &text).await, 422, &bad_time());
    let all_null: Value = INPUT_FIELDS
        .iter()
        .map(|f| (f.to_string(), Value::Null))
        .collect();
    assert_json(
        &post_text(&app, &all_null.to_string()).await,
        422,
        &bad_time(),
    );
    // the bounds themselves are fine
    for literal in ["0", "253402300799"] {
        let resp = post_text(&app, &raw_form_text("1", literal)).await;
        assert_eq!(resp.status(), 200, "{literal}");
    }
}

// ------------------------------------------------------------------ PATCH

fn patch(app: &TestApp, username: &str, body: &Value) -> lambda_http::Request {
    as_user(app, "form_patch.json", username, body)
}

#[tokio::test]
async fn patch_validation_comes_first() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = create(&app, "alice", &form_body()).await;
    let cases = [
        (json!({"course": "x"}), json!({"id": [MISSING]})),
        (
            json!({"id": "x", "course": "x"}),
            json!({"id": [NOT_INTEGER]}),
        ),
        (json!({"id": null}), json!({"id": [NOT_NULL]})),
        (json!({"id": true}), json!({"id": [NOT_INTEGER]})),
        (
            json!({"id": "x", "amount": "abc"}),
            json!({"id": [NOT_INTEGER], "amount": [NOT_NUMBER]}),
        ),
        (
            json!({"id": id, "amount": "abc", "payment_method": "card", "receipt": 3}),
            json!({"amount": [NOT_NUMBER], "payment_method": [NOT_CHOICE], "receipt": [NOT_STRING]}),
        ),
        (
            json!({"id": id, "customer_name": null, "course": "k".repeat(257)}),
            json!({"customer_name": [NOT_NULL], "course": [too_long(256)]}),
        ),
        (
            json!({"id": id, "amount": 1e14}),
            json!({"amount": [TOO_BIG]}),
        ),
        (json!({"id": id, "time": 1.5}), bad_time()),
        (json!({"id": id, "time": -1}), bad_time()),
        (json!({"id": id, "time": "1", "course": 5}), bad_time()),
        // validation before existence
        (
            json!({"id": id + 1000, "amount": "abc"}),
            json!({"amount": [NOT_NUMBER]}),
        ),
    ];
    for (body, expected) in cases {
        assert_json(
            &call(&app, patch(&app, "alice", &body)).await,
            422,
            &expected,
        );
    }
    assert_eq!(
        get_form(&app, id).await.unwrap(),
        expected_form(id, "alice", &form_body(), "123.99")
    );
}

#[tokio::test]
async fn patch_of_a_missing_form_is_400() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = create(&app, "alice", &form_body()).await;
    let missing = id + 1;
    for user in ["alice", "root"] {
        let resp = call(
            &app,
            patch(&app, user, &json!({"id": missing, "course": "x"})),
        )
        .await;
        assert_message(&resp, 400, &not_exist(missing));
    }
}

#[tokio::test]
async fn patch_of_a_resolved_form_is_400_before_ownership() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user("bob").await;
    let id = create(&app, "alice", &form_body()).await;
    app.resolve_form(id).await;
    let message = format!("Form {id} has been resolved, it can no longer be edited");
    for user in ["alice", "bob", "root"] {
        let resp = call(
            &app,
            patch(&app, user, &json!({"id": id, "course": "late"})),
        )
        .await;
        assert_message(&resp, 400, &message);
    }
}

#[tokio::test]
async fn patch_by_someone_else_is_401_and_changes_nothing() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user("bob").await;
    app.admin("demoted").await;
    let id = create(&app, "alice", &form_body()).await;
    app.set_admin("demoted", false).await;
    let since = app.outbox_max_id().await;
    let message = format!("You must have either submitted form {id} or be an admin to update it");
    for user in ["bob", "demoted"] {
        for body in [json!({"id": id, "course": "hijacked"}), json!({"id": id})] {
            assert_message(&call(&app, patch(&app, user, &body)).await, 401, &message);
        }
    }
    assert_eq!(
        get_form(&app, id).await.unwrap(),
        expected_form(id, "alice", &form_body(), "123.99")
    );
    assert!(app.mails_since(since).await.is_empty());
}

#[tokio::test]
async fn patch_by_the_owner_returns_the_old_form_and_emails_the_admins() {
    let app = TestApp::new().await;
    app.named_user("edith", "Edith", Some("Editor")).await;
    let body = form_with(&json!({"course": "A", "amount": 1}));
    let id = create(&app, "edith", &body).await;
    let before = expected_form(id, "edith", &body, "1.00");
    let since = app.outbox_max_id().await;
    let resp = call(
        &app,
        patch(
            &app,
            "edith",
            &json!({"id": id, "course": "B", "amount": 2}),
        ),
    )
    .await;
    assert_json(&resp, 200, &before);
    let mut after = before.clone();
    after["course"] = json!("B");
    after["amount"] = json!("2.00");
    assert_eq!(list(&app, "edith").await, json!([after]));
    let mails = app.mails_since(since).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(
        (mail.to_address.as_str(), mail.subject.as_str()),
        ("root@example.test", &*format!("Form no. {id}"))
    );
    for fragment in [
        "Course: B (was A)",
        "€2.00 (was €1.00)",
        "Edith Editor",
        "edith@example.test",
    ] {
        assert!(
            mail.text_body.contains(fragment),
            "{fragment}: {}",
            mail.text_body
        );
    }
    for unchanged in ["Jane Customer (was", "R-0001 (was", "Cash (was"] {
        assert!(!mail.text_body.contains(unchanged), "{unchanged}");
    }
    link_token(mail, RESOLVE_LINK);
}

#[tokio::test]
async fn patch_by_an_admin_names_the_original_submitter() {
    let app = TestApp::new().await;
    app.named_user("olga", "Olga", Some("Owner")).await;
    let id = create(
        &app,
        "olga",
        &form_with(&json!({"course": "A", "time": 1000})),
    )
    .await;
    let before = get_form(&app, id).await.unwrap();
    let since = app.outbox_max_id().await;
    let change = json!({"id": id.to_string(), "time": 2000, "customer_name": "New cust",
        "payment_method": "cheque", "amount": "10.015", "receipt": "New receipt"});
    assert_json(
        &call(&app, patch(&app, "root", &change)).await,
        200,
        &before,
    );
    let after = get_form(&app, id).await.unwrap();
    assert_eq!(after["submitter"], "olga");
    assert_eq!(
        (after["amount"].as_str(), after["time"].as_i64()),
        (Some("10.02"), Some(2000))
    );
    let mails = app.mails_since(since).await;
    assert_eq!(mails.len(), 1);
    let text = &mails[0].text_body;
    for fragment in [
        "Administrator",
        "root@example.test",
        "Olga Owner",
        "olga@example.test",
        "New cust (was Jane Customer)",
        "Cheque (was Cash)",
        "€10.02 (was €123.99)",
        "New receipt (was R-0001)",
    ] {
        assert!(text.contains(fragment), "{fragment}: {text}");
    }
}

#[tokio::test]
async fn patch_without_a_real_change_is_204_without_email() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let body = form_with(&json!({"amount": "123.99"}));
    let id = create(&app, "alice", &body).await;
    let before = get_form(&app, id).await.unwrap();
    let since = app.outbox_max_id().await;
    let mut same = body.clone();
    same["id"] = json!(id);
    let bodies = [
        json!({"id": id}),
        same,
        json!({"id": id, "amount": 123.99, "course": body["course"]}),
        json!({"id": id, "amount": 123.9901}),
        json!({"id": id, "unknown": "x"}),
    ];
    for change in bodies {
        assert_no_content(&call(&app, patch(&app, "alice", &change)).await);
    }
    let by_root = json!({"id": id, "course": body["course"]});
    assert_no_content(&call(&app, patch(&app, "root", &by_root)).await);
    assert_eq!(get_form(&app, id).await.unwrap(), before);
    assert!(app.mails_since(since).await.is_empty());
}

// ------------------------------------------------------------------ DELETE

fn delete(app: &TestApp, username: &str, body: &Value) -> lambda_http::Request {
    as_user(app, "form_delete.json", username, body)
}

#[tokio::test]
async fn delete_validation_and_missing_form() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = create(&app, "alice", &form_body()).await;
    let cases = [
        (json!({"id": "x"}), json!({"id": [NOT_INTEGER]})),
        (json!({"foo": 1}), json!({"id": [MISSING]})),
        (json!({"id": null}), json!({"id": [NOT_NULL]})),
    ];
    for (body, expected) in cases {
        assert_json(
            &call(&app, delete(&app, "alice", &body)).await,
            422,
            &expected,
        );
    }
    let resp = call(&app, delete(&app, "alice", &json!({"id": id + 1}))).await;
    assert_message(&resp, 400, &not_exist(id + 1));
    assert!(get_form(&app, id).await.is_some());
}

#[tokio::test]
async fn delete_by_someone_else_is_401() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user("bob").await;
    let id = create(&app, "alice", &form_body()).await;
    let since = app.outbox_max_id().await;
    let resp = call(&app, delete(&app, "bob", &json!({"id": id}))).await;
    let message = format!("You must have either submitted form {id} or be an admin to delete it");
    assert_message(&resp, 401, &message);
    assert_eq!(
        get_form(&app, id).await.unwrap(),
        expected_form(id, "alice", &form_body(), "123.99")
    );
    assert!(app.mails_since(since).await.is_empty());
}

#[tokio::test]
async fn the_owner_deletes_a_form_and_gets_it_back() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let keep = create(&app, "alice", &form_body()).await;
    let body = form_with(&json!({"amount": 42.5}));
    let id = create(&app, "alice", &body).await;
    let before = expected_form(id, "alice", &body, "42.50");
    let by_string = json!({"id": id.to_string()});
    assert_json(
        &call(&app, delete(&app, "alice", &by_string)).await,
        200,
        &before,
    );
    let ids: Vec<Value> = list(&app, "alice")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(ids, [json!(keep)]);
    let again = call(&app, delete(&app, "alice", &json!({"id": id}))).await;
    assert_message(&again, 400, &not_exist(id));
    let edit = call(
        &app,
        patch(&app, "alice", &json!({"id": id, "course": "x"})),
    )
    .await;
    assert_message(&edit, 400, &not_exist(id));
}

#[tokio::test]
async fn admins_delete_any_form_and_owners_their_resolved_ones() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.admin("adm").await;
    let open = create(&app, "alice", &form_body()).await;
    let resolved = create(&app, "alice", &form_body()).await;
    let own_resolved = create(&app, "alice", &form_body()).await;
    let open_json = get_form(&app, open).await.unwrap();
    let resolved_json = app.resolve_form(resolved).await;
    assert!(resolved_json["resolved_at"].is_i64());
    let own_json = app.resolve_form(own_resolved).await;
    assert_json(
        &call(&app, delete(&app, "adm", &json!({"id": open}))).await,
        200,
        &open_json,
    );
    assert_json(
        &call(&app, delete(&app, "adm", &json!({"id": resolved}))).await,
        200,
        &resolved_json,
    );
    assert_json(
        &call(&app, delete(&app, "alice", &json!({"id": own_resolved}))).await,
        200,
        &own_json,
    );
    assert_eq!(list(&app, "root").await, json!([]));
}
