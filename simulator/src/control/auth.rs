//! The control plane's optional bearer token.
//!
//! Without it, anyone who reaches the HTTP port can take a carrier down, change its behaviour,
//! inject MO messages or read every message. With `http.token` set, every path but `/healthz`
//! and `/metrics` (what health checks and Prometheus scrape, and which change nothing) needs
//! `Authorization: Bearer TOKEN`; the event stream also takes `?access_token=TOKEN` (RFC 6750
//! section 2.3), because a browser's WebSocket cannot set headers. Unknown paths are answered
//! 401 too, so a stranger cannot even map the API.
//!
//! Both sides are hashed with SHA-256 and the digests compared with `subtle`, so the time a
//! comparison takes says nothing about the token, not even its length.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ControlToken;

/// Paths served without the token.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/metrics"];

/// The path that also takes the token as a query parameter.
const EVENTS_PATH: &str = "/v1/events";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token presented.
    Missing,
    /// A token that is not the one.
    Wrong,
}

/// `Ok` when `req` may go through: an open path, or the right token presented.
pub(crate) fn check(req: &Request, token: &ControlToken) -> Result<(), Refusal> {
    let path = req.uri().path();
    if OPEN_PATHS.contains(&path) {
        return Ok(());
    }
    let presented = bearer(req).or_else(|| {
        (path == EVENTS_PATH)
            .then(|| query_token(req.uri().query().unwrap_or("")))
            .flatten()
    });
    match presented {
        None => Err(Refusal::Missing),
        Some(p) if same(p.as_bytes(), token.secret().as_bytes()) => Ok(()),
        Some(_) => Err(Refusal::Wrong),
    }
}

/// The token of an `Authorization: Bearer ...` header (the scheme is case-insensitive).
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `access_token` of a query string (tokens are URL-safe characters: no decoding needed).
fn query_token(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .filter(|t| !t.is_empty())
}

/// Constant-time equality of any two strings: the digests have one length whatever theirs.
fn same(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

/// The 401 answer: `WWW-Authenticate: Bearer` (with `error="invalid_token"` when a wrong one
/// was presented, as RFC 6750 asks) and a JSON body that says what to send.
pub(crate) fn unauthorized(why: Refusal) -> Response {
    let (challenge, message) = match why {
        Refusal::Missing => (
            r#"Bearer realm="carrier-sim""#,
            "this control plane needs a token: send Authorization: Bearer TOKEN (the token given with --control-token, CARRIER_SIM_CONTROL_TOKEN or http.token)",
        ),
        Refusal::Wrong => (
            r#"Bearer realm="carrier-sim", error="invalid_token""#,
            "the token presented is not this control plane's",
        ),
    };
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    resp
}

/// The warning to print when the control plane listens on `addr` beyond this machine without
/// a token.
pub(crate) fn exposure_warning(addr: SocketAddr, token: bool) -> Option<String> {
    (!token && !addr.ip().is_loopback()).then(|| {
        format!(
            "the control plane listens on {addr}, beyond this machine, without a token: anyone who reaches it can take carriers down, change their behaviour, inject MO messages and read every message. Set --control-token (or CARRIER_SIM_CONTROL_TOKEN, or http.token in the config), or listen on 127.0.0.1"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>) -> Request {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn open_paths_need_nothing_and_the_rest_need_the_token() {
        let t = ControlToken::new("s3cret-token");
        assert_eq!(check(&req("/healthz", None), &t), Ok(()));
        assert_eq!(check(&req("/metrics", None), &t), Ok(()));
        assert_eq!(check(&req("/v1/stats", None), &t), Err(Refusal::Missing));
        assert_eq!(check(&req("/nowhere", None), &t), Err(Refusal::Missing));
        assert_eq!(
            check(&req("/v1/stats", Some("Bearer s3cret-token")), &t),
            Ok(())
        );
        assert_eq!(
            check(&req("/v1/stats", Some("bearer  s3cret-token ")), &t),
            Ok(())
        );
        assert_eq!(
            check(&req("/v1/stats", Some("Bearer s3cret-tokeN")), &t),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check(&req("/v1/stats", Some("Basic s3cret-token")), &t),
            Err(Refusal::Missing)
        );
        // The query parameter is for the event stream only.
        assert_eq!(
            check(
                &req("/v1/events?type=mo&access_token=s3cret-token", None),
                &t
            ),
            Ok(())
        );
        assert_eq!(
            check(&req("/v1/stats?access_token=s3cret-token", None), &t),
            Err(Refusal::Missing)
        );
    }

    #[test]
    fn warns_only_beyond_loopback_without_a_token() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(exposure_warning(at("127.0.0.1:8775"), false).is_none());
        assert!(exposure_warning(at("[::1]:8775"), false).is_none());
        assert!(exposure_warning(at("0.0.0.0:8775"), true).is_none());
        let w = exposure_warning(at("0.0.0.0:8775"), false).expect("a warning");
        assert!(
            w.contains("0.0.0.0:8775") && w.contains("--control-token"),
            "{w}"
        );
        assert!(exposure_warning(at("[::]:8775"), false).is_some());
        assert!(exposure_warning(at("192.0.2.7:8775"), false).is_some());
    }
}
