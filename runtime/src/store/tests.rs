use std::time::Duration;

use mts1b_inbound_core::UnixMillis;
use mts1b_inbound_core::testing::order;

use super::*;

/// A fresh folder for `tag`, removed when the returned guard drops (at the test's end,
/// passed or failed).
fn dir(tag: &str) -> Folder {
    let d = std::env::temp_dir().join(format!("mts1b-store-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Folder(d)
}

/// A test's folder, removed on drop.
struct Folder(std::path::PathBuf);

impl std::ops::Deref for Folder {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const T: UnixMillis = UnixMillis(1_709_296_500_000);
const WINDOW: Duration = Duration::from_secs(300);

fn recorded(r: Recording) -> Option<u64> {
    match r {
        Recording::Recorded { seq } => Some(seq),
        Recording::AlreadyAccepted(_) => None,
    }
}

#[test]
fn records_survive_reopening_in_arrival_order() {
    let d = dir("reopen");
    {
        let store = OrderStore::open(&d).unwrap();
        for key in ["b", "a", "c"] {
            assert!(recorded(store.record(&order("f", key, T), T, WINDOW).unwrap()).is_some());
        }
    }
    let store = OrderStore::open(&d).unwrap();
    let keys: Vec<String> = store
        .queued()
        .unwrap()
        .iter()
        .map(|r| r.intent.idempotency_key().to_string())
        .collect();
    assert_eq!(keys, ["b", "a", "c"]);
    let seqs: Vec<u64> = store.queued().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    // The sequence goes on after a restart.
    assert_eq!(
        recorded(store.record(&order("f", "d", T), T, WINDOW).unwrap()),
        Some(3)
    );
}

#[test]
fn final_records_leave_the_queue_and_keep_their_outcome() {
    let d = dir("final");
    let store = OrderStore::open(&d).unwrap();
    let o = order("f", "k", T);
    store.record(&o, T, WINDOW).unwrap();
    let done = store
        .update(
            &o.client_order_id,
            T,
            Transition::Submitted {
                order_id: "oms-1".into(),
                attempts: 2,
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(done.status, Status::Submitted);
    assert!(store.queued().unwrap().is_empty());
    let read = store.get(&o.client_order_id).unwrap().unwrap();
    assert_eq!(
        (read.status, read.order_id.as_deref(), read.attempts),
        (Status::Submitted, Some("oms-1"), 2)
    );
    assert_eq!(read.order(), Some(&o));
}

#[test]
fn the_same_alert_is_refused_while_queued_or_within_the_window() {
    let d = dir("twice");
    let store = OrderStore::open(&d).unwrap();
    let o = order("f", "k", T);
    assert!(recorded(store.record(&o, T, WINDOW).unwrap()).is_some());
    assert_eq!(
        store.record(&o, T, WINDOW).unwrap(),
        Recording::AlreadyAccepted(T),
        "still queued"
    );
    assert_eq!(store.queued().unwrap().len(), 1);
    store
        .update(&o.client_order_id, T, Transition::Expired)
        .unwrap();
    // Final, but within the window: still refused.
    let within = UnixMillis(T.0 + 299_999);
    assert_eq!(
        store.record(&o, within, WINDOW).unwrap(),
        Recording::AlreadyAccepted(T)
    );
    let later = UnixMillis(T.0 + 600_000);
    assert!(recorded(store.record(&o, later, WINDOW).unwrap()).is_some());
    let again = store.get(&o.client_order_id).unwrap().unwrap();
    assert_eq!(
        (again.status, again.accepted_at, again.attempts),
        (Status::Queued, later, 0)
    );
}

#[test]
fn prune_keeps_queued_and_recent_records() {
    let d = dir("prune");
    let store = OrderStore::open(&d).unwrap();
    let old_final = order("f", "old-final", T);
    let old_queued = order("f", "old-queued", T);
    let recent = order("f", "recent", UnixMillis(T.0 + 400_000));
    store.record(&old_final, T, WINDOW).unwrap();
    store.record(&old_queued, T, WINDOW).unwrap();
    store
        .record(&recent, UnixMillis(T.0 + 400_000), WINDOW)
        .unwrap();
    store
        .update(
            &old_final.client_order_id,
            T,
            Transition::Rejected {
                reason: "no".into(),
                attempts: 1,
            },
        )
        .unwrap();
    store
        .update(
            &recent.client_order_id,
            T,
            Transition::Submitted {
                order_id: "oms-2".into(),
                attempts: 1,
            },
        )
        .unwrap();
    assert_eq!(
        store.prune(UnixMillis(T.0 + 300_000), 0, 100).unwrap(),
        Pruned {
            deleted: 1,
            resume: None
        }
    );
    assert!(store.get(&old_final.client_order_id).unwrap().is_none());
    assert!(store.get(&old_queued.client_order_id).unwrap().is_some());
    assert!(store.get(&recent.client_order_id).unwrap().is_some());
    let since: Vec<UnixMillis> = store
        .accepted_since(UnixMillis(T.0 + 1))
        .unwrap()
        .into_iter()
        .map(|(_, at)| at)
        .collect();
    assert_eq!(since, [UnixMillis(T.0 + 400_000)]);
}

#[test]
fn a_batch_is_one_transaction_in_which_later_changes_see_earlier_ones() {
    let d = dir("batch");
    let store = OrderStore::open(&d).unwrap();
    let (a, b) = (order("f", "a", T), order("f", "b", T));
    let record = |o: &OrderIntent| Change::Record {
        intent: Box::new(Intent::Submit(o.clone())),
        now: T,
        window: WINDOW,
    };
    let submitted = Transition::Submitted {
        order_id: "oms-a".into(),
        attempts: 1,
    };
    let applied = store
        .apply(vec![
            record(&a),
            record(&a),
            Change::Update {
                id: a.client_order_id,
                now: T,
                transition: submitted,
            },
            record(&b),
        ])
        .unwrap();
    assert_eq!(
        applied[0],
        Applied::Recorded(Recording::Recorded { seq: 0 })
    );
    assert_eq!(applied[1], Applied::Recorded(Recording::AlreadyAccepted(T)));
    let Applied::Updated(Some(updated)) = &applied[2] else {
        panic!("{:?}", applied[2])
    };
    assert_eq!(updated.status, Status::Submitted);
    assert_eq!(
        applied[3],
        Applied::Recorded(Recording::Recorded { seq: 1 })
    );
    let queued: Vec<String> = store
        .queued()
        .unwrap()
        .iter()
        .map(|r| r.intent.idempotency_key().to_string())
        .collect();
    assert_eq!(queued, ["b"], "a left the queue when it was submitted");
}

#[test]
fn only_losses_a_resend_repairs_are_lazy() {
    let lazy = |t: Transition| t.durability() == Durability::Lazy;
    assert!(lazy(Transition::Submitted {
        order_id: "x".into(),
        attempts: 1
    }));
    assert!(lazy(Transition::Retrying {
        error: "x".into(),
        attempts: 1
    }));
    assert!(!lazy(Transition::Rejected {
        reason: "x".into(),
        attempts: 1
    }));
    assert!(!lazy(Transition::Expired));
}

#[test]
fn pruning_goes_in_bounded_passes_and_stops_at_the_window() {
    let d = dir("passes");
    let store = OrderStore::open(&d).unwrap();
    let submitted = Transition::Submitted {
        order_id: "oms".into(),
        attempts: 1,
    };
    // Ten old final records, one old queued one among them, then two inside the window.
    for i in 0..10 {
        let o = order("f", &format!("old-{i}"), T);
        store.record(&o, T, WINDOW).unwrap();
        if i != 4 {
            store
                .update(&o.client_order_id, T, submitted.clone())
                .unwrap();
        }
    }
    let recent = UnixMillis(T.0 + 400_000);
    for i in 0..2 {
        let o = order("f", &format!("new-{i}"), recent);
        store.record(&o, recent, WINDOW).unwrap();
        store
            .update(&o.client_order_id, recent, submitted.clone())
            .unwrap();
    }
    let cutoff = UnixMillis(T.0 + 300_000);
    let mut passes = Vec::new();
    let mut from = 0;
    loop {
        let pass = store.prune(cutoff, from, 4).unwrap();
        passes.push(pass.deleted);
        match pass.resume {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(
        passes,
        [4, 3, 2],
        "4 scanned per pass; the queued one is kept"
    );
    let left: Vec<String> = store
        .accepted_since(UnixMillis(0))
        .unwrap()
        .iter()
        .map(|(id, _)| {
            store
                .get(id)
                .unwrap()
                .unwrap()
                .intent
                .idempotency_key()
                .to_string()
        })
        .collect();
    assert_eq!(left, ["old-4", "new-0", "new-1"]);
    // Pruned ids are gone from the index too: the alert may be accepted again.
    let again = order("f", "old-0", recent);
    assert!(recorded(store.record(&again, recent, WINDOW).unwrap()).is_some());
}

mod round_trip {
    use std::borrow::Cow;

    use mts1b_inbound_core::{
        Actor, CanonicalSymbol, ClientOrderId, FundId, IdempotencyKey, InstrumentClass,
        OrderIntent, Price, Pricing, Quantity, Side, StrategyId, Thesis, TimeInForce,
        TradingViewSymbol, UnixMillis, VenueHint,
    };
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::super::{OrderRecord, Status, decode, encode};
    use mts1b_inbound_core::Intent;

    fn text<T: std::fmt::Debug>(
        pattern: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> impl Strategy<Value = T> {
        pattern.prop_filter_map("valid", move |s| parse(&s))
    }

    fn positive() -> impl Strategy<Value = Decimal> {
        (1u64..=u64::MAX, 0u32..=28)
            .prop_map(|(m, scale)| Decimal::new(m as i64 & i64::MAX | 1, scale))
    }

    fn class_of(symbol: &CanonicalSymbol) -> InstrumentClass {
        InstrumentClass::infer(
            symbol,
            mts1b_inbound_core::symbology::is_builtin_fx_currency,
        )
    }

    fn time() -> impl Strategy<Value = UnixMillis> {
        (UnixMillis::EARLIEST.0..=UnixMillis::LATEST.0).prop_map(UnixMillis)
    }

    prop_compose! {
        fn order()(
            source in prop_oneof![Just("tradingview"), Just("slack"), Just("discord")],
            fund_id in text("[A-Za-z0-9_.-]{1,64}", |s| FundId::parse(s).ok()),
            key in text("[ -~]{1,128}", |s| IdempotencyKey::parse(s).ok()),
            strategy_id in text("[A-Za-z0-9_.:-]{1,64}", |s| StrategyId::parse(s).ok()),
            symbol in text("[A-Z0-9][A-Z0-9.-]{0,31}", |s| CanonicalSymbol::parse(s).ok().filter(|s| class_of(s).check_shape(s).is_ok())),
            tradingview_symbol in proptest::option::of(text("[^\\p{Cc}]{1,64}", |s| TradingViewSymbol::parse(s).ok())),
            venue_hint in proptest::option::of(text("[a-z0-9_-]{1,32}", |s| VenueHint::parse(s).ok())),
            buy in any::<bool>(),
            quantity in positive(),
            (kind, a, b) in (0..4u8, positive(), positive()),
            tif in prop_oneof![Just(TimeInForce::Day), Just(TimeInForce::Gtc), Just(TimeInForce::Ioc), Just(TimeInForce::Fok)],
            actor in text("[^\\p{Cc}]{1,64}", |s| Actor::parse(s).ok()),
            thesis in proptest::option::of(text("[^\\p{Cc}\t\n\r]{0,200}", |s| Thesis::parse(s).ok())),
            alert_time in proptest::option::of(time()),
            received_at in time(),
        ) -> OrderIntent {
            let (a, b) = (Price::new(a).unwrap(), Price::new(b).unwrap());
            OrderIntent {
                client_order_id: ClientOrderId::derive(source, &fund_id, &key),
                source: Cow::Borrowed(source),
                fund_id,
                strategy_id,
                instrument_class: class_of(&symbol),
                symbol,
                tradingview_symbol,
                venue_hint,
                side: if buy { Side::Buy } else { Side::Sell },
                quantity: Quantity::new(quantity).unwrap(),
                pricing: match kind {
                    0 => Pricing::Market,
                    1 => Pricing::Limit { limit: a },
                    2 => Pricing::Stop { stop: b },
                    _ => Pricing::StopLimit { stop: b, limit: a },
                },
                tif,
                actor,
                idempotency_key: key,
                thesis,
                alert_time,
                received_at,
                reduce_only: false,
            }
        }
    }

    prop_compose! {
        fn record()(
            order in order(),
            kind in 0..4u8,
            change in proptest::option::of(1..1000u32),
            status in prop_oneof![
                Just(Status::Queued), Just(Status::Submitted), Just(Status::Rejected),
                Just(Status::Expired), Just(Status::Cancelled), Just(Status::Replaced),
                Just(Status::Applied),
            ],
            history in proptest::collection::vec(any::<String>(), 0..3),
            attempts in any::<u32>(),
            order_id in proptest::option::of(any::<String>()),
            last_error in proptest::option::of(any::<String>()),
            seq in any::<u64>(),
            accepted_at in any::<i64>(),
            updated_at in any::<i64>(),
        ) -> OrderRecord {
            OrderRecord {
                intent: modification_of(order, kind, change),
                status,
                attempts,
                order_id,
                last_error,
                seq,
                accepted_at: UnixMillis(accepted_at),
                updated_at: UnixMillis(updated_at),
                history,
            }
        }
    }

    /// The order itself (`kind` 0), or a cancel (1), replace (2) or cancel-all (3) of it
    /// keyed by its key, the replace changing its quantity or, without `change`, its tif.
    fn modification_of(order: OrderIntent, kind: u8, change: Option<u32>) -> Intent {
        use mts1b_inbound_core::{Cancel, CancelAll, Modification, Replace, Target};
        let target = Target::of(&order.source, &order.fund_id, order.idempotency_key.clone());
        macro_rules! new {
            ($change:expr) => {
                Modification::new(
                    order.source.clone(),
                    order.fund_id.clone(),
                    order.strategy_id.clone(),
                    order.idempotency_key.clone(),
                    order.actor.clone(),
                    order.received_at,
                    $change,
                )
            };
        }
        match kind {
            0 => Intent::Submit(order),
            1 => Intent::Cancel(new!(Cancel {
                target,
                symbol: order.symbol.clone(),
            })),
            2 => {
                let quantity = change.map(|q| Quantity::new(q.into()).unwrap());
                let tif = change
                    .is_none()
                    .then_some(mts1b_inbound_core::TimeInForce::Gtc);
                let replace = Replace::new(
                    target,
                    (order.symbol.clone(), order.instrument_class),
                    quantity,
                    None,
                    None,
                    tif,
                )
                .unwrap();
                Intent::Replace(new!(replace))
            }
            _ => Intent::CancelAll(new!(CancelAll {
                symbol: change.map(|_| order.symbol.clone()),
            })),
        }
    }

    proptest! {
        /// Every field of every record the types allow reads back exactly as written.
        #[test]
        fn every_record_reads_back_as_written(record in record()) {
            let bytes = encode(&record).unwrap();
            prop_assert_eq!(decode(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn a_record_that_would_not_read_back_is_never_written() {
        // What the parser now refuses, built by hand: year 10000 in UTC.
        let mut odd = mts1b_inbound_core::testing::order("f", "k", UnixMillis(0));
        odd.alert_time = Some(UnixMillis(UnixMillis::LATEST.0 + 1));
        let record = OrderRecord {
            intent: Intent::Submit(odd),
            status: Status::Queued,
            attempts: 0,
            order_id: None,
            last_error: None,
            seq: 0,
            accepted_at: UnixMillis(0),
            updated_at: UnixMillis(0),
            history: Vec::new(),
        };
        let refused = encode(&record).unwrap_err();
        assert!(refused.0.contains("would not read back"), "{refused}");
    }
}

#[test]
fn an_odd_record_is_refused_and_nothing_is_recorded() {
    let d = dir("odd");
    let store = OrderStore::open(&d).unwrap();
    let mut odd = order("f", "odd", T);
    odd.alert_time = Some(UnixMillis(UnixMillis::LATEST.0 + 1));
    assert!(store.record(&odd, T, WINDOW).is_err());
    assert_eq!(store.get(&odd.client_order_id).unwrap(), None);
    assert!(store.queued().unwrap().is_empty());
    // The store carries on.
    assert!(recorded(store.record(&order("f", "fine", T), T, WINDOW).unwrap()).is_some());
}

#[test]
fn an_unreadable_record_is_quarantined_at_open_and_never_stops_it() {
    let d = dir("quarantine");
    let (bad, good) = (order("f", "bad", T), order("f", "good", T));
    {
        let store = OrderStore::open(&d).unwrap();
        store.record(&bad, T, WINDOW).unwrap();
        store.record(&good, T, WINDOW).unwrap();
        // What an older build could write: an alert time RFC 3339 cannot carry.
        let txn = store.db.begin_write().unwrap();
        {
            let mut records = txn.open_table(RECORDS).unwrap();
            let text = String::from_utf8(records.get(0).unwrap().unwrap().value().to_vec())
                .unwrap()
                .replace(
                    "\"alert_time\":null",
                    "\"alert_time\":\"10000-01-01T00:00:00.000Z\"",
                );
            assert!(text.contains("10000-01-01"), "{text}");
            records.insert(0, text.as_bytes()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = OrderStore::open(&d).unwrap();
    let aside = store.quarantined_at_open();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(aside[0].seq, 0);
    assert_eq!(
        aside[0].client_order_id.as_deref(),
        Some(bad.client_order_id.to_string().as_str())
    );
    assert!(aside[0].error.contains("alert_time"), "{}", aside[0].error);
    assert_eq!(store.quarantined(), 1);
    // Out of the queue, the window and `/orders`; the good record goes on.
    let queued: Vec<_> = store.queued().unwrap().into_iter().map(|r| r.seq).collect();
    assert_eq!(queued, [1]);
    assert_eq!(store.get(&bad.client_order_id).unwrap(), None);
    assert!(store.get(&good.client_order_id).unwrap().is_some());
    assert_eq!(store.accepted_since(UnixMillis(0)).unwrap().len(), 1);
    // Kept, as found, for an operator.
    let txn = store.db.begin_read().unwrap();
    let kept = txn.open_table(QUARANTINE).unwrap();
    assert!(String::from_utf8_lossy(kept.get(0).unwrap().unwrap().value()).contains("10000-01-01"));
    drop((kept, txn, store));
    // Opening again finds nothing new and still counts it.
    let store = OrderStore::open(&d).unwrap();
    assert!(store.quarantined_at_open().is_empty());
    assert_eq!(store.quarantined(), 1);
}

/// Settling modifications against the queue (SPEC §13), one transaction each.
mod settling {
    use mts1b_inbound_core::testing::order;
    use mts1b_inbound_core::{
        Cancel, CancelAll, CanonicalSymbol, Change, Intent, Modification, OrderIntent, Price,
        Pricing, Replace, Target, UnixMillis,
    };

    use super::super::{OrderStore, Resolution, Status, Transition};
    use super::{T, WINDOW, dir};

    fn modification<C: Change>(of: &OrderIntent, key: &str, change: C) -> Modification<C> {
        Modification::new(
            of.source.clone(),
            of.fund_id.clone(),
            of.strategy_id.clone(),
            mts1b_inbound_core::IdempotencyKey::parse(key).unwrap(),
            of.actor.clone(),
            T,
            change,
        )
    }

    fn target(of: &OrderIntent) -> Target {
        Target::of(&of.source, &of.fund_id, of.idempotency_key.clone())
    }

    fn cancel(of: &OrderIntent, key: &str) -> Intent {
        Intent::Cancel(modification(
            of,
            key,
            Cancel {
                target: target(of),
                symbol: of.symbol.clone(),
            },
        ))
    }

    fn replace(of: &OrderIntent, key: &str, limit: Option<&str>, stop: Option<&str>) -> Intent {
        let price = |p: Option<&str>| p.map(|p| Price::parse(p).unwrap());
        let change = Replace::new(
            target(of),
            (of.symbol.clone(), of.instrument_class),
            None,
            price(limit),
            price(stop),
            None,
        )
        .unwrap();
        Intent::Replace(modification(of, key, change))
    }

    fn limit_order(key: &str, symbol: &str) -> OrderIntent {
        let mut o = order("f", key, T);
        o.symbol = CanonicalSymbol::parse(symbol).unwrap();
        o.pricing = Pricing::Limit {
            limit: Price::parse("100").unwrap(),
        };
        o
    }

    fn record(store: &OrderStore, intent: &Intent) -> u64 {
        match store.record_intent(intent, T, WINDOW).unwrap() {
            super::super::Recording::Recorded { seq } => seq,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cancel_of_a_queued_order_takes_it_off_the_queue_unsent() {
        let d = dir("settle-cancel");
        let store = OrderStore::open(&d).unwrap();
        let o = limit_order("a", "BTC-USD");
        store.record(&o, T, WINDOW).unwrap();
        let undo = cancel(&o, "undo");
        let seq = record(&store, &undo);
        assert_eq!(store.unsettled().unwrap().len(), 1);
        let settled = store.settle(seq, T).unwrap();
        assert!(
            matches!(&settled.resolution, Resolution::Applied(note) if note.contains("never saw")),
            "{settled:?}"
        );
        assert_eq!(settled.cancelled.len(), 1);
        assert_eq!(settled.cancelled[0].0, o.client_order_id);
        let target = store.get(&o.client_order_id).unwrap().unwrap();
        assert_eq!(target.status, Status::Cancelled);
        assert_eq!(target.history, ["cancelled before delivery by cancel undo"]);
        assert_eq!(
            store.get(&undo.id()).unwrap().unwrap().status,
            Status::Applied
        );
        assert!(store.queued().unwrap().is_empty(), "neither is sent");
        assert!(store.unsettled().unwrap().is_empty());
        // Settling again changes nothing.
        assert_eq!(store.settle(seq, T).unwrap().resolution, Resolution::Gone);
    }

    #[test]
    fn a_cancel_of_a_sent_order_waits_for_the_oms_and_one_of_an_expired_order_is_refused() {
        let d = dir("settle-sent");
        let store = OrderStore::open(&d).unwrap();
        let (sent, expired) = (limit_order("a", "BTC-USD"), limit_order("b", "BTC-USD"));
        for (o, transition) in [
            (
                &sent,
                Transition::Submitted {
                    order_id: "oms-1".into(),
                    attempts: 1,
                },
            ),
            (&expired, Transition::Expired),
        ] {
            store.record(o, T, WINDOW).unwrap();
            store.update(&o.client_order_id, T, transition).unwrap();
        }
        let later = record(&store, &cancel(&sent, "undo-a"));
        assert_eq!(
            store.settle(later, T).unwrap().resolution,
            Resolution::Deliver
        );
        assert_eq!(store.queued().unwrap().len(), 1, "the cancel, for the OMS");
        let refused = record(&store, &cancel(&expired, "undo-b"));
        assert_eq!(
            store.settle(refused, T).unwrap().resolution,
            Resolution::NotActive("the target expired: it was never sent".into())
        );
        let own = store
            .get(&cancel(&expired, "undo-b").id())
            .unwrap()
            .unwrap();
        assert_eq!(own.status, Status::Rejected);
        assert_eq!(store.queued().unwrap().len(), 1);
    }

    #[test]
    fn a_replace_rewrites_a_queued_order_unless_its_type_does_not_take_the_change() {
        let d = dir("settle-replace");
        let store = OrderStore::open(&d).unwrap();
        let o = limit_order("a", "BTC-USD");
        store.record(&o, T, WINDOW).unwrap();
        let misfit = record(&store, &replace(&o, "move-1", None, Some("90")));
        assert_eq!(
            store.settle(misfit, T).unwrap().resolution,
            Resolution::NotActive("stop_price: the target is a limit order".into())
        );
        let moved = record(&store, &replace(&o, "move-2", Some("95"), None));
        assert!(matches!(
            store.settle(moved, T).unwrap().resolution,
            Resolution::Applied(_)
        ));
        let rewritten = store.get(&o.client_order_id).unwrap().unwrap();
        assert_eq!(
            rewritten.status,
            Status::Queued,
            "still to be sent, as rewritten"
        );
        assert_eq!(
            rewritten.order().unwrap().pricing,
            Pricing::Limit {
                limit: Price::parse("95").unwrap()
            }
        );
        assert_eq!(
            rewritten.history,
            ["replaced before delivery by replace move-2: limit_price 95"]
        );
        // The queue still delivers it, and it reads back as rewritten after a restart.
        let queued: Vec<_> = store
            .queued()
            .unwrap()
            .iter()
            .map(|r| r.intent.id())
            .collect();
        assert_eq!(queued, [o.client_order_id]);
    }

    #[test]
    fn a_cancel_all_cancels_its_scopes_queued_orders_that_came_before_it() {
        let d = dir("settle-all");
        let store = OrderStore::open(&d).unwrap();
        let btc = limit_order("a", "BTC-USD");
        let eth = limit_order("b", "ETH-USD");
        let mut other_strategy = limit_order("c", "BTC-USD");
        other_strategy.strategy_id = mts1b_inbound_core::StrategyId::parse("t").unwrap();
        for o in [&btc, &eth, &other_strategy] {
            store.record(o, T, WINDOW).unwrap();
        }
        let all = Intent::CancelAll(modification(&btc, "flat", CancelAll { symbol: None }));
        let seq = record(&store, &all);
        let after = limit_order("d", "BTC-USD");
        store.record(&after, T, WINDOW).unwrap();
        drop(store);
        // Unsettled across a restart.
        let store = OrderStore::open(&d).unwrap();
        assert_eq!(store.unsettled().unwrap(), [("f\ns\n*".to_owned(), seq)]);
        let settled = store.settle(seq, UnixMillis(T.0 + 1)).unwrap();
        assert_eq!(
            settled.resolution,
            Resolution::Deliver,
            "still sent to the OMS"
        );
        let mut cancelled: Vec<_> = settled.cancelled.iter().map(|(id, _)| *id).collect();
        cancelled.sort();
        let mut expected = vec![btc.client_order_id, eth.client_order_id];
        expected.sort();
        assert_eq!(cancelled, expected);
        let left: Vec<_> = store
            .queued()
            .unwrap()
            .iter()
            .map(|r| r.intent.id())
            .collect();
        assert_eq!(
            left,
            [
                other_strategy.client_order_id,
                all.id(),
                after.client_order_id
            ],
            "another strategy's order, the cancel-all itself, and what came after it"
        );
    }
}
