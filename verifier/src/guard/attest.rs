//! App attestation, standing in for the platform attestation services (Play Integrity, App
//! Attest): an API key shipped in a mobile app is public, so a start must also carry a
//! short-lived token the app got from its attestation service. Here that service is
//! `verifier attest`, which signs `{device_id, exp, nonce}` with the attestation key.
//!
//! A token is `base64url(payload JSON) "." base64url(HMAC-SHA-256(key, payload))`. It is
//! refused when missing or forged (401), and when expired, claiming a lifetime over `max_ttl`,
//! issued for another device or replayed (403). Seen nonces are kept until their token
//! expires, so memory is bounded by the rate of valid tokens times their lifetime; nobody
//! without the key can add to it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::otp::{Key, same};
use crate::support::sharded::Sharded;

/// The signed claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Claims {
    /// The device the token was issued to.
    pub device_id: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Random, once only.
    pub nonce: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AttestError {
    #[error("no attestation token (header X-Attestation-Token or field attestation_token)")]
    Missing,
    #[error("attestation token is malformed or its signature is wrong")]
    Forged,
    #[error("attestation token expired")]
    Expired,
    #[error("attestation token claims a lifetime over the allowed {0} s")]
    TooLong(u64),
    #[error("attestation token was issued to another device")]
    OtherDevice,
    #[error("attestation token was already used")]
    Replayed,
}

impl AttestError {
    /// 401 for who-are-you failures, 403 for a known token refused.
    pub(crate) fn unauthorized(&self) -> bool {
        matches!(self, AttestError::Missing | AttestError::Forged)
    }

    pub(crate) fn word(&self) -> &'static str {
        match self {
            AttestError::Missing => "missing",
            AttestError::Forged => "forged",
            AttestError::Expired => "expired",
            AttestError::TooLong(_) => "too_long",
            AttestError::OtherDevice => "other_device",
            AttestError::Replayed => "replayed",
        }
    }
}

/// Signs claims: what `verifier attest` prints.
pub(crate) fn issue(key: &str, device_id: &str, ttl_secs: u64, now_unix: i64) -> String {
    let claims = Claims {
        device_id: device_id.to_string(),
        exp: now_unix + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
        nonce: format!("{:032x}", crate::otp::random_u128()),
    };
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let mac = Key::from_bytes(key.as_bytes()).mac(b"attest", &[&payload]);
    format!("{}.{}", B64.encode(&payload), B64.encode(mac))
}

/// The checker of one service.
#[derive(Debug)]
pub(crate) struct Attestation {
    key: Key,
    max_ttl_secs: u64,
    seen: Sharded<String, i64>,
}

impl Attestation {
    pub(crate) fn new(key: &str, max_ttl_secs: u64) -> Self {
        Self {
            key: Key::from_bytes(key.as_bytes()),
            max_ttl_secs,
            seen: Sharded::default(),
        }
    }

    /// Checks `token` for a start from `device` (when the request names one) at `now_unix`.
    pub(crate) fn verify(
        &self,
        token: Option<&str>,
        device: Option<&str>,
        now_unix: i64,
    ) -> Result<Claims, AttestError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(AttestError::Missing)?;
        let (payload, mac) = token.split_once('.').ok_or(AttestError::Forged)?;
        let payload = B64.decode(payload).map_err(|_| AttestError::Forged)?;
        let mac = B64.decode(mac).map_err(|_| AttestError::Forged)?;
        if !same(&self.key.mac(b"attest", &[&payload]), &mac) {
            return Err(AttestError::Forged);
        }
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| AttestError::Forged)?;
        if claims.exp <= now_unix {
            return Err(AttestError::Expired);
        }
        if (claims.exp - now_unix) as u64 > self.max_ttl_secs {
            return Err(AttestError::TooLong(self.max_ttl_secs));
        }
        if device.is_some_and(|d| d != claims.device_id) {
            return Err(AttestError::OtherDevice);
        }
        let mut shard = self.seen.shard(&claims.nonce);
        if shard.contains_key(&claims.nonce) {
            return Err(AttestError::Replayed);
        }
        if shard.len() > 1024 {
            shard.retain(|_, exp| *exp > now_unix);
        }
        shard.insert(claims.nonce.clone(), claims.exp);
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "attestation-key-0123456789";

    #[test]
    fn valid_once_then_replayed() {
        let a = Attestation::new(KEY, 300);
        let t = issue(KEY, "dev-1", 60, 1000);
        assert_eq!(
            a.verify(Some(&t), Some("dev-1"), 1000).unwrap().device_id,
            "dev-1"
        );
        assert_eq!(
            a.verify(Some(&t), Some("dev-1"), 1001),
            Err(AttestError::Replayed)
        );
    }

    #[test]
    fn refusals() {
        let a = Attestation::new(KEY, 300);
        assert_eq!(a.verify(None, None, 0), Err(AttestError::Missing));
        assert_eq!(a.verify(Some("abc"), None, 0), Err(AttestError::Forged));
        let other = issue("another-key-0123456789", "d", 60, 1000);
        assert_eq!(a.verify(Some(&other), None, 1000), Err(AttestError::Forged));
        let t = issue(KEY, "d", 60, 1000);
        assert_eq!(a.verify(Some(&t), None, 1060), Err(AttestError::Expired));
        let t = issue(KEY, "d", 3600, 1000);
        assert_eq!(
            a.verify(Some(&t), None, 1000),
            Err(AttestError::TooLong(300))
        );
        let t = issue(KEY, "d", 60, 1000);
        assert_eq!(
            a.verify(Some(&t), Some("e"), 1000),
            Err(AttestError::OtherDevice)
        );
        // A payload changed after signing.
        let (p, m) = t.split_once('.').unwrap();
        let mut claims: Claims = serde_json::from_slice(&B64.decode(p).unwrap()).unwrap();
        claims.exp += 100;
        let forged = format!("{}.{m}", B64.encode(serde_json::to_vec(&claims).unwrap()));
        assert_eq!(
            a.verify(Some(&forged), None, 1000),
            Err(AttestError::Forged)
        );
    }
}
