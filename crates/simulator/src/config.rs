//! Carrier configuration: accounts, session limits, receipt policy and delivery timing.
//!
//! The file format is TOML, parsed into serde types with `deny_unknown_fields`; every default
//! lives in the `Default` impls here and nowhere else. Errors name the file, the line and the
//! field, because a tester editing a config should not have to guess what was refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything one carrier needs to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierConfig {
    /// Carrier name, shown in metrics and the control plane.
    pub name: String,
    /// The system_id the carrier gives in bind responses.
    pub system_id: String,
    /// Accounts by system_id.
    pub accounts: BTreeMap<String, AccountConfig>,
    /// Session limits and timers.
    pub session: SessionConfig,
    /// Delivery receipt policy.
    pub receipts: ReceiptConfig,
    /// How messages are delivered.
    pub delivery: DeliveryConfig,
    /// Message store bounds.
    pub store: StoreConfig,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            system_id: "carrier-sim".into(),
            accounts: BTreeMap::new(),
            session: SessionConfig::default(),
            receipts: ReceiptConfig::default(),
            delivery: DeliveryConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

/// One ESME account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The password the ESME must present (SMPP limits it to 8 characters).
    pub password: String,
    /// Most simultaneous binds this account may hold.
    #[serde(default = "default_max_binds")]
    pub max_binds: usize,
}

fn default_max_binds() -> usize {
    16
}

impl AccountConfig {
    /// An account with the default bind limit.
    pub fn new(password: impl Into<String>) -> Self {
        Self {
            password: password.into(),
            max_binds: default_max_binds(),
        }
    }
}

/// Limits and timers for SMPP sessions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Largest accepted command_length; longer PDUs get generic_nack ESME_RINVCMDLEN and a close.
    pub max_command_length: usize,
    /// A connection that has not bound within this time is closed.
    #[serde(with = "humantime_serde")]
    pub bind_timeout: Duration,
    /// After this long without any PDU from the peer, the carrier sends enquire_link.
    #[serde(with = "humantime_serde")]
    pub enquire_link_interval: Duration,
    /// How long the carrier waits for a response to its own requests (enquire_link,
    /// deliver_sm, unbind) before treating it as missing.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// Most simultaneous connections per listener; more are refused with a clear answer.
    pub max_connections: usize,
    /// Most deliver_sm a session may have outstanding (unacknowledged) at once.
    pub deliver_window: usize,
    /// How long shutdown waits for sessions to unbind and drain.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_command_length: smpp::frame::DEFAULT_MAX_COMMAND_LENGTH,
            bind_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            deliver_window: 64,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Receipt store-and-forward and retry policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptConfig {
    /// Most receipts held per account while no receiver is bound; more are counted as overflow.
    pub store_capacity: usize,
    /// A stored receipt older than this is expired (counted).
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Attempts per receipt (first send included) before it is expired.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further retry.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Longest backoff between retries.
    #[serde(with = "humantime_serde")]
    pub retry_backoff_max: Duration,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        Self {
            store_capacity: 100_000,
            ttl: Duration::from_secs(24 * 3600),
            max_attempts: 5,
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(60),
        }
    }
}

/// Message delivery timing and ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Time from acceptance to delivery (and the final receipt).
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
    /// Format of message ids in submit_sm_resp and receipts.
    pub message_id_format: MessageIdFormat,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            message_id_format: MessageIdFormat::Hex,
        }
    }
}

/// Format of message ids.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MessageIdFormat {
    /// Lower-case hexadecimal, e.g. `1a2b3c4d5e` (the default, like most SMSCs).
    Hex,
    /// Decimal digits.
    Decimal,
    /// A random UUID.
    Uuid,
}

/// Bounds on the message store behind query_sm and `/v1/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Most messages kept; the oldest are evicted first (counted).
    pub capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { capacity: 200_000 }
    }
}

/// A configuration file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending field.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The file parsed but a value is not acceptable.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl CarrierConfig {
    /// Loads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates TOML text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let cfg: CarrierConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_col(text, span.start))
                .unwrap_or((1, 1));
            let mut message = e.message().trim().to_string();
            // toml names unknown keys but not the key whose value is wrong: add it from the line.
            if let Some(key) = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && !message.contains(*k))
            {
                message = format!("field `{key}`: {message}");
            }
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        cfg.validate()
            .map_err(|(field, message)| ConfigError::Invalid {
                path: path.to_path_buf(),
                field,
                message,
            })?;
        Ok(cfg)
    }

    /// Checks values that parse but cannot work; returns the field and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (id, acct) in &self.accounts {
            let field = |f: &str| format!("accounts.{id}.{f}");
            if id.is_empty() || id.len() > 15 {
                return Err((
                    format!("accounts.{id}"),
                    "system_id must be 1 to 15 characters (SMPP limit)".into(),
                ));
            }
            if acct.password.len() > 8 {
                return Err((
                    field("password"),
                    "must be at most 8 characters (SMPP limit)".into(),
                ));
            }
            if acct.max_binds == 0 {
                return Err((field("max_binds"), "must be at least 1".into()));
            }
        }
        let s = &self.session;
        if s.max_command_length < smpp::frame::HEADER_LEN {
            return Err((
                "session.max_command_length".into(),
                "must be at least 16 (the SMPP header)".into(),
            ));
        }
        for (name, d) in [
            ("session.bind_timeout", s.bind_timeout),
            ("session.enquire_link_interval", s.enquire_link_interval),
            ("session.response_timeout", s.response_timeout),
        ] {
            if d.is_zero() {
                return Err((name.into(), "must be longer than zero".into()));
            }
        }
        if s.max_connections == 0 {
            return Err((
                "session.max_connections".into(),
                "must be at least 1".into(),
            ));
        }
        if s.deliver_window == 0 {
            return Err(("session.deliver_window".into(), "must be at least 1".into()));
        }
        if self.receipts.max_attempts == 0 {
            return Err(("receipts.max_attempts".into(), "must be at least 1".into()));
        }
        if self.store.capacity == 0 {
            return Err(("store.capacity".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_accounts_and_durations() {
        let cfg = CarrierConfig::parse(
            Path::new("c.toml"),
            r#"
name = "alpha"
[accounts.test]
password = "secret"
max_binds = 2
[session]
bind_timeout = "3s"
[delivery]
delay = "250ms"
message_id_format = "uuid"
"#,
        )
        .unwrap();
        assert_eq!(cfg.accounts["test"].max_binds, 2);
        assert_eq!(cfg.session.bind_timeout, Duration::from_secs(3));
        assert_eq!(cfg.delivery.delay, Duration::from_millis(250));
        assert_eq!(cfg.delivery.message_id_format, MessageIdFormat::Uuid);
    }

    #[test]
    fn unknown_key_names_file_line_and_field() {
        let err = CarrierConfig::parse(
            Path::new("c.toml"),
            "name = \"a\"\n[session]\nbind_timout = \"3s\"\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("c.toml:3:"), "{msg}");
        assert!(msg.contains("bind_timout"), "{msg}");
    }

    #[test]
    fn invalid_value_names_field() {
        let err = CarrierConfig::parse(
            Path::new("c.toml"),
            "[accounts.test]\npassword = \"far-too-long\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml: accounts.test.password: must be at most 8 characters (SMPP limit)"
        );
    }
}
