//! `schema/openapi.yaml` kept in step with the code: every error code and every status the
//! bridge can answer are in it, and every path it documents is served on the listener its tag
//! names (and a path it does not document is not). schemathesis (`schema/fuzz_api.sh`, run by
//! `.ci/run`) then checks the binary's answers against it.

mod support;

use mts1b_tradingview::core::Rejection;
use mts1b_tradingview::core::testing::every_rejection;
use mts1b_tradingview::runtime::http::status::status_of;
use support::chat::adapters_toml;
use support::{LOOPBACK, TestService, request};

fn document() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/openapi.yaml"),
    )
    .unwrap()
}

/// The documented paths and the tag of their operations, in order.
fn paths(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = None;
    for line in doc.lines() {
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{path}"));
        } else if let (Some(path), Some(tags)) = (&current, line.trim().strip_prefix("tags: [")) {
            out.push((path.clone(), tags.trim_end_matches(']').to_owned()));
            current = None;
        }
    }
    out
}

#[test]
fn every_error_code_and_status_is_documented() {
    let doc = document();
    for code in Rejection::CODES {
        assert!(
            doc.contains(&format!("            - {code}\n")),
            "error code {code} is not in the Error enum"
        );
    }
    let alert_responses =
        &doc[doc.find("&alert-responses").unwrap()..doc.find("  /webhook:").unwrap()];
    for rejection in every_rejection() {
        let status = status_of(&rejection);
        assert!(
            alert_responses.contains(&format!("\"{status}\":")),
            "{} answers {status}, not documented for the alert routes",
            rejection.code()
        );
    }
    for status in [200, 202] {
        assert!(alert_responses.contains(&format!("\"{status}\":")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_path_is_served_on_its_listener() {
    let doc = document();
    let documented = paths(&doc);
    assert_eq!(documented.len(), 12, "{documented:?}");
    let svc = TestService::start(support::settings(&format!(
        "{LOOPBACK}\n{}",
        adapters_toml(r#"["fund-a"]"#, "", "", "")
    )))
    .await;
    for (path, tag) in &documented {
        let concrete = path
            .replace("{fund_id}", "fund-a")
            .replace("{idempotency_key}", "k");
        let (addr, method) = match tag.as_str() {
            "public" => (svc.public, "POST"),
            "admin" if path.starts_with("/funds/") || path == "/resubmit" => (svc.admin, "POST"),
            "admin" => (svc.admin, "GET"),
            _ => panic!("{path}: unknown tag {tag}"),
        };
        let reply = request(addr, method, &concrete, &[], b"{}").await;
        // A route that exists answers something else than `not_found` for its own method (an
        // order that does not exist is the one 404 with a meaning of its own).
        let unknown_order = path.starts_with("/orders/") && reply.status == 404;
        assert!(
            unknown_order || !reply.body.contains("not_found"),
            "{method} {concrete} on the {tag} listener: {} {}",
            reply.status,
            reply.body
        );
    }
    for (addr, path) in [(svc.public, "/nowhere"), (svc.admin, "/nowhere")] {
        assert_eq!(
            request(addr, "GET", path, &[], b"").await.status,
            404,
            "{path}"
        );
    }
    svc.shutdown().await;
}
