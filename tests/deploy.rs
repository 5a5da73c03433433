//! `deploy/`: the Prometheus rules and the Grafana dashboard use only metrics the bridge
//! exports (a renamed metric would silence an alert without a word). promtool checks and tests
//! the rules themselves in `.ci/run`.

mod support;

use std::collections::BTreeSet;

use support::chat::adapters_toml;
use support::{LOOPBACK, TestService};

/// The metric names in `text`: identifiers starting with one of the bridge's prefixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in text.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        // A prefix alone (`tv_*` in a comment) names no metric.
        if ["tv_", "slack_", "discord_", "mts1b_"]
            .iter()
            .any(|p| word.starts_with(p))
            && !word.ends_with('_')
        {
            names.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_rules_and_the_dashboard_use_is_exported() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/rules.yml")).unwrap();
    let dashboard =
        std::fs::read_to_string(root.join("deploy/grafana/mts1b-tradingview.json")).unwrap();
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(metric_names(&dashboard))
        .collect();
    assert!(used.len() > 10, "{used:?}");

    let svc = TestService::start(support::settings(&format!(
        "{LOOPBACK}\n{}",
        adapters_toml(r#"["fund-a"]"#, "", "", "")
    )))
    .await;
    let exported: BTreeSet<String> = svc.runtime.metric_families().into_iter().collect();
    for name in &used {
        // A histogram's series: name_bucket, name_sum, name_count.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| exported.contains(*base))
            .unwrap_or(name);
        assert!(
            exported.contains(family),
            "{name} is used by deploy/ but not exported; exported: {exported:?}"
        );
    }
    // And the page's readiness and grace gauges are real series once scraped.
    let scraped = svc.admin_get("/metrics").await.body;
    assert!(scraped.contains("\nmts1b_ready 1\n"), "{scraped}");
    svc.shutdown().await;
}

#[test]
fn names_are_found_in_expressions() {
    let found =
        metric_names(r#"sum(rate(tv_webhooks_total{job="x"}[5m])) - mts1b_ready, up, tv_*"#);
    assert_eq!(
        found,
        BTreeSet::from(["tv_webhooks_total".to_owned(), "mts1b_ready".to_owned()])
    );
}
