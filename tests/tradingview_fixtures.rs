//! The fixture corpus: every rule of SPEC §3 and every row and refusal of SPEC §4, each locked
//! by a snapshot of the canonical order or the exact rejection. A snapshot change is a reviewed
//! contract change.

mod common;

use std::collections::BTreeSet;

use common::{Harness, tradingview_fixtures};

/// How many kinds of symbology refusal there are (`SymbolRefusal`'s variants).
const REFUSALS: usize = 22;
use mts1b_tradingview::adapters::tradingview::schema::{FIELDS, json_schema};

#[test]
fn every_fixture_matches_its_snapshot() {
    let harness = Harness::new();
    insta::glob!("fixtures/tradingview/*.json", |path| {
        let body = std::fs::read(path).unwrap();
        insta::assert_json_snapshot!(harness.outcome(&body));
    });
}

#[test]
fn corpus_covers_the_contract() {
    let harness = Harness::new();
    let outcomes: Vec<(String, serde_json::Value)> = tradingview_fixtures()
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, harness.outcome(&std::fs::read(p).unwrap()).json())
        })
        .collect();
    assert!(outcomes.len() >= 60, "only {} fixtures", outcomes.len());

    // The file name says what the fixture must do.
    for (name, outcome) in &outcomes {
        let got = outcome["body"]["error"].as_str().unwrap_or("accepted");
        let field = outcome["body"]["field"].as_str();
        let as_named = match name.split('_').next().unwrap() {
            "accept" => got == "accepted",
            "json" => got == "invalid_json",
            "schema" => got == "invalid_payload",
            "auth" => got == "unauthorized",
            "symbol" => got == "unknown_symbol",
            // A fund's envelope: denied, stale, or missing the alert_time its max_alert_age needs.
            "envelope" => {
                matches!(got, "envelope_denied" | "stale_alert")
                    || (got == "invalid_payload" && field == Some("alert_time"))
            }
            other => panic!("fixture {name}: unknown group {other}"),
        };
        assert!(as_named, "{name}: {outcome}");
    }

    // Every schema field is rejected by at least one fixture, naming that field.
    let rejected_fields: BTreeSet<&str> = outcomes
        .iter()
        .filter_map(|(_, o)| o["body"]["field"].as_str())
        .collect();
    for field in FIELDS {
        assert!(
            rejected_fields.contains(field.name),
            "no fixture rejects {}",
            field.name
        );
    }

    // Every symbology refusal is exercised by a fixture named for the symbol group.
    let whys: BTreeSet<String> = tradingview_fixtures()
        .iter()
        .filter(|p| {
            p.file_stem()
                .unwrap()
                .to_string_lossy()
                .starts_with("symbol_")
        })
        .filter_map(|p| harness.refusal(&std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(whys.len(), REFUSALS, "{whys:#?}");

    // Every envelope rule and every code of the translator appears.
    let codes: BTreeSet<&str> = outcomes
        .iter()
        .filter_map(|(_, o)| o["body"]["error"].as_str())
        .collect();
    for code in [
        "invalid_json",
        "invalid_payload",
        "unknown_symbol",
        "envelope_denied",
        "stale_alert",
        "unauthorized",
    ] {
        assert!(codes.contains(code), "no fixture answers {code}");
    }
}

#[test]
fn no_rejection_echoes_a_secret() {
    let harness = Harness::new();
    for path in tradingview_fixtures() {
        let printed = harness
            .outcome(&std::fs::read(&path).unwrap())
            .json()
            .to_string();
        for secret in [
            "paper-secret",
            "strict-secret",
            "caps-secret",
            "hunter2",
            "paper-secreT",
        ] {
            assert!(
                !printed.contains(secret),
                "{} echoes {secret}: {printed}",
                path.display()
            );
        }
    }
}

#[test]
fn json_schema_is_locked_and_published() {
    let schema = json_schema();
    // A string snapshot: insta cannot see inside arbitrary-precision numbers of a Value.
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    insta::assert_snapshot!("tradingview_alert_v1_schema", generated);
    let published = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema/tradingview-alert-v1.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&published, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&published).unwrap_or_default();
    assert_eq!(
        on_disk, generated,
        "schema/ is stale: run with UPDATE_SCHEMA=1 and review the diff"
    );
}

#[test]
fn every_snapshot_has_its_fixture() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let fixtures: BTreeSet<String> = tradingview_fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(fixture) = name
            .strip_prefix("tradingview_fixtures__every_fixture_matches_its_snapshot@")
            .and_then(|rest| rest.strip_suffix(".snap"))
        {
            assert!(
                fixtures.contains(fixture),
                "orphan snapshot {name}: delete it"
            );
        }
    }
}
