//! The admin API's view of a key's limits over loopback: the remaining amounts of
//! `GET /admin/keys/{id}/limits` and `GET /admin/projects/{id}/limits` after real
//! requests through the gateway, and a rotation's grace on both sides of its end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::Admin;

/// The row of `name` and `scope` in a limits answer.
fn row<'a>(answer: &'a Value, scope: &str, name: &str) -> &'a Value {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == scope && r["name"] == name)
        .unwrap_or_else(|| panic!("no {scope} {name} in {answer}"))
}

#[tokio::test]
async fn limits_show_what_real_requests_used_and_what_is_left() {
    let a = Admin::start().await;
    let (status, project) = a
        .send(
            Method::POST,
            "/admin/projects",
            json!({"name": "team", "limits": {"daily_input_tokens": 100000}}),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let (status, created) = a
        .send(
            Method::POST,
            "/admin/keys",
            json!({"name": "metered", "project": "team", "policy": {"limits": {
                "rpm": 10, "daily_input_tokens": 5000, "monthly_usd": 3.5
            }}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();

    // Before any request: nothing used, everything left.
    let (status, fresh) = a.get(&format!("/admin/keys/{id}/limits")).await;
    assert_eq!(status, 200, "{fresh}");
    let rpm = row(&fresh, "key", "rpm");
    assert_eq!((&rpm["used"], &rpm["remaining"]), (&json!(0), &json!(10)));
    assert_eq!(rpm["window"], "minute");
    assert_eq!(rpm["unit"], "requests");

    for _ in 0..3 {
        assert_eq!(a.chat(&key).await, 200);
    }
    // Each request's record is written after its settlement: once the records are
    // in, the limiter holds the real amounts.
    a.gw.app.flush_usage();
    let (_, usage) = a.get(&format!("/admin/usage?key={id}")).await;
    let totals = &usage["totals"];
    assert_eq!(totals["requests"], 3, "{usage}");
    let input = totals["input_tokens"].as_u64().unwrap();
    let output = totals["output_tokens"].as_u64().unwrap();
    assert!(input > 0 && output > 0, "{usage}");

    let (status, now) = a.get(&format!("/admin/keys/{id}/limits")).await;
    assert_eq!(status, 200, "{now}");
    let rpm = row(&now, "key", "rpm");
    assert_eq!(
        (&rpm["limit"], &rpm["used"], &rpm["remaining"]),
        (&json!(10), &json!(3), &json!(7)),
        "{now}"
    );
    let quota = row(&now, "key", "daily_input_tokens");
    assert_eq!(quota["limit"], 5000);
    assert_eq!(quota["used"], input, "{now}");
    assert_eq!(quota["remaining"], 5000 - input, "{now}");
    assert_eq!(quota["window"], "day");
    let day_end = quota["resets_ms"].as_i64().unwrap();
    assert_eq!(day_end % 86_400_000, 0, "a UTC midnight");
    // Counted without a limit too.
    let out = row(&now, "key", "daily_output_tokens");
    assert_eq!(
        (&out["used"], &out["limit"], &out["remaining"]),
        (&json!(output), &Value::Null, &Value::Null)
    );
    // Money in dollars, as the policy writes it; what the usage totals say was spent.
    let budget = row(&now, "key", "monthly_usd");
    assert_eq!(budget["unit"], "usd");
    assert_eq!(budget["limit"], 3.5);
    let spent = totals["cost_usd"].as_f64().unwrap_or(0.0);
    let used = budget["used"].as_f64().unwrap();
    assert!((used - spent).abs() < 1e-9, "{used} vs {spent}");
    assert!((budget["remaining"].as_f64().unwrap() - (3.5 - used)).abs() < 1e-9);
    assert_eq!(row(&now, "key", "total_usd")["resets_ms"], Value::Null);
    // The project's rows follow the key's, shared by its keys.
    let shared = row(&now, "project", "daily_input_tokens");
    assert_eq!(shared["id"], project["id"]);
    assert_eq!(
        (&shared["used"], &shared["remaining"]),
        (&json!(input), &json!(100000 - input))
    );
    let (status, own) = a.get("/admin/projects/team/limits").await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(row(&own, "project", "daily_input_tokens"), shared);
    assert!(
        own["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["scope"] == "project")
    );

    // The same rows with the key or project itself, in one request.
    let (status, with) = a.get(&format!("/admin/keys/{id}?include=limits")).await;
    assert_eq!(status, 200, "{with}");
    assert_eq!(with["id"], json!(id));
    assert_eq!(
        row(&with["limits_standing"], "project", "daily_input_tokens"),
        shared
    );
    let (status, with) = a.get("/admin/projects/team?include=limits").await;
    assert_eq!(status, 200, "{with}");
    assert_eq!(
        row(&with["limits_standing"], "project", "daily_input_tokens"),
        shared
    );
    let (status, plain) = a.get(&format!("/admin/keys/{id}")).await;
    assert_eq!(status, 200);
    assert!(plain.get("limits_standing").is_none());
    let (status, err) = a.get(&format!("/admin/keys/{id}?include=usage")).await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("include"))
    );

    // Unknown ids are 404s.
    let (status, _) = a.get("/admin/keys/nobody/limits").await;
    assert_eq!(status, 404);
    let (status, _) = a.get("/admin/projects/nobody/limits").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_rotation_grace_keeps_the_old_secret_until_it_ends() {
    let a = Admin::start().await;
    let (_, created) = a
        .send(Method::POST, "/admin/keys", json!({"name": "graceful"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let old = created["key"].as_str().unwrap().to_owned();
    let (status, rotated) = a
        .send(
            Method::POST,
            &format!("/admin/keys/{id}/rotate"),
            json!({"grace_secs": 2}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_owned();
    let until = rotated["previous_secret_until_ms"].as_i64().unwrap();
    // During the grace both secrets work.
    assert_eq!(a.chat(&old).await, 200);
    assert_eq!(a.chat(&new).await, 200);
    // Past its end the old one is refused, the new one still works.
    let wait = until - gateway_auth::cache::now_ms() + 50;
    tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
    assert_eq!(a.chat(&old).await, 401);
    assert_eq!(a.chat(&new).await, 200);
}
