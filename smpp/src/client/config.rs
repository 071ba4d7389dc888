//! Configuration of an ESME client session: credentials, bind mode, window, timers,
//! reconnection and the policy for answering deliveries.
//!
//! Defaults live in [`ClientConfig::new`] and nowhere else, so verifier, loadgen and the tests
//! all start from the same session behaviour and override only what they mean to.

use std::time::Duration;

use rusmpp::CommandId;
use rusmpp::CommandStatus;

use super::ClientError;
use crate::frame::DEFAULT_MAX_COMMAND_LENGTH;

/// Which kind of bind the session opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// bind_transmitter: submit only, no deliveries.
    Transmitter,
    /// bind_receiver: deliveries only, no submits.
    Receiver,
    /// bind_transceiver: both directions on one connection.
    #[default]
    Transceiver,
}

impl BindMode {
    /// The bind request's command id.
    pub fn command_id(self) -> CommandId {
        match self {
            BindMode::Transmitter => CommandId::BindTransmitter,
            BindMode::Receiver => CommandId::BindReceiver,
            BindMode::Transceiver => CommandId::BindTransceiver,
        }
    }

    /// The bind request's name, for errors and logs (`bind_transceiver`).
    pub fn name(self) -> &'static str {
        match self {
            BindMode::Transmitter => "bind_transmitter",
            BindMode::Receiver => "bind_receiver",
            BindMode::Transceiver => "bind_transceiver",
        }
    }
}

/// Reconnection with exponential backoff (factor 2) after an established session drops.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// Delay before the first attempt.
    pub initial_backoff: Duration,
    /// Upper bound of the delay between attempts.
    pub max_backoff: Duration,
    /// Draw each delay uniformly from [delay/2, delay] so that many clients dropped together do
    /// not reconnect in lockstep.
    pub jitter: bool,
    /// Give up after this many failed attempts in a row (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            jitter: true,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt number `attempt` (0-based), `unit` being a random draw in
    /// [0, 1) used only when jitter is on.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        if self.jitter {
            base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
        } else {
            base
        }
    }
}

/// How the client answers deliver_sm and data_sm from the SMSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverAck {
    /// Answer every delivery at once with this status (ESME_ROK normally; a temporary error such
    /// as ESME_RX_T_APPN makes the SMSC retry).
    Auto(CommandStatus),
    /// Hand a [`DeliverResponder`](super::DeliverResponder) to the application with each
    /// delivery event; the application must answer through it. A responder dropped unanswered
    /// answers ESME_RX_T_APPN, so the SMSC retries instead of losing the message.
    Manual,
}

impl Default for DeliverAck {
    fn default() -> Self {
        DeliverAck::Auto(CommandStatus::EsmeRok)
    }
}

/// Everything a session needs besides the transport.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// system_id sent in the bind (at most 15 characters).
    pub system_id: String,
    /// password sent in the bind (at most 8 characters).
    pub password: String,
    /// system_type sent in the bind (at most 12 characters; empty by default).
    pub system_type: String,
    /// Kind of bind.
    pub bind: BindMode,
    /// interface_version sent in the bind: 0x34 by default; 0x33 and 0x50 are also accepted.
    pub interface_version: u8,
    /// addr_ton sent in the bind.
    pub addr_ton: u8,
    /// addr_npi sent in the bind.
    pub addr_npi: u8,
    /// address_range sent in the bind (at most 40 characters).
    pub address_range: String,
    /// Maximum number of requests awaiting their response at once.
    pub window: usize,
    /// How long a request (and the bind, and unbind) waits for its response; also how long a
    /// request waits for a dropped link to come back before it is given up.
    pub response_timeout: Duration,
    /// Bound on the TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// Interval of the enquire_link keep-alive (`None`: no keep-alive). A keep-alive that gets
    /// no response within `response_timeout` declares the link dead.
    pub enquire_link_interval: Option<Duration>,
    /// Longest PDU accepted from the SMSC, in octets.
    pub max_command_length: usize,
    /// Reconnection after a drop (`None`: the session ends with the connection). Only used by
    /// [`Client::connect`](super::Client::connect), which knows how to dial again.
    pub reconnect: Option<ReconnectPolicy>,
    /// How deliveries are answered.
    pub deliver_ack: DeliverAck,
    /// Capacity of the event stream.
    pub event_buffer: usize,
}

impl ClientConfig {
    /// A transceiver config with the given credentials and the defaults: SMPP 3.4, window 10,
    /// 10 s response timeout, 10 s connect timeout, enquire_link every 30 s, no reconnection,
    /// deliveries acked with ESME_ROK, 1024 buffered events.
    pub fn new(system_id: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            bind: BindMode::Transceiver,
            interface_version: 0x34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
            window: 10,
            response_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            enquire_link_interval: Some(Duration::from_secs(30)),
            max_command_length: DEFAULT_MAX_COMMAND_LENGTH,
            reconnect: None,
            deliver_ack: DeliverAck::default(),
            event_buffer: 1024,
        }
    }

    /// Checks what the SMSC would otherwise refuse, or what would make the session misbehave.
    pub fn validate(&self) -> Result<(), ClientError> {
        check_c_string("system_id", &self.system_id, 15)?;
        check_c_string("password", &self.password, 8)?;
        check_c_string("system_type", &self.system_type, 12)?;
        check_c_string("address_range", &self.address_range, 40)?;
        if !matches!(self.interface_version, 0x33 | 0x34 | 0x50) {
            return Err(invalid(
                "interface_version",
                format!(
                    "0x{:02x} is not one of 0x33, 0x34, 0x50",
                    self.interface_version
                ),
            ));
        }
        if self.window == 0 {
            return Err(invalid("window", "must be at least 1".into()));
        }
        if self.event_buffer == 0 {
            return Err(invalid("event_buffer", "must be at least 1".into()));
        }
        if self.response_timeout.is_zero() {
            return Err(invalid("response_timeout", "must be above zero".into()));
        }
        if self.enquire_link_interval.is_some_and(|d| d.is_zero()) {
            return Err(invalid(
                "enquire_link_interval",
                "must be above zero (use None to disable)".into(),
            ));
        }
        if self.max_command_length < crate::frame::HEADER_LEN {
            return Err(invalid(
                "max_command_length",
                format!("must be at least {}", crate::frame::HEADER_LEN),
            ));
        }
        if let Some(p) = &self.reconnect
            && (p.initial_backoff.is_zero() || p.max_backoff < p.initial_backoff)
        {
            return Err(invalid(
                "reconnect",
                "needs 0 < initial_backoff <= max_backoff".into(),
            ));
        }
        Ok(())
    }
}

fn invalid(field: &'static str, reason: String) -> ClientError {
    ClientError::InvalidConfig { field, reason }
}

fn check_c_string(field: &'static str, value: &str, max: usize) -> Result<(), ClientError> {
    if !value.is_ascii() || value.contains('\0') {
        return Err(invalid(field, "must be ASCII without NUL".into()));
    }
    if value.len() > max {
        return Err(invalid(
            field,
            format!("{} characters, at most {max} allowed", value.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = ReconnectPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            jitter: false,
            max_attempts: None,
        };
        let ms: Vec<u128> = (0..6).map(|a| p.delay(a, 0.0).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(u32::MAX, 0.0), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_stays_between_half_and_full_delay() {
        let p = ReconnectPolicy {
            initial_backoff: Duration::from_millis(400),
            max_backoff: Duration::from_secs(10),
            jitter: true,
            max_attempts: None,
        };
        assert_eq!(p.delay(0, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(0, 1.0), Duration::from_millis(400));
        let mid = p.delay(1, 0.5);
        assert_eq!(mid, Duration::from_millis(600));
    }

    #[test]
    fn validation_names_the_field() {
        let mut cfg = ClientConfig::new("a_system_id_too_long", "pw");
        match cfg.validate() {
            Err(ClientError::InvalidConfig { field, .. }) => assert_eq!(field, "system_id"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        cfg.system_id = "esme".into();
        cfg.interface_version = 0x40;
        assert!(matches!(
            cfg.validate(),
            Err(ClientError::InvalidConfig {
                field: "interface_version",
                ..
            })
        ));
        for v in [0x33, 0x34, 0x50] {
            cfg.interface_version = v;
            assert!(cfg.validate().is_ok());
        }
        cfg.window = 0;
        assert!(cfg.validate().is_err());
    }
}
