#!/usr/bin/env python3
"""Checks the published JSON Schema against the fixture corpus, with an independent validator
(Python's jsonschema, Draft 2020-12): every fixture the bridge accepts, or refuses for reasons
beyond the payload (auth_, symbol_, envelope_), must validate; every schema_ fixture whose
violation JSON Schema can express must not. The exceptions are the rules only the parser
enforces (exact decimals, calendar dates, repeated keys, control characters): listed below, so a
new fixture the schema should catch and does not fails this check.

Usage: python3 schema/check_fixtures.py  (from the repository root; needs `jsonschema`)
"""
import glob
import json
import sys

import jsonschema

# Violations the parser catches and JSON Schema cannot say (or the published schema leaves to
# the parser): decimal value rules, RFC 3339 calendar checks, repeated keys, control characters.
PARSER_ONLY = {
    "schema_actor_control_character.json",
    "schema_alert_time_epoch_seconds.json",
    "schema_alert_time_impossible_date.json",
    "schema_alert_time_without_zone.json",
    "schema_alert_time_year_10000_in_utc.json",
    "schema_alert_time_year_minus_1_in_utc.json",
    "schema_limit_price_negative.json",
    "schema_limit_price_zero.json",
    "schema_quantity_29_significant_digits.json",
    "schema_quantity_json_29_significant_digits.json",
    "schema_quantity_negative.json",
    "schema_quantity_too_large.json",
    "schema_quantity_too_many_places.json",
    "schema_quantity_zero.json",
    "schema_repeated_field.json",
    "schema_repeated_secret.json",
    "schema_replace_limit_price_negative.json",
    "schema_replace_quantity_zero.json",
}

schema = json.load(open("schema/tradingview-alert-v1.schema.json", encoding="utf-8"))
validator = jsonschema.Draft202012Validator(schema)
failures = []
checked = 0
for path in sorted(glob.glob("tests/fixtures/tradingview/*.json")):
    name = path.rsplit("/", 1)[-1]
    group = name.split("_", 1)[0]
    try:
        doc = json.loads(open(path, "rb").read())
    except ValueError:
        continue  # json_ fixtures: not JSON at all
    if not isinstance(doc, dict):
        continue
    valid = validator.is_valid(doc)
    checked += 1
    if group in ("accept", "auth", "symbol", "envelope") and not valid:
        errors = [e.message for e in validator.iter_errors(doc)][:2]
        failures.append(f"{name}: refused by the schema: {errors}")
    elif group == "schema" and valid and name not in PARSER_ONLY:
        failures.append(f"{name}: the schema accepts what the parser refuses")
    elif group == "schema" and not valid and name in PARSER_ONLY:
        failures.append(f"{name}: the schema refuses it now: take it off PARSER_ONLY")
for failure in failures:
    print(failure)
print(f"{checked} fixtures checked against the published schema, {len(failures)} failures")
sys.exit(1 if failures else 0)
