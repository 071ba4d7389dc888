//! The carrier-sim configuration file: carriers (listeners, accounts, session limits, receipt
//! profile, throttles, behaviour, faults), the number plan, and the timeline.
//!
//! The file format is TOML, parsed into serde types with `deny_unknown_fields`; every default
//! lives in the `Default` impls (the behaviour defaults next to the behaviour types, such as
//! [`Behaviour`]) and nowhere else. Errors name the file, the line and the field, because a tester editing a config should
//! not have to guess what was refused: syntax errors come with toml's span, and values refused by
//! validation are located by walking the span-aware parse tree to the field's path. The JSON
//! Schema ([`json_schema`]) is derived from the same types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// The types a file is written in, defined with the world they describe.
pub use crate::world::behaviour::{
    Behaviour, BehaviourPatch, CarrierPatch, Faults, FaultsPatch, Off, Outcome, Stat, Status,
    SubmitError, ThrottleSetting, Voice, VoicePatch,
};
pub use crate::world::dist::{Distribution, QuantilePoint};
pub use crate::world::plan::{LineType, PlanConfig, RangeConfig, UnknownNumbers};
pub use crate::world::throttle::{ThrottleConfig, ThrottleResponse};

/// A whole simulated network: carriers, number plan, timeline. This is the file
/// `carrier-sim serve --config` reads and `carrier-sim validate` checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every random decision: the same seed and file give the same decisions.
    pub seed: u64,
    /// Divides every configured duration (latencies, ring times, timeline offsets, outages), so a
    /// long scenario runs fast in CI; protocol timers (bind timeout, enquire_link, retries) are
    /// not scaled. `--time-scale` overrides it.
    pub time_scale: f64,
    /// What happens to a destination outside the number plan (only matters when `ranges` is
    /// given; with no ranges every number is a reachable mobile).
    pub unknown_numbers: UnknownNumbers,
    /// Virtual handsets.
    pub handsets: HandsetsConfig,
    /// The event stream.
    pub events: EventsConfig,
    /// The HTTP control plane's connections.
    pub http: HttpConfig,
    /// Currency of the prices in `ranges`.
    pub currency: String,
    /// Carriers by name; each has its own SMPP listeners, accounts and behaviour. With none, one
    /// carrier named `default` is created.
    pub carriers: BTreeMap<String, CarrierConfig>,
    /// The number plan: ranges of numbers with their network, line type, flags, prices and
    /// behaviour overrides. The most specific range wins (see the `plan` module).
    pub ranges: Vec<RangeConfig>,
    /// Changes at offsets from start: outages and behaviour changes.
    pub timeline: Vec<TimelineEntry>,
    /// Durable state (`--state-dir`): off unless `state.dir` is given.
    pub state: StateConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            time_scale: 1.0,
            unknown_numbers: UnknownNumbers::Reject,
            handsets: HandsetsConfig::default(),
            events: EventsConfig::default(),
            http: HttpConfig::default(),
            currency: "EUR".into(),
            carriers: BTreeMap::new(),
            ranges: Vec::new(),
            timeline: Vec::new(),
            state: StateConfig::default(),
        }
    }
}

/// Durable state: message records, scheduled deliveries and stored receipts kept in a SQLite
/// database per carrier under `dir`, so a restart (even after SIGKILL) keeps what the carrier
/// owes (docs/carrier-sim.md, "Durable state").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory of the state (created if missing; relative to the config file). Unset, the
    /// carrier keeps everything in memory. `--state-dir` overrides it.
    pub dir: Option<PathBuf>,
    /// Discard the state found in `dir` at start instead of restoring it (`--reset-state`;
    /// only from the command line).
    #[serde(skip)]
    #[schemars(skip)]
    pub reset: bool,
    /// How long the writer lets writes gather before it commits them (and the submit_sm_resp
    /// of the messages among them leave): longer batches cost less per message; 0 commits as
    /// soon as anything is waiting.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub commit_interval: Duration,
    /// Most records written in one transaction.
    pub max_batch: usize,
    /// Most writes waiting for the writer; past it submits are answered ESME_RMSGQFUL
    /// (counted as `state.refusals`) until it catches up.
    pub max_pending: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: None,
            reset: false,
            commit_interval: Duration::from_millis(2),
            max_batch: 8_192,
            max_pending: 200_000,
        }
    }
}

/// Virtual handset limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HandsetsConfig {
    /// Messages and calls kept per handset; older ones are dropped (counted).
    pub inbox_capacity: usize,
    /// Most numbers holding handset state (about 100 bytes each); past it the handset created
    /// longest ago is forgotten (counted), so a load test spraying random numbers cannot
    /// exhaust memory.
    pub max_handsets: usize,
    /// Most entries (messages and calls) kept in all inboxes together; past it the oldest
    /// entries, of whichever numbers, are dropped (counted as `dropped`).
    pub max_entries: usize,
    /// Most bytes those entries may take (each about 100 bytes plus its text); past it the
    /// oldest entries are dropped (counted as `dropped`).
    pub max_bytes: usize,
}

impl Default for HandsetsConfig {
    fn default() -> Self {
        Self {
            inbox_capacity: 100,
            max_handsets: crate::handsets::DEFAULT_MAX_HANDSETS,
            max_entries: crate::handsets::DEFAULT_MAX_ENTRIES,
            max_bytes: crate::handsets::DEFAULT_MAX_BYTES,
        }
    }
}

/// Event stream limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events held in the ring all subscribers read (about 300 bytes each while anyone
    /// subscribes); a subscriber further behind is told how many it missed.
    pub capacity: usize,
    /// Most WebSocket subscribers of `GET /v1/events` at once; more are answered 503 (counted).
    pub max_subscribers: usize,
    /// A WebSocket subscriber told this many times that it fell behind the ring is closed
    /// (close code 1008, counted): a client that cannot keep up is told to reconnect with a
    /// narrower filter rather than served a stream of gaps.
    pub max_lags: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        let limits = crate::world::events::EventLimits::default();
        Self {
            // About 270 ms of events at 20,000 messages/s with receipts (three events each):
            // room for a subscriber's task to be scheduled late on a busy machine.
            capacity: 16_384,
            max_subscribers: limits.max_subscribers,
            max_lags: limits.max_lags,
        }
    }
}

/// Bounds of the HTTP control plane's connections, and its optional token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Most connections open at once (WebSocket streams included); one more is answered 503
    /// and closed (counted).
    pub max_connections: usize,
    /// Time a client has to send a request's headers (answered 408 and closed, counted); also
    /// how long a keep-alive connection may stay idle between requests (closed).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub header_timeout: Duration,
    /// Time a request may take, reading its body included; longer ones are answered 408
    /// (counted). WebSocket streams are not bound by it once upgraded.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// Largest request body in bytes; a larger one is answered 413 (counted).
    pub max_body_bytes: usize,
    /// Bearer token: when set, every endpoint but `/healthz` and `/metrics` answers 401
    /// without `Authorization: Bearer TOKEN` (the event stream also takes `?access_token=`,
    /// for browsers). `--control-token` and `CARRIER_SIM_CONTROL_TOKEN` override it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<ControlToken>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 1 << 20,
            token: None,
        }
    }
}

/// The control plane's bearer token; its `Debug` does not show it, so it stays out of logs.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct ControlToken(String);

impl ControlToken {
    /// A token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, to compare a presented one with (in constant time).
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(..)")
    }
}

/// One entry of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// Offset from start (divided by the time scale).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub at: Duration,
    /// The carrier it concerns.
    pub carrier: String,
    /// Take the carrier down for this long: binds refused, sessions dropped, calls fail.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub outage: Option<Duration>,
    /// Behaviour changes applied at `at`, as with `PATCH /v1/carriers/{name}`.
    #[serde(default)]
    pub change: CarrierPatch,
}

/// Everything one carrier needs to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierConfig {
    /// Carrier name, shown in metrics and the control plane (in a file: the table's key).
    #[serde(skip)]
    pub name: String,
    /// The system_id the carrier gives in bind responses.
    pub system_id: String,
    /// SMPP listen addresses (port 0 picks a free port; the readiness line tells which).
    pub smpp: Vec<String>,
    /// SMPP over TLS listener.
    pub smpp_tls: Option<TlsListenerConfig>,
    /// Accounts by system_id.
    pub accounts: BTreeMap<String, AccountConfig>,
    /// Session limits and timers.
    pub session: SessionConfig,
    /// Limits on failed binds (password guessing): per source address, per system_id, per
    /// connection.
    pub bind_lockout: BindLockoutConfig,
    /// Delivery receipt policy and format.
    pub receipts: ReceiptConfig,
    /// Message store bounds.
    pub store: StoreConfig,
    /// Carrier-wide throttle (every account together).
    pub throttle: Option<ThrottleConfig>,
    /// SMS behaviour of this carrier (ranges and accounts override it).
    pub behaviour: BehaviourPatch,
    /// Session faults injected into this carrier's SMPP sessions.
    pub faults: FaultsPatch,
    /// Voice behaviour of calls placed through this carrier (ranges override it).
    pub voice: VoicePatch,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            system_id: "carrier-sim".into(),
            smpp: Vec::new(),
            smpp_tls: None,
            accounts: BTreeMap::new(),
            session: SessionConfig::default(),
            bind_lockout: BindLockoutConfig::default(),
            receipts: ReceiptConfig::default(),
            store: StoreConfig::default(),
            throttle: None,
            behaviour: BehaviourPatch::default(),
            faults: FaultsPatch::default(),
            voice: VoicePatch::default(),
        }
    }
}

/// An SMPP-over-TLS listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsListenerConfig {
    /// Listen address.
    pub listen: String,
    /// PEM certificate chain (relative to the config file).
    pub cert: PathBuf,
    /// PEM private key (relative to the config file).
    pub key: PathBuf,
}

/// One ESME account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The password the ESME must present (SMPP limits it to 8 characters).
    pub password: String,
    /// Most simultaneous binds this account may hold.
    #[serde(default = "default_max_binds")]
    pub max_binds: usize,
    /// This account's own throttle.
    #[serde(default)]
    pub throttle: Option<ThrottleConfig>,
    /// Behaviour for this account's messages (over the carrier's, under the ranges').
    #[serde(default)]
    pub behaviour: BehaviourPatch,
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
            throttle: None,
            behaviour: BehaviourPatch::default(),
        }
    }
}

/// Limits and timers for SMPP sessions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Largest accepted command_length; longer PDUs get generic_nack ESME_RINVCMDLEN and a close.
    pub max_command_length: usize,
    /// A connection that has not bound within this time is closed.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub bind_timeout: Duration,
    /// After this long without any PDU from the peer, the carrier sends enquire_link.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub enquire_link_interval: Duration,
    /// How long the carrier waits for a response to its own requests (enquire_link,
    /// deliver_sm, unbind) before treating it as missing.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub response_timeout: Duration,
    /// Most simultaneous connections to this carrier, all its listeners (plain and TLS)
    /// together; more are refused with a clear answer (a bind_resp with ESME_RBINDFAIL), and
    /// counted.
    pub max_connections: usize,
    /// Most requests a session may have waiting for a held-back response (configured
    /// `submit_latency`, injected `response_delay`); past it, new operations are answered at once
    /// with ESME_RTHROTTLED (counted). Responses that are not held back do not count.
    pub max_held_responses: usize,
    /// Most deliver_sm a session may have outstanding (unacknowledged) at once.
    pub deliver_window: usize,
    /// How long shutdown waits for sessions to unbind and drain.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub shutdown_grace: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_command_length: smpp::frame::DEFAULT_MAX_COMMAND_LENGTH,
            bind_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            max_connections: 1_000,
            max_held_responses: 256,
            deliver_window: 64,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Limits on failed binds, like a real SMSC's lockout. A failed bind is one refused for its
/// credentials (ESME_RINVSYSID, ESME_RINVPASWD). Not scaled by `time_scale` (a protocol timer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BindLockoutConfig {
    /// The off switch: `false` lets every address guess for ever (and keeps connections open
    /// after any number of failed binds).
    pub enabled: bool,
    /// Failed binds from one source address within `window` that lock the address out: every
    /// bind from it, whatever the system_id and password, is then answered ESME_RBINDFAIL for
    /// `cool_down`.
    pub max_failures: u32,
    /// The period failures are counted over (from an address's first failure).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
    /// How long a lockout lasts. Binds refused during it do not extend it.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub cool_down: Duration,
    /// Distributed guessing: when this many distinct addresses have failed to bind as one
    /// configured system_id within `window`, the system_id is guarded for `cool_down`: binds
    /// to it from any address that has failed against it are refused (ESME_RBINDFAIL) before
    /// the password is checked, so each guessing address gets one guess. An address that has
    /// not failed binds with the right password as usual.
    pub system_id_addresses: usize,
    /// Refused binds (for any reason: credentials, a lockout, an outage, the account's bind
    /// limit) one connection may have; the response to the last is followed by a close. 2:
    /// after a refusal, one more attempt.
    pub failures_per_connection: u32,
    /// Most source addresses tracked (about 100 bytes each), and most failing addresses
    /// remembered per system_id; past it the entries that expired are swept and, if none has,
    /// the oldest is forgotten.
    pub max_addresses: usize,
}

impl Default for BindLockoutConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_failures: 5,
            window: Duration::from_secs(60),
            cool_down: Duration::from_secs(60),
            system_id_addresses: 10,
            failures_per_connection: 2,
            max_addresses: 100_000,
        }
    }
}

/// Receipt store-and-forward, retry policy and format profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptConfig {
    /// Most receipts held per account (queued for a receiver or waiting to be retried), about
    /// 400 bytes each; past it a new receipt is dropped and counted as overflow, the last resort
    /// once back-pressure (`high_water`) could not hold the backlog.
    pub store_capacity: usize,
    /// Back-pressure: when an account's held receipts reach this many, its new submits are
    /// refused with `full_response` until they fall below `low_water`. Receipts of messages
    /// already accepted keep coming for their receipt latency, so leave room below
    /// `store_capacity` for rate x latency of them. Default: half of `store_capacity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_water: Option<usize>,
    /// Back-pressure ends when the account's held receipts fall below this. Default: a quarter
    /// of `store_capacity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_water: Option<usize>,
    /// The status of a submit refused by back-pressure: `queue_full` (ESME_RMSGQFUL, 0x14) or
    /// `throttled` (ESME_RTHROTTLED, 0x58).
    pub full_response: ThrottleResponse,
    /// Which session a receipt goes to: `origin_first` (the receiving session that submitted
    /// the message, a transceiver, while it is bound; then any receiver of the account) or `any`
    /// (any receiver of the account).
    pub routing: ReceiptRouting,
    /// A stored receipt older than this is expired (counted).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ttl: Duration,
    /// Attempts per receipt (first send included) before it is expired.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further retry.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retry_backoff: Duration,
    /// Longest backoff between retries.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retry_backoff_max: Duration,
    /// Format of message ids in submit responses and receipts.
    pub message_id: MessageIdFormat,
    /// Receipt PDU: deliver_sm (usual) or data_sm.
    pub pdu: ReceiptPdu,
    /// Write the receipt text (`id:... stat:...`); off together with `tlvs` on gives TLV-only
    /// receipts.
    pub text: bool,
    /// Add receipted_message_id, message_state and network_error_code TLVs.
    pub tlvs: bool,
    /// `ID:`, `SUB:`, ... instead of `id:`, `sub:`, ...
    pub upper_case_keys: bool,
    /// `Text:` instead of `text:`.
    pub capitalized_text: bool,
    /// Write `sub:` and `dlvrd:`.
    pub sub_dlvrd: bool,
    /// `YYMMDDhhmmss` dates instead of `YYMMDDhhmm`.
    pub seconds_in_dates: bool,
    /// Characters of the message copied after `text:`.
    pub text_chars: usize,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        Self {
            store_capacity: 100_000,
            high_water: None,
            low_water: None,
            full_response: ThrottleResponse::QueueFull,
            routing: ReceiptRouting::OriginFirst,
            ttl: Duration::from_secs(24 * 3600),
            max_attempts: 5,
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(60),
            message_id: MessageIdFormat::Hex,
            pdu: ReceiptPdu::DeliverSm,
            text: true,
            tlvs: true,
            upper_case_keys: false,
            capitalized_text: false,
            sub_dlvrd: true,
            seconds_in_dates: false,
            text_chars: 20,
        }
    }
}

impl ReceiptConfig {
    /// The back-pressure high-water mark in force (`high_water`, or half the store).
    pub fn high_water(&self) -> usize {
        self.high_water.unwrap_or(self.store_capacity / 2).max(1)
    }

    /// The back-pressure low-water mark in force (`low_water`, or a quarter of the store).
    pub fn low_water(&self) -> usize {
        self.low_water.unwrap_or(self.store_capacity / 4)
    }

    /// The shared library's receipt profile this config describes (what
    /// [`smpp::receipt::build_pdu`] builds receipts with).
    pub fn profile(&self) -> smpp::receipt::ReceiptProfile {
        smpp::receipt::ReceiptProfile {
            pdu: match self.pdu {
                ReceiptPdu::DeliverSm => smpp::receipt::ReceiptPduKind::DeliverSm,
                ReceiptPdu::DataSm => smpp::receipt::ReceiptPduKind::DataSm,
            },
            text: self.text,
            tlvs: self.tlvs,
            format: self.text_format(),
        }
    }

    /// The receipt text format this profile describes.
    pub fn text_format(&self) -> smpp::receipt::ReceiptFormat {
        smpp::receipt::ReceiptFormat {
            upper_case_keys: self.upper_case_keys,
            sub_dlvrd: self.sub_dlvrd,
            capitalized_text: self.capitalized_text,
            seconds_in_dates: self.seconds_in_dates,
            text_chars: self.text_chars,
        }
    }
}

/// Which session a receipt goes to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptRouting {
    /// The session that submitted the message when it can receive (a transceiver) and is still
    /// bound, else any receiver of the account. A receipt then follows its submit_sm_resp on
    /// the same connection; it can arrive before the response only across sessions.
    OriginFirst,
    /// Any receiver or transceiver of the account.
    Any,
}

/// The PDU that carries receipts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptPdu {
    /// deliver_sm with esm_class 0x04.
    DeliverSm,
    /// data_sm with esm_class 0x04; the text, if any, in message_payload.
    DataSm,
}

/// Format of message ids.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum, JsonSchema,
)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Most messages kept (about 500 bytes each); the oldest are evicted first (counted; one
    /// evicted before its final state never gets its receipt, counted apart as
    /// `evicted_pending`).
    pub capacity: usize,
    /// Most timers waiting at once (handset deliveries, final states with their receipts,
    /// receipts held back, MO replies; about 150 bytes each); while full, new submits are
    /// refused with ESME_RMSGQFUL (counted as `timer_refusals`). Only messages with a non-zero
    /// latency use timers.
    pub max_timers: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            capacity: 200_000,
            max_timers: 200_000,
        }
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
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file (or a file it names, such as a list of numbers).
        path: PathBuf,
        /// 1-based line of the field (or of the enclosing table when the field is absent).
        line: usize,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl SimConfig {
    /// Loads and validates a TOML file, number plan included.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates TOML text; `path` names the file in errors and relative paths in
    /// it (number files, TLS keys) are resolved from its directory.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut cfg: SimConfig = toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        // Paths in the file are relative to it; resolved here, the config stands on its own.
        for (name, carrier) in &mut cfg.carriers {
            carrier.name = name.clone();
            if let Some(tls) = &mut carrier.smpp_tls {
                tls.cert = base.join(&tls.cert);
                tls.key = base.join(&tls.key);
            }
        }
        for range in &mut cfg.ranges {
            if let Some(file) = &mut range.file {
                *file = base.join(&*file);
            }
        }
        if let Some(dir) = &mut cfg.state.dir {
            *dir = base.join(&*dir);
        }
        let invalid = |field: String, message: String| ConfigError::Invalid {
            line: locate(text, &field),
            path: path.to_path_buf(),
            field,
            message,
        };
        cfg.validate().map_err(|(f, m)| invalid(f, m))?;
        crate::world::plan::NumberPlan::build(
            &cfg.plan_config(),
            Path::new(""),
            chrono::Utc::now(),
        )
        .map_err(|e| match &e.file {
            Some((file, line)) => ConfigError::Invalid {
                path: file.clone(),
                line: *line,
                field: e.field.clone(),
                message: e.message.clone(),
            },
            None => invalid(e.field.clone(), e.message.clone()),
        })?;
        Ok(cfg)
    }

    /// The number-plan part of the file.
    pub fn plan_config(&self) -> crate::world::plan::PlanConfig {
        crate::world::plan::PlanConfig {
            currency: self.currency.clone(),
            ranges: self.ranges.clone(),
        }
    }

    /// The carriers to run: those configured, or one named `default`.
    pub fn carriers(&self) -> Vec<CarrierConfig> {
        if self.carriers.is_empty() {
            vec![CarrierConfig::default()]
        } else {
            self.carriers.values().cloned().collect()
        }
    }

    /// Checks values that parse but cannot work; returns the field path and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err((
                "time_scale".into(),
                format!("must be a number above 0, not {}", self.time_scale),
            ));
        }
        if self.handsets.inbox_capacity == 0 {
            return Err((
                "handsets.inbox_capacity".into(),
                "must be at least 1".into(),
            ));
        }
        if self.handsets.max_handsets == 0 {
            return Err(("handsets.max_handsets".into(), "must be at least 1".into()));
        }
        if self.handsets.max_entries == 0 {
            return Err(("handsets.max_entries".into(), "must be at least 1".into()));
        }
        if self.handsets.max_bytes < 4096 {
            return Err(("handsets.max_bytes".into(), "must be at least 4096".into()));
        }
        if self.events.capacity == 0 || self.events.capacity > 1 << 24 {
            return Err((
                "events.capacity".into(),
                "must be from 1 to 16777216".into(),
            ));
        }
        if self.http.max_body_bytes == 0 {
            return Err(("http.max_body_bytes".into(), "must be at least 1".into()));
        }
        if let Some(t) = &self.http.token {
            let t = t.secret();
            if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err((
                    "http.token".into(),
                    "must be non-empty, without spaces or control characters".into(),
                ));
            }
        }
        if self.http.max_connections == 0 {
            return Err(("http.max_connections".into(), "must be at least 1".into()));
        }
        for (name, d) in [
            ("http.header_timeout", self.http.header_timeout),
            ("http.request_timeout", self.http.request_timeout),
        ] {
            if d.is_zero() {
                return Err((name.into(), "must be longer than zero".into()));
            }
        }
        if self.state.max_batch == 0 {
            return Err(("state.max_batch".into(), "must be at least 1".into()));
        }
        if self.state.max_pending < self.state.max_batch {
            return Err((
                "state.max_pending".into(),
                "must be at least state.max_batch".into(),
            ));
        }
        if self.events.max_lags == 0 {
            return Err(("events.max_lags".into(), "must be at least 1".into()));
        }
        let mut listeners = std::collections::HashSet::new();
        for (name, c) in &self.carriers {
            c.validate()
                .map_err(|(f, m)| (format!("carriers.{name}.{f}"), m))?;
            for (i, addr) in c.smpp.iter().enumerate() {
                if !addr.ends_with(":0") && !listeners.insert(addr.clone()) {
                    return Err((
                        format!("carriers.{name}.smpp[{i}]"),
                        format!("{addr} is already used by another carrier"),
                    ));
                }
            }
        }
        let known = |carrier: &str| {
            self.carriers.contains_key(carrier)
                || (self.carriers.is_empty() && carrier == "default")
        };
        for (i, r) in self.ranges.iter().enumerate() {
            if let Some(b) = &r.behaviour {
                b.validate()
                    .map_err(|(f, m)| (format!("ranges[{i}].behaviour.{f}"), m))?;
            }
            if let Some(v) = &r.voice {
                v.validate()
                    .map_err(|(f, m)| (format!("ranges[{i}].voice.{f}"), m))?;
            }
            if let Some(c) = &r.carrier
                && !known(c)
            {
                return Err((
                    format!("ranges[{i}].carrier"),
                    format!("no carrier named `{c}` in [carriers]"),
                ));
            }
        }
        for (i, t) in self.timeline.iter().enumerate() {
            let field = |f: &str| format!("timeline[{i}].{f}");
            if !known(&t.carrier) {
                return Err((
                    field("carrier"),
                    format!("no carrier named `{}` in [carriers]", t.carrier),
                ));
            }
            // Far beyond any run, and it keeps start + offset inside what a clock can hold.
            const LONGEST: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
            if t.at > LONGEST {
                return Err((field("at"), "must be at most 10 years".into()));
            }
            if t.outage.is_some_and(|d| d > LONGEST) {
                return Err((field("outage"), "must be at most 10 years".into()));
            }
            if t.outage.is_some_and(|d| d.is_zero()) {
                return Err((field("outage"), "must be longer than zero".into()));
            }
            if t.outage.is_none() && t.change.is_empty() {
                return Err((
                    field("change"),
                    "the entry changes nothing: give `outage` or `change`".into(),
                ));
            }
            t.change
                .validate()
                .map_err(|(f, m)| (field(&format!("change.{f}")), m))?;
        }
        Ok(())
    }
}

impl CarrierConfig {
    /// Loads a file holding exactly one carrier (the first of its `[carriers]`, or `default`).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let sim = SimConfig::load(path)?;
        Ok(sim.carriers().remove(0))
    }

    /// Checks values that parse but cannot work; returns the field (relative to the carrier)
    /// and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            return Err((
                "system_id".into(),
                "must be 1 to 15 characters (SMPP limit)".into(),
            ));
        }
        for (i, addr) in self.smpp.iter().enumerate() {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err((
                    format!("smpp[{i}]"),
                    format!("`{addr}` is not an address such as 127.0.0.1:2775"),
                ));
            }
        }
        if let Some(tls) = &self.smpp_tls
            && tls.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err((
                "smpp_tls.listen".into(),
                format!("`{}` is not an address such as 127.0.0.1:2776", tls.listen),
            ));
        }
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
            if let Some(t) = &acct.throttle {
                t.validate().map_err(|m| (field("throttle"), m))?;
            }
            acct.behaviour
                .validate()
                .map_err(|(f, m)| (field(&format!("behaviour.{f}")), m))?;
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
        if s.max_held_responses == 0 {
            return Err((
                "session.max_held_responses".into(),
                "must be at least 1".into(),
            ));
        }
        if s.deliver_window == 0 {
            return Err(("session.deliver_window".into(), "must be at least 1".into()));
        }
        let l = &self.bind_lockout;
        for (name, n) in [
            ("bind_lockout.max_failures", l.max_failures as usize),
            ("bind_lockout.system_id_addresses", l.system_id_addresses),
            (
                "bind_lockout.failures_per_connection",
                l.failures_per_connection as usize,
            ),
            ("bind_lockout.max_addresses", l.max_addresses),
        ] {
            if n == 0 {
                return Err((name.into(), "must be at least 1".into()));
            }
        }
        for (name, d) in [
            ("bind_lockout.window", l.window),
            ("bind_lockout.cool_down", l.cool_down),
        ] {
            if d.is_zero() {
                return Err((name.into(), "must be longer than zero".into()));
            }
        }
        let r = &self.receipts;
        if r.store_capacity == 0 {
            return Err((
                "receipts.store_capacity".into(),
                "must be at least 1".into(),
            ));
        }
        if r.high_water() == 0 || r.high_water() > r.store_capacity {
            return Err((
                "receipts.high_water".into(),
                format!(
                    "must be from 1 to store_capacity ({}), not {}",
                    r.store_capacity,
                    r.high_water()
                ),
            ));
        }
        if r.low_water() >= r.high_water() {
            return Err((
                "receipts.low_water".into(),
                format!(
                    "must be below high_water ({}), not {}",
                    r.high_water(),
                    r.low_water()
                ),
            ));
        }
        if r.max_attempts == 0 {
            return Err(("receipts.max_attempts".into(), "must be at least 1".into()));
        }
        if !r.text && !r.tlvs {
            return Err((
                "receipts.text".into(),
                "with `text` and `tlvs` both off a receipt would carry nothing".into(),
            ));
        }
        if self.store.capacity == 0 {
            return Err(("store.capacity".into(), "must be at least 1".into()));
        }
        if self.store.max_timers < 2 {
            return Err(("store.max_timers".into(), "must be at least 2".into()));
        }
        if let Some(t) = &self.throttle {
            t.validate().map_err(|m| ("throttle".to_string(), m))?;
        }
        let nest = |prefix: &str, r: Result<(), (String, String)>| {
            r.map_err(|(f, m)| (format!("{prefix}.{f}"), m))
        };
        nest("behaviour", self.behaviour.validate())?;
        nest("faults", self.faults.validate())?;
        nest("voice", self.voice.validate())?;
        Ok(())
    }
}

/// A TOML error with the file, line and column, naming the field.
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let located = locate_toml_error(text, e);
    ConfigError::Parse {
        path: path.to_path_buf(),
        line: located.line,
        column: located.column,
        message: located.message,
    }
}

/// Where a TOML syntax or type error is, and what it says, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlErrorAt {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// toml's message, with `field `name`: ` in front when toml did not name it.
    pub message: String,
}

/// Locates a TOML error in `text` (for every tool that reads TOML files: carrier-sim, the
/// verifier, loadgen's scenarios). toml names unknown keys but not the key whose value is wrong:
/// the key is read from the line the error points at (`key = value`, or a `[table]` header).
pub fn locate_toml_error(text: &str, e: &toml::de::Error) -> TomlErrorAt {
    let (line, column) = e
        .span()
        .map(|span| line_col(text, span.start))
        .unwrap_or((1, 1));
    let mut message = e.message().trim().to_string();
    let header = |l: &str| {
        l.trim().strip_prefix('[').map(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .to_string()
        })
    };
    let lines: Vec<&str> = text.lines().collect();
    // (the key as written on the line, its dotted path)
    let key = lines.get(line - 1).and_then(|l| match header(l) {
        Some(table) => Some((table.clone(), table)),
        None => {
            let key = l.split_once('=')?.0.trim().to_string();
            // The table the key sits in: the nearest header above it.
            let table = lines[..line - 1].iter().rev().find_map(|l| header(l));
            let path = match &table {
                Some(t) if !key.is_empty() => format!("{t}.{key}"),
                _ => key.clone(),
            };
            Some((key, path))
        }
    });
    if let Some((_, path)) = key.filter(|(k, _)| !k.is_empty() && !message.contains(k.as_str())) {
        message = format!("field `{path}`: {message}");
    }
    TomlErrorAt {
        line,
        column,
        message,
    }
}

/// 1-based line of a dotted field path (`carriers.alpha.behaviour.outcomes`, `ranges[3].prefix`)
/// in TOML text: the deepest part of the path that is present in the file, so an error about a
/// missing or derived value still points at the table it belongs to.
pub fn locate(text: &str, field: &str) -> usize {
    use toml::de::{DeTable, DeValue};
    let Ok(root) = DeTable::parse(text) else {
        return 1;
    };
    let mut best = 1;
    let mut table = root.get_ref();
    let mut segments = field_segments(field).into_iter().peekable();
    while let Some((key, index)) = segments.next() {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key) else {
            break;
        };
        best = line_col(text, k.span().start).0;
        let mut value = v;
        if let Some(i) = index {
            let DeValue::Array(items) = value.get_ref() else {
                break;
            };
            let Some(item) = items.get(i) else {
                break;
            };
            best = line_col(text, item.span().start).0;
            value = item;
        }
        match value.get_ref() {
            DeValue::Table(t) if segments.peek().is_some() => table = t,
            _ => break,
        }
    }
    best
}

/// `a.b[2].c` as `[("a", None), ("b", Some(2)), ("c", None)]`.
fn field_segments(field: &str) -> Vec<(&str, Option<usize>)> {
    field
        .split('.')
        .map(|part| match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse().ok()),
            None => (part, None),
        })
        .collect()
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

/// The JSON Schema of the config file, for editor completion and validation.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(SimConfig);
    serde_json::to_value(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_name_the_field_with_its_table() {
        let locate = |text: &str| {
            let e = toml::from_str::<SimConfig>(text).expect_err("refused");
            locate_toml_error(text, &e)
        };
        let at = locate("seed = \"x\"\n");
        assert_eq!((at.line, at.column), (1, 8));
        assert!(at.message.starts_with("field `seed`: "), "{}", at.message);
        let at = locate("seed = 1\n\n[carriers.alpha]\nsmpp = 5\n");
        assert_eq!(at.line, 4);
        assert!(
            at.message.starts_with("field `carriers.alpha.smpp`: "),
            "{}",
            at.message
        );
        // An unknown key is named by toml itself: nothing is added.
        let at = locate("[handsets]\nbogus = 1\n");
        assert!(
            at.message.starts_with("unknown field `bogus`"),
            "{}",
            at.message
        );
    }

    fn parse(text: &str) -> Result<SimConfig, String> {
        SimConfig::parse(Path::new("c.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_carriers_accounts_and_durations() {
        let cfg = parse(
            r#"
seed = 7
[carriers.alpha]
smpp = ["127.0.0.1:0"]
[carriers.alpha.accounts.test]
password = "secret"
max_binds = 2
throttle = { rate = 10 }
[carriers.alpha.session]
bind_timeout = "3s"
[carriers.alpha.receipts]
message_id = "uuid"
pdu = "data_sm"
"#,
        )
        .unwrap();
        let alpha = &cfg.carriers["alpha"];
        assert_eq!(alpha.name, "alpha");
        assert_eq!(alpha.accounts["test"].max_binds, 2);
        assert_eq!(alpha.session.bind_timeout, Duration::from_secs(3));
        assert_eq!(alpha.receipts.message_id, MessageIdFormat::Uuid);
        assert_eq!(alpha.receipts.pdu, ReceiptPdu::DataSm);
        assert_eq!(cfg.seed, 7);
    }

    #[test]
    fn no_carriers_means_one_default() {
        let cfg = parse("").unwrap();
        let carriers = cfg.carriers();
        assert_eq!(carriers.len(), 1);
        assert_eq!(carriers[0].name, "default");
    }

    #[test]
    fn unknown_key_names_file_line_and_field() {
        let err = parse("[carriers.a]\n[carriers.a.session]\nbind_timout = \"3s\"\n").unwrap_err();
        assert!(err.starts_with("c.toml:3:"), "{err}");
        assert!(err.contains("bind_timout"), "{err}");
    }

    #[test]
    fn invalid_value_names_file_line_and_field() {
        let err =
            parse("[carriers.a]\n\n[carriers.a.accounts.test]\npassword = \"far-too-long\"\n")
                .unwrap_err();
        assert_eq!(
            err,
            "c.toml:4: carriers.a.accounts.test.password: must be at most 8 characters (SMPP limit)"
        );
    }

    #[test]
    fn probabilities_must_sum_to_one() {
        let err = parse(
            "[carriers.a]\n[carriers.a.behaviour]\noutcomes = [\n  { stat = \"DELIVRD\", probability = 0.5 },\n]\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("c.toml:3: carriers.a.behaviour.outcomes:"),
            "{err}"
        );
    }

    #[test]
    fn timeline_checks_carrier_and_content() {
        let err =
            parse("[carriers.a]\n[[timeline]]\nat = \"1s\"\ncarrier = \"b\"\noutage = \"1s\"\n")
                .unwrap_err();
        assert_eq!(
            err,
            "c.toml:4: timeline[0].carrier: no carrier named `b` in [carriers]"
        );
        let err = parse("[carriers.a]\n[[timeline]]\nat = \"1s\"\ncarrier = \"a\"\n").unwrap_err();
        assert!(
            err.contains("timeline[0].change: the entry changes nothing"),
            "{err}"
        );
        let err =
            parse("[carriers.a]\n[[timeline]]\nat = \"1s\"\ncarrier = \"a\"\noutage = \"0s\"\n")
                .unwrap_err();
        assert!(err.starts_with("c.toml:5: timeline[0].outage"), "{err}");
    }

    #[test]
    fn time_scale_must_be_positive() {
        let err = parse("time_scale = 0.0\n").unwrap_err();
        assert!(err.starts_with("c.toml:1: time_scale:"), "{err}");
    }

    #[test]
    fn locate_walks_tables_and_arrays() {
        let text = "a = 1\n[[ranges]]\nprefix = \"1\"\n[[ranges]]\nprefix = \"2\"\n[carriers.x.behaviour]\nloss = 2.0\n";
        assert_eq!(locate(text, "ranges[1].prefix"), 5);
        assert_eq!(locate(text, "carriers.x.behaviour.loss"), 7);
        assert_eq!(locate(text, "carriers.x.behaviour.outcomes"), 6);
        assert_eq!(locate(text, "nothing.here"), 1);
    }

    #[test]
    fn schema_describes_the_file() {
        let schema = json_schema();
        let text = schema.to_string();
        for key in [
            "carriers",
            "ranges",
            "timeline",
            "lognormal",
            "submit_errors",
            "line_type",
        ] {
            assert!(text.contains(key), "schema lacks {key}");
        }
    }
}
