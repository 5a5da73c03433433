//! The admin listener (SPEC §2, §15): `/metrics`, `/healthz`, `/readyz`, `/orders/{fund}/{key}`,
//! the admin page (`GET /`) and its actions (`POST /funds/{fund}/halt|resume`, `POST
//! /resubmit`).
//!
//! With `server.admin_token` set (required off loopback) every route but `/healthz` needs HTTP
//! Basic with the token as the password (any user name; compared in constant time; a 401 makes
//! browsers prompt). Browsers resend Basic credentials on their own, so every state-changing
//! action is a POST carrying the page's CSRF token (random per process) and is refused when
//! the browser says the request came from another site (`Sec-Fetch-Site`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use mts1b_inbound_core::form::{Form, parse_form};
use mts1b_inbound_core::{FundId, Rejection, Secret};

use super::answer::Answer;
use super::page;
use super::server::{Dropped, Reply, host_problem, method_not_allowed, order_path, reply};
use crate::halts::HaltError;
use crate::recent::RecentFilter;
use crate::resubmit::ResubmitError;
use crate::runtime::Runtime;

/// The largest admin form accepted.
const MAX_FORM_BYTES: usize = 4096;

/// How long an admin form may take to arrive.
const FORM_TIMEOUT: Duration = Duration::from_secs(5);

/// Who may use the admin routes, and the token the page's forms carry.
#[derive(Debug)]
pub struct AdminAccess {
    /// The Basic password, when one is configured.
    token: Option<Arc<Secret>>,
    /// The page's CSRF token: random, one per process.
    csrf: Secret,
}

impl AdminAccess {
    /// Access with `token` as the Basic password (`None`: open, for loopback only).
    pub fn new(token: Option<Arc<Secret>>) -> Self {
        let mut random = [0u8; 32];
        // aws-lc's generator (the one rustls uses); it fails only without an OS source of
        // randomness, when nothing secure could be made anyway.
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut random)
            .expect("the operating system's random source");
        let csrf: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            token,
            csrf: Secret::new(csrf),
        }
    }

    /// The token the page's forms carry.
    pub fn csrf(&self) -> &str {
        self.csrf.expose()
    }

    /// True when `req` may use the admin routes.
    fn admits(&self, req: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(password) = basic_password(req) else {
            return false;
        };
        token.matches(&password)
    }
}

/// The password of an `Authorization: Basic` header (decoded by the `base64` crate).
fn basic_password(req: &Request<Incoming>) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_owned())
}

fn unauthorized() -> Reply {
    let mut response = reply(Answer::rejected(&Rejection::Unauthorized));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="mts1b-tradingview admin", charset="UTF-8""#),
    );
    response
}

/// Serves one admin request.
pub(super) async fn admin(rt: Arc<Runtime>, req: Request<Incoming>) -> Result<Reply, Dropped> {
    if let Some(detail) = host_problem(&req) {
        return Ok(reply(Answer::rejected(&Rejection::BadRequest { detail })));
    }
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        if req.method() != Method::GET {
            return Ok(method_not_allowed("GET"));
        }
        return Ok(reply(Answer::json(
            200,
            &serde_json::json!({"status": "ok"}),
        )));
    }
    if !rt.admin().admits(&req) {
        return Ok(unauthorized());
    }
    if let Some((fund, action)) = fund_action(&path) {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        return fund_action_reply(&rt, fund, action, req).await;
    }
    if path == "/resubmit" {
        if req.method() != Method::POST {
            return Ok(method_not_allowed("POST"));
        }
        return resubmit_reply(&rt, req).await;
    }
    if let Some((fund, key)) = order_path(&path) {
        if req.method() != Method::GET {
            return Ok(method_not_allowed("GET"));
        }
        return Ok(match rt.order_status(&fund, &key).await {
            Ok(Some(status)) => reply(Answer::json(200, &status)),
            Ok(None) => reply(Answer::rejected(&Rejection::NotFound)),
            Err(rejection) => reply(Answer::rejected(&rejection)),
        });
    }
    if !matches!(path.as_str(), "/" | "/metrics" | "/readyz") {
        return Ok(reply(Answer::rejected(&Rejection::NotFound)));
    }
    if req.method() != Method::GET {
        return Ok(method_not_allowed("GET"));
    }
    Ok(match path.as_str() {
        "/" => {
            let filter = filter_of(req.uri().query().unwrap_or_default());
            html(StatusCode::OK, page::render(&rt, &filter).await)
        }
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(rt.metrics())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        _ => {
            let readiness = rt.readiness();
            reply(Answer::json(
                if readiness.ready { 200 } else { 503 },
                &readiness,
            ))
        }
    })
}

/// The page's filters from its query string (`?fund=F&outcome=O`; empty means any).
fn filter_of(query: &str) -> RecentFilter {
    let Ok(form) = parse_form(query.as_bytes()) else {
        return RecentFilter::default();
    };
    let given = |name| {
        form.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(64).collect())
    };
    RecentFilter {
        fund: given("fund"),
        outcome: given("outcome"),
    }
}

/// What an admin form asks to do to a fund.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FundAction {
    Halt,
    Resume,
}

/// `/funds/{fund}/halt` or `/funds/{fund}/resume`.
fn fund_action(path: &str) -> Option<(&str, FundAction)> {
    let (fund, action) = path.strip_prefix("/funds/")?.split_once('/')?;
    let action = match action {
        "halt" => FundAction::Halt,
        "resume" => FundAction::Resume,
        _ => return None,
    };
    Some((fund, action))
}

/// An admin form's fields, once the request proved to come from the page: posted from the same
/// site, carrying this process's CSRF token. `Err` is the answer refusing it.
async fn page_form(rt: &Runtime, req: Request<Incoming>) -> Result<Result<Form, Reply>, Dropped> {
    // Browsers say where a request came from; a form posted from another site is forged.
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !matches!(site, "same-origin" | "none") {
        return Ok(Err(refused(
            StatusCode::FORBIDDEN,
            "cross-site request refused",
        )));
    }
    let body = Limited::new(req.into_body(), MAX_FORM_BYTES);
    let body = match tokio::time::timeout(FORM_TIMEOUT, body.collect()).await {
        Err(_) => return Err(Dropped::BodyTimeout(FORM_TIMEOUT)),
        Ok(Err(_)) => return Ok(Err(refused(StatusCode::BAD_REQUEST, "unreadable form"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let Ok(form) = parse_form(&body) else {
        return Ok(Err(refused(StatusCode::BAD_REQUEST, "unreadable form")));
    };
    if !form
        .get("csrf")
        .is_some_and(|token| rt.admin().csrf.matches(token))
    {
        return Ok(Err(refused(
            StatusCode::FORBIDDEN,
            "the form's token is missing or stale: reload the page",
        )));
    }
    Ok(Ok(form))
}

/// Back to the page (filtered to `fund` when given).
fn back_to_page(fund: Option<&str>) -> Reply {
    let location = fund.map_or_else(|| "/".to_owned(), |f| format!("/?fund={f}"));
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/")),
    );
    response
}

/// `POST /resubmit` (fields `fund`, `key`, `new_key`): an expired order sent again as a new
/// order, on the operator's explicit action (see `resubmit`).
async fn resubmit_reply(rt: &Runtime, req: Request<Incoming>) -> Result<Reply, Dropped> {
    let form = match page_form(rt, req).await? {
        Ok(form) => form,
        Err(refusal) => return Ok(refusal),
    };
    let field = |name| form.get(name).unwrap_or_default();
    let fund = field("fund");
    match rt
        .resubmit_expired(fund, field("key"), field("new_key"))
        .await
    {
        Ok(answer) if answer.status < 300 => Ok(back_to_page(
            FundId::parse(fund).ok().map(|f| f.to_string()).as_deref(),
        )),
        Ok(answer) => Ok(refused(
            StatusCode::CONFLICT,
            &format!("not sent: {}", answer.body),
        )),
        Err(ResubmitError::Unavailable(why)) => Ok(refused(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not sent: {why}"),
        )),
        Err(e) => Ok(refused(StatusCode::CONFLICT, &format!("not sent: {e}"))),
    }
}

async fn fund_action_reply(
    rt: &Runtime,
    fund: &str,
    action: FundAction,
    req: Request<Incoming>,
) -> Result<Reply, Dropped> {
    if let Err(refusal) = page_form(rt, req).await? {
        return Ok(refusal);
    }
    let Ok(fund) = FundId::parse(fund) else {
        return Ok(refused(StatusCode::NOT_FOUND, "no such fund"));
    };
    let done = match action {
        FundAction::Halt => rt.halts().halt(&fund, rt.clock().now()).await,
        FundAction::Resume => rt.halts().resume(&fund).await,
    };
    match done {
        Ok(()) => {
            tracing::warn!(target: "mts1b::admin", fund = %fund, action = ?action, "fund kill switch changed from the admin page");
            Ok(back_to_page(None))
        }
        Err(e @ HaltError::Cluster(_)) => {
            Ok(refused(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))
        }
        Err(e) => Ok(refused(StatusCode::CONFLICT, &e.to_string())),
    }
}

/// An admin action refused, as a page a browser shows.
fn refused(status: StatusCode, why: &str) -> Reply {
    html(status, page::refusal(why))
}

/// An HTML answer with headers that keep it from being framed, cached or scripted.
fn html(status: StatusCode, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fund_actions_are_named_by_their_path() {
        assert_eq!(
            fund_action("/funds/fund-a/halt"),
            Some(("fund-a", FundAction::Halt))
        );
        assert_eq!(
            fund_action("/funds/fund-a/resume"),
            Some(("fund-a", FundAction::Resume))
        );
        assert_eq!(fund_action("/funds/fund-a/delete"), None);
        assert_eq!(fund_action("/funds/fund-a"), None);
    }

    #[test]
    fn filters_come_from_the_query() {
        let f = filter_of("fund=fund-a&outcome=");
        assert_eq!(f.fund.as_deref(), Some("fund-a"));
        assert_eq!(f.outcome, None);
        assert_eq!(filter_of("%ff").fund, None, "unreadable: no filter");
    }
}
