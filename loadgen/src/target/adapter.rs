//! A verification API reached over HTTP, described by request templates: how to start and check
//! (method, path, body with `{{to}}`, `{{code}}`, `{{id}}`, `{{client_ip}}` ... placeholders),
//! and how to read the answers (JSON pointers to the id, the status and the refusal's reason;
//! which HTTP statuses mean started, refused, gone). The reference verifier's `/v1` API and
//! Twilio Verify's v2 API are presets of the same adapter ([`Adapter::verifier`],
//! [`Adapter::twilio`]); a team's own service is described in the scenario file
//! ([`Adapter::from_file`]).
//!
//! Values are escaped for where they go: percent-encoded in paths and form bodies, JSON-escaped
//! in JSON bodies, so a template cannot be broken by a value. Answers are read defensively: a
//! body that is not JSON, a missing field or an unexpected status is an outcome of the
//! verification (`failed`, with the reason), never a panic.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::answers::{Attempt, CheckAnswer, StartAnswer, StartReq};
use crate::scenario::{BodyEncoding, ChannelChoice, HttpAdapterFile, RequestFile};

/// A placeholder of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    To,
    ToDigits,
    Channel,
    ClientIp,
    DeviceId,
    Id,
    Code,
    Attestation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Var(Var),
}

/// How values are escaped into a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Percent-encoded (paths).
    Path,
    /// Percent-encoded, space as `+` (form bodies).
    Form,
    /// JSON string content.
    Json,
    /// As is (header values).
    Raw,
}

/// A template compiled once: literal pieces and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Seg>);

/// The values placeholders stand for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Values<'a> {
    /// `+` and the digits.
    pub to: &'a str,
    /// The channel's word for this service.
    pub channel: &'a str,
    /// The user's IP ("" when none).
    pub client_ip: &'a str,
    /// The user's device ("" when none).
    pub device_id: &'a str,
    /// The verification id ("" before the start's answer).
    pub id: &'a str,
    /// The code typed.
    pub code: &'a str,
    /// The app's attestation token ("" when none).
    pub attestation: &'a str,
}

impl Template {
    fn compile(t: &str) -> Result<Self, String> {
        let mut segs = Vec::new();
        let mut rest = t;
        while let Some(i) = rest.find("{{") {
            if i > 0 {
                segs.push(Seg::Lit(rest[..i].to_string()));
            }
            let after = &rest[i + 2..];
            let j = after
                .find("}}")
                .ok_or_else(|| format!("`{t}`: a `{{{{` without its `}}}}`"))?;
            let var = match after[..j].trim() {
                "to" => Var::To,
                "to_digits" => Var::ToDigits,
                "channel" => Var::Channel,
                "client_ip" => Var::ClientIp,
                "device_id" => Var::DeviceId,
                "id" => Var::Id,
                "code" => Var::Code,
                "attestation" => Var::Attestation,
                other => return Err(format!("`{t}`: unknown placeholder `{other}`")),
            };
            segs.push(Seg::Var(var));
            rest = &after[j + 2..];
        }
        if !rest.is_empty() {
            segs.push(Seg::Lit(rest.to_string()));
        }
        Ok(Self(segs))
    }

    fn render(&self, v: &Values<'_>, esc: Escape) -> String {
        let mut out = String::with_capacity(64);
        for seg in &self.0 {
            match seg {
                Seg::Lit(s) => out.push_str(s),
                Seg::Var(var) => {
                    let value = match var {
                        Var::To => v.to,
                        Var::ToDigits => v.to.trim_start_matches('+'),
                        Var::Channel => v.channel,
                        Var::ClientIp => v.client_ip,
                        Var::DeviceId => v.device_id,
                        Var::Id => v.id,
                        Var::Code => v.code,
                        Var::Attestation => v.attestation,
                    };
                    escape_into(&mut out, value, esc);
                }
            }
        }
        out
    }
}

fn escape_into(out: &mut String, value: &str, esc: Escape) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match esc {
        Escape::Raw => out.push_str(value),
        Escape::Json => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
        }
        Escape::Path | Escape::Form => {
            for b in value.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        out.push(b as char)
                    }
                    b' ' if esc == Escape::Form => out.push('+'),
                    b => {
                        out.push('%');
                        out.push(HEX[usize::from(b >> 4)] as char);
                        out.push(HEX[usize::from(b & 15)] as char);
                    }
                }
            }
        }
    }
}

/// One request of the adapter.
#[derive(Debug, Clone)]
struct Call {
    method: reqwest::Method,
    path: Template,
    body: Option<(Template, BodyEncoding)>,
}

impl Call {
    fn compile(r: &RequestFile) -> Result<Self, String> {
        Ok(Self {
            method: reqwest::Method::from_bytes(r.method.as_bytes())
                .map_err(|_| format!("`{}` is not an HTTP method", r.method))?,
            path: Template::compile(&r.path)?,
            body: match &r.body {
                Some(b) => Some((Template::compile(b)?, r.encoding)),
                None => None,
            },
        })
    }
}

/// An HTTP verification API.
#[derive(Debug)]
pub struct Adapter {
    kind: &'static str,
    base: String,
    client: reqwest::Client,
    headers: Vec<(HeaderName, Template)>,
    start: Call,
    start_id: Option<String>,
    start_ok: Vec<u16>,
    start_refused: Vec<u16>,
    reason: Vec<String>,
    check: Call,
    check_status: Option<String>,
    approved: Vec<String>,
    expired: Vec<String>,
    max_attempts: Vec<String>,
    check_ok: Vec<u16>,
    gone: Vec<u16>,
    gone_means_expired: bool,
    max_attempts_http: Vec<u16>,
    channel_words: [String; 3],
    attempts: Option<Template>,
    /// Requests under way at once, at most [`MAX_REQUESTS`].
    permits: tokio::sync::Semaphore,
}

/// Most requests to the service under way at once. HTTP/1.1 needs a connection per request
/// under way: unbounded, an overloaded service makes loadgen open ever more connections, each
/// costing CPU on both sides, until connecting fails (measured in BENCHMARKS.md, "loadgen
/// run"). Bounded, a request waits for a connection in turn, and since latencies are measured
/// from the intended start, the wait shows as latency: the service's overload stays visible as
/// what users would feel.
pub const MAX_REQUESTS: usize = 256;

fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(MAX_REQUESTS)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

fn header(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))
}

impl Adapter {
    /// The adapter a scenario's `[target.service]` of kind `http` describes.
    pub fn from_file(h: &HttpAdapterFile, timeout: Duration) -> Result<Self, String> {
        let headers = h
            .headers
            .iter()
            .map(|(k, v)| Ok((header(k)?, Template::compile(v)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            kind: "http",
            base: h.url.trim_end_matches('/').to_string(),
            client: client(timeout)?,
            headers,
            start: Call::compile(&h.start.request())?,
            start_id: h.start.id.clone(),
            start_ok: h.start.success.clone(),
            start_refused: h.start.blocked.clone(),
            reason: h.start.reason.iter().cloned().collect(),
            check: Call::compile(&h.check.request())?,
            check_status: h.check.status.clone(),
            approved: h.check.approved.clone(),
            expired: h.check.expired.clone(),
            max_attempts: h.check.max_attempts.clone(),
            check_ok: h.check.success.clone(),
            gone: h.check.not_found.clone(),
            gone_means_expired: false,
            max_attempts_http: Vec::new(),
            channel_words: [
                ChannelChoice::Sms,
                ChannelChoice::Voice,
                ChannelChoice::Auto,
            ]
            .map(|c| h.channels.get(&c).cloned().unwrap_or(c.word().to_string())),
            attempts: None,
            permits: tokio::sync::Semaphore::new(MAX_REQUESTS),
        })
    }

    /// The reference verifier's `/v1` API (with an API key, when it asks for one).
    pub fn verifier(url: &str, api_key: Option<&str>, timeout: Duration) -> Result<Self, String> {
        let request = |path: &str, body: Option<&str>| RequestFile {
            method: "POST".into(),
            path: path.into(),
            body: body.map(str::to_string),
            encoding: BodyEncoding::Json,
        };
        let mut headers = vec![(
            HeaderName::from_static("x-attestation-token"),
            Template(vec![Seg::Var(Var::Attestation)]),
        )];
        if let Some(key) = api_key {
            headers.push((
                reqwest::header::AUTHORIZATION,
                Template(vec![Seg::Lit(format!("Bearer {key}"))]),
            ));
        }
        Ok(Self {
            kind: "verifier",
            base: url.trim_end_matches('/').to_string(),
            client: client(timeout)?,
            headers,
            start: Call::compile(&request(
                "/v1/verifications",
                Some(
                    r#"{"to":"{{to}}","channel":"{{channel}}","client_ip":"{{client_ip}}","device_id":"{{device_id}}"}"#,
                ),
            ))?,
            start_id: Some("/id".into()),
            start_ok: vec![200, 201],
            start_refused: vec![400, 401, 403, 429, 503],
            reason: vec!["/rule".into(), "/code".into()],
            check: Call::compile(&request(
                "/v1/verifications/check",
                Some(r#"{"id":"{{id}}","code":"{{code}}"}"#),
            ))?,
            check_status: Some("/status".into()),
            approved: vec!["approved".into()],
            expired: vec!["expired".into()],
            max_attempts: vec!["max_attempts".into()],
            check_ok: vec![200],
            gone: vec![404],
            gone_means_expired: false,
            max_attempts_http: Vec::new(),
            channel_words: ["sms".into(), "voice".into(), "auto".into()],
            attempts: Some(Template::compile("/v1/verifications/{{id}}")?),
            permits: tokio::sync::Semaphore::new(MAX_REQUESTS),
        })
    }

    /// A service speaking Twilio Verify v2 at `url` (standing in for
    /// `https://verify.twilio.com`): form bodies, `Channel` `sms` or `call` (`auto` asks for
    /// `sms`: Twilio has no such channel), HTTP Basic auth when credentials are given. Twilio
    /// answers a check of an expired verification with 404, so the preset counts a 404 on a
    /// check as expired; too many checks answer 429.
    pub fn twilio(
        url: &str,
        service_sid: &str,
        auth: Option<(&str, &str)>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let request = |path: String, body: &str| RequestFile {
            method: "POST".into(),
            path,
            body: Some(body.into()),
            encoding: BodyEncoding::Form,
        };
        let mut headers = Vec::new();
        if let Some((sid, token)) = auth {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"));
            headers.push((
                reqwest::header::AUTHORIZATION,
                Template(vec![Seg::Lit(format!("Basic {basic}"))]),
            ));
        }
        Ok(Self {
            kind: "twilio",
            base: url.trim_end_matches('/').to_string(),
            client: client(timeout)?,
            headers,
            start: Call::compile(&request(
                format!("/v2/Services/{service_sid}/Verifications"),
                "To={{to}}&Channel={{channel}}&DeviceIp={{client_ip}}",
            ))?,
            start_id: Some("/sid".into()),
            start_ok: vec![200, 201],
            start_refused: vec![400, 401, 403, 429, 503],
            reason: vec!["/code".into()],
            check: Call::compile(&request(
                format!("/v2/Services/{service_sid}/VerificationCheck"),
                "VerificationSid={{id}}&Code={{code}}",
            ))?,
            check_status: Some("/status".into()),
            approved: vec!["approved".into()],
            expired: vec!["expired".into()],
            max_attempts: vec!["max_attempts_reached".into()],
            check_ok: vec![200],
            gone: vec![404],
            gone_means_expired: true,
            max_attempts_http: vec![429],
            channel_words: ["sms".into(), "call".into(), "sms".into()],
            attempts: None,
            permits: tokio::sync::Semaphore::new(MAX_REQUESTS),
        })
    }

    /// `verifier`, `twilio` or `http`, and where.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.base)
    }

    /// Whether the service tells each verification's attempts.
    pub fn has_attempts(&self) -> bool {
        self.attempts.is_some()
    }

    fn channel_word(&self, c: ChannelChoice) -> &str {
        match c {
            ChannelChoice::Sms => &self.channel_words[0],
            ChannelChoice::Voice => &self.channel_words[1],
            ChannelChoice::Auto => &self.channel_words[2],
        }
    }

    async fn send(&self, call: &Call, v: &Values<'_>) -> Result<(u16, Value), String> {
        let url = format!("{}{}", self.base, call.path.render(v, Escape::Path));
        let mut headers = HeaderMap::new();
        for (name, t) in &self.headers {
            let value = t.render(v, Escape::Raw);
            // A header whose placeholders are all empty (no attestation token) is left out,
            // as the app would leave it out.
            if value.is_empty() {
                continue;
            }
            headers.insert(
                name.clone(),
                HeaderValue::from_str(&value).map_err(|_| format!("header {name}: bad value"))?,
            );
        }
        let mut req = self
            .client
            .request(call.method.clone(), &url)
            .headers(headers);
        if let Some((t, enc)) = &call.body {
            let (esc, ct) = match enc {
                BodyEncoding::Json => (Escape::Json, "application/json"),
                BodyEncoding::Form => (Escape::Form, "application/x-www-form-urlencoded"),
            };
            req = req
                .header(reqwest::header::CONTENT_TYPE, ct)
                .body(t.render(v, esc));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| "the run is over".to_string())?;
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                "timeout".to_string()
            } else {
                format!("{e}")
            }
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        // A body that is not JSON reads as null: only pointers into it fail.
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Starts a verification.
    pub async fn start(&self, r: &StartReq<'_>) -> StartAnswer {
        let to = format!("+{}", r.to);
        let v = Values {
            to: &to,
            channel: self.channel_word(r.channel),
            client_ip: r.client_ip.unwrap_or(""),
            device_id: r.device_id.unwrap_or(""),
            attestation: r.attestation.unwrap_or(""),
            ..Values::default()
        };
        let (status, body) = match self.send(&self.start, &v).await {
            Ok(x) => x,
            Err(detail) => {
                return StartAnswer::Failed {
                    reason: "start_error",
                    detail,
                };
            }
        };
        if self.start_ok.contains(&status) {
            let id = match &self.start_id {
                None => None,
                Some(p) => match body.pointer(p).and_then(word) {
                    Some(id) => Some(id),
                    None => {
                        return StartAnswer::Failed {
                            reason: "start_error",
                            detail: format!("HTTP {status}: no id at `{p}` in the answer"),
                        };
                    }
                },
            };
            return StartAnswer::Started { id };
        }
        if self.start_refused.contains(&status) {
            let reason = self
                .reason
                .iter()
                .find_map(|p| body.pointer(p).and_then(word))
                .unwrap_or_else(|| format!("http_{status}"));
            return StartAnswer::Refused { reason };
        }
        StartAnswer::Failed {
            reason: "start_error",
            detail: format!("HTTP {status}"),
        }
    }

    /// Checks `code` for verification `id` (or the number).
    pub async fn check(&self, id: Option<&str>, to: u64, code: &str) -> CheckAnswer {
        let to = format!("+{to}");
        let v = Values {
            to: &to,
            id: id.unwrap_or(""),
            code,
            ..Values::default()
        };
        let (status, body) = match self.send(&self.check, &v).await {
            Ok(x) => x,
            Err(detail) => return CheckAnswer::Failed(detail),
        };
        if self.gone.contains(&status) {
            return if self.gone_means_expired {
                CheckAnswer::Expired
            } else {
                CheckAnswer::NotFound
            };
        }
        if self.max_attempts_http.contains(&status) {
            return CheckAnswer::MaxAttempts;
        }
        if !self.check_ok.contains(&status) {
            return CheckAnswer::Failed(format!("HTTP {status}"));
        }
        let Some(p) = &self.check_status else {
            return CheckAnswer::Approved;
        };
        let Some(w) = body.pointer(p).and_then(word) else {
            return CheckAnswer::Failed(format!("HTTP {status}: no status at `{p}`"));
        };
        if self.approved.contains(&w) {
            CheckAnswer::Approved
        } else if self.expired.contains(&w) {
            CheckAnswer::Expired
        } else if self.max_attempts.contains(&w) {
            CheckAnswer::MaxAttempts
        } else {
            CheckAnswer::Wrong
        }
    }

    /// The attempts of verification `id` (`/v1` shape), when the service tells them.
    pub async fn attempts(&self, id: &str) -> Option<Vec<Attempt>> {
        let path = self.attempts.as_ref()?;
        let v = Values {
            id,
            ..Values::default()
        };
        let call = Call {
            method: reqwest::Method::GET,
            path: path.clone(),
            body: None,
        };
        let (status, body) = self.send(&call, &v).await.ok()?;
        if status != 200 {
            return None;
        }
        let list = body.get("attempts")?.as_array()?;
        Some(list.iter().filter_map(attempt).collect())
    }
}

/// A JSON string or number as a word.
fn word(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One attempt of a `/v1` record.
fn attempt(v: &Value) -> Option<Attempt> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Attempt {
        channel: text("channel")?,
        carrier: text("carrier").unwrap_or_default(),
        submitted_at: text("submitted_at")?.parse::<DateTime<Utc>>().ok()?,
        failover_cause: text("failover_cause"),
        routed: text("routed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_values_for_where_they_go() {
        let t = Template::compile(r#"{"to":"{{to}}","d":"{{device_id}}"}"#).unwrap();
        let v = Values {
            to: "+447700900123",
            device_id: "a\"b\\c",
            ..Values::default()
        };
        assert_eq!(
            t.render(&v, Escape::Json),
            r#"{"to":"+447700900123","d":"a\"b\\c"}"#
        );
        let t = Template::compile("To={{to}}&Code={{code}}").unwrap();
        let v = Values {
            to: "+44 77",
            code: "12&3",
            ..Values::default()
        };
        assert_eq!(t.render(&v, Escape::Form), "To=%2B44+77&Code=12%263");
        let t = Template::compile("/v/{{to_digits}}/{{id}}").unwrap();
        let v = Values {
            to: "+4477",
            id: "VE/1",
            ..Values::default()
        };
        assert_eq!(t.render(&v, Escape::Path), "/v/4477/VE%2F1");
        assert!(Template::compile("{{nope}}").is_err());
        assert!(Template::compile("{{to").is_err());
    }

    #[test]
    fn attempts_are_read_from_v1_records() {
        let v: Value = serde_json::json!({
            "channel": "sms", "carrier": "alpha", "submitted_at": "2026-01-01T00:00:00.250Z",
            "failover_cause": "step_timeout", "routed": null
        });
        let a = attempt(&v).expect("an attempt");
        assert_eq!(a.failover_cause.as_deref(), Some("step_timeout"));
        assert_eq!(a.routed, None);
        assert!(attempt(&serde_json::json!({"channel": "sms"})).is_none());
    }
}
