//! The vocabulary of the MTS1B inbound bridge.
//!
//! Everything an adapter, the runtime and the configuration share, and nothing that does I/O:
//! the [`InboundAdapter`] contract and its [`Authenticated`] typestate, the canonical
//! [`OrderIntent`] built from validated newtypes ([`Quantity`], [`Price`], [`CanonicalSymbol`],
//! ...), the closed set of [`Rejection`]s, [`Secret`] and [`SecretSource`], the symbology table,
//! fund policies (envelope and rate limit), IP networks, the deterministic [`ClientOrderId`] and the injectable [`Clock`].

pub mod adapter;
pub mod client_order_id;
pub mod decimal;
pub mod decision;
pub mod envelope;
pub mod form;
pub mod fund;
pub mod grant;
pub mod ids;
pub mod instrument;
pub mod json_text;
pub mod modification;
pub mod net;
pub mod order;
pub mod rejection;
pub mod reloadable;
pub mod request;
pub mod secret;
pub mod symbol_pattern;
pub mod symbology;
pub mod testing;
pub mod time;
pub mod translate;

pub use adapter::{Authenticated, InboundAdapter, Principal, authenticate, member_principal};
pub use client_order_id::ClientOrderId;
pub use decimal::{DecimalError, Price, Quantity};
pub use decision::{Decision, FollowUp, FollowUpMethod};
pub use envelope::Envelope;
pub use fund::{FundMap, FundPolicy, RateLimit};
pub use grant::{Grant, Grantee, Grants, Member};
pub use ids::{
    Actor, CanonicalSymbol, FundId, IdempotencyKey, PlatformId, StrategyId, TextError, Thesis,
    TradingViewSymbol, VenueHint,
};
pub use instrument::InstrumentClass;
pub use modification::{
    Cancel, CancelAll, Change, FlatModification, KnownOrder, KnownOrders, Modification,
    NoKnownOrders, Replace, StoredModification, Target,
};
pub use net::IpNet;
pub use order::{Intent, IntentKind, OrderIntent, OrderType, Pricing, Side, TimeInForce};
pub use rejection::Rejection;
pub use reloadable::Reloadable;
pub use request::RawRequest;
pub use secret::{FundSecrets, Secret, SecretCheck, SecretLookup, SecretSource};
pub use symbol_pattern::SymbolPattern;
pub use symbology::{Mapped, SymbolRefusal, SymbolTable, Timing};
pub use time::{Clock, ManualClock, SystemClock, UnixMillis};
pub use translate::{
    Admission, AnyFund, AwaitedGates, Funds, Gates, NoGates, Translated, Translation, translate,
    translate_awaiting,
};
