//! The types of the verifier's config file, each with its defaults in its `Default` impl and
//! nowhere else. They are also the verifier part of scenario files, and the JSON Schema is
//! derived from them.

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole service: where it listens, the carriers it sends through, the channel workflow,
/// code rules, limits, lookup, the fraud guard and API security.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierConfig {
    /// HTTP listen address (port 0 picks a free port; the readiness line tells which).
    pub listen: String,
    /// An HTTPS listener as well (rustls).
    pub tls: Option<TlsConfig>,
    /// Carriers in failover order.
    pub carriers: Vec<CarrierConfig>,
    /// The channel workflow: steps tried in order. Empty: SMS on each carrier in order, then
    /// voice through the first carrier with a control plane.
    pub workflow: Vec<StepConfig>,
    /// Codes: length, generator, expiry and attempt limits.
    pub codes: CodesConfig,
    /// Memory and request bounds.
    pub limits: LimitsConfig,
    /// What the messages say.
    pub messages: MessagesConfig,
    /// Number lookup (line type, SIM swap, porting) through the carriers' control planes.
    pub lookup: LookupConfig,
    /// The fraud guard.
    pub guard: GuardConfig,
    /// API keys and the Twilio-compatible endpoints' credentials.
    pub api: ApiConfig,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8790".into(),
            tls: None,
            carriers: Vec::new(),
            workflow: Vec::new(),
            codes: CodesConfig::default(),
            limits: LimitsConfig::default(),
            messages: MessagesConfig::default(),
            lookup: LookupConfig::default(),
            guard: GuardConfig::default(),
            api: ApiConfig::default(),
        }
    }
}

/// An HTTPS listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Listen address.
    pub listen: String,
    /// PEM certificate chain (relative to the config file).
    pub cert: PathBuf,
    /// PEM private key (relative to the config file).
    pub key: PathBuf,
}

/// One carrier: its SMPP account and its HTTP control plane.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierConfig {
    /// Name used in the workflow, metrics and attempt records.
    pub name: String,
    /// SMPP address, `host:port`.
    pub smpp: String,
    /// SMPP system_id (at most 15 characters).
    pub system_id: String,
    /// SMPP password (at most 8 characters).
    pub password: String,
    /// Base URL of the carrier's HTTP control plane (voice calls, lookup, open-SMS list).
    pub control: Option<String>,
    /// Bearer token of that control plane, when it requires one (carrier-sim's
    /// `--control-token`).
    pub control_token: Option<String>,
    /// The name the control plane knows this carrier by, to place calls through it; without
    /// it a call goes through the number's own network (carrier-sim's default).
    pub voice_carrier: Option<String>,
    /// Binds kept open (transceivers), each with its own window.
    pub binds: usize,
    /// Outstanding submit_sm per bind.
    pub window: usize,
    /// source_addr of the messages (alphanumeric sender id or a number).
    pub source: String,
    /// How long a submit_sm waits for its response.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub response_timeout: Duration,
    /// The circuit breaker of this carrier.
    pub breaker: BreakerConfig,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            smpp: String::new(),
            system_id: String::new(),
            password: String::new(),
            control: None,
            control_token: None,
            voice_carrier: None,
            binds: 2,
            window: 64,
            source: "VERIFY".into(),
            response_timeout: Duration::from_secs(5),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Consecutive failures open the breaker for a cool-down; then one probe at a time is let
/// through (half-open) and a success closes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures (submit errors, throttling, lost binds, timeouts) that open it.
    pub failures: u32,
    /// How long it stays open before a probe is tried.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SMS over SMPP.
    Sms,
    /// A voice call through the carrier's control plane.
    Voice,
}

impl Channel {
    /// The API word.
    pub fn word(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

/// One step of the workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// `sms` or `voice`.
    pub channel: Channel,
    /// The carrier (by name) that carries it.
    pub carrier: String,
    /// Without a DELIVRD receipt (or an answered call) and without a successful check within
    /// this time, the next step is tried.
    #[serde(default = "default_step_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

pub(crate) fn default_step_timeout() -> Duration {
    Duration::from_secs(30)
}

/// How codes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Generator {
    /// Digits from the CSPRNG.
    Random,
    /// RFC 4226 HOTP over a per-verification secret and the time step (RFC 6238 TOTP): a code
    /// is valid only in its time window.
    Totp,
}

/// Code rules.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CodesConfig {
    /// Digits (4 to 10).
    pub length: u8,
    /// `random` or `totp`.
    pub generator: Generator,
    /// TOTP time step.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub totp_step: Duration,
    /// How long a verification (and its code) lives.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub expiry: Duration,
    /// Checks allowed per verification; the next one answers `max_attempts`.
    pub max_checks: u32,
    /// Sends allowed per number within `send_window`.
    pub max_sends: u32,
    /// The window of `max_sends`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub send_window: Duration,
}

impl Default for CodesConfig {
    fn default() -> Self {
        Self {
            length: 6,
            generator: Generator::Random,
            totp_step: Duration::from_secs(30),
            expiry: Duration::from_secs(600),
            max_checks: 5,
            max_sends: 5,
            send_window: Duration::from_secs(600),
        }
    }
}

/// Bounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most pending verifications (about half a kilobyte each); a start beyond it answers 503
    /// (counted).
    pub max_pending: usize,
    /// Ended verifications kept for `GET /v1/verifications/{id}` (oldest forgotten first).
    pub keep_ended: usize,
    /// Numbers whose recent send times are kept for `codes.max_sends` (fixed memory).
    pub send_history: usize,
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// How often expired verifications are swept.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub sweep_interval: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_pending: 500_000,
            keep_ended: 100_000,
            send_history: 262_144,
            max_body_bytes: 16 * 1024,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// What the messages say.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesConfig {
    /// The service name in the text ("Your {brand} code is ...").
    pub brand: String,
    /// Caller id of voice calls.
    pub voice_from: String,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self {
            brand: "Testbed".into(),
            voice_from: "+15005550006".into(),
        }
    }
}

/// Number lookup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LookupConfig {
    /// Look numbers up (line type, country, SIM swap, porting). Off: the rules that need it
    /// do not fire and every number is treated as a mobile.
    pub enabled: bool,
    /// How long an answer is reused.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub cache_ttl: Duration,
    /// Most numbers cached.
    pub cache_capacity: usize,
    /// Bound on one lookup call.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_ttl: Duration::from_secs(600),
            cache_capacity: 100_000,
            timeout: Duration::from_secs(2),
        }
    }
}

/// What the guard does with a rule that fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardMode {
    /// Rules are not evaluated.
    Off,
    /// Rules are evaluated and recorded, nothing is refused.
    RecordOnly,
    /// Rules refuse what they catch.
    Enforce,
}

impl GuardMode {
    /// The config word.
    pub fn word(self) -> &'static str {
        match self {
            GuardMode::Off => "off",
            GuardMode::RecordOnly => "record_only",
            GuardMode::Enforce => "enforce",
        }
    }
}

/// What to do with a number whose lookup or history calls for care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Refuse the verification.
    Refuse,
    /// Send by voice instead of SMS.
    Voice,
    /// Let it through.
    Allow,
}

/// The fraud guard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// `off`, `record_only` or `enforce`.
    pub mode: GuardMode,
    /// Decision records kept for `GET /v1/decisions` (oldest dropped first).
    pub decisions_kept: usize,
    /// Entries of the fixed-memory tables (per prefix, IP, device, number).
    pub table_capacity: usize,
    /// Block lists.
    pub blocklist: BlocklistConfig,
    /// RingCaptcha's heuristics.
    pub heuristics: HeuristicsConfig,
    /// Line types from lookup.
    pub line_type: LineTypeConfig,
    /// SMS pumping by prefix and country.
    pub pumping: PumpingConfig,
    /// Allowed destination countries (ISO 3166 alpha-2, from lookup); empty: all.
    pub allowed_countries: Vec<String>,
    /// Per-number flooding and per-IP velocity.
    pub velocity: VelocityConfig,
    /// SIM swaps and carrier changes.
    pub sim_swap: SimSwapConfig,
    /// App attestation: a start must carry a token signed with this key.
    pub attestation: Option<AttestationConfig>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            mode: GuardMode::Enforce,
            decisions_kept: 10_000,
            table_capacity: 65_536,
            blocklist: BlocklistConfig::default(),
            heuristics: HeuristicsConfig::default(),
            line_type: LineTypeConfig::default(),
            pumping: PumpingConfig::default(),
            allowed_countries: Vec::new(),
            velocity: VelocityConfig::default(),
            sim_swap: SimSwapConfig::default(),
            attestation: None,
        }
    }
}

/// Block lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BlocklistConfig {
    /// Fetch the carriers' open-SMS lists (`GET /v1/open-sms-numbers`) this often.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub open_sms_refresh: Duration,
    /// An open-SMS entry no longer published expires this long after it was last seen.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub open_sms_ttl: Duration,
    /// How long a heuristic entry stays.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub heuristic_ttl: Duration,
    /// Most entries per list.
    pub max_entries: usize,
}

impl Default for BlocklistConfig {
    fn default() -> Self {
        Self {
            open_sms_refresh: Duration::from_secs(3600),
            open_sms_ttl: Duration::from_secs(7 * 86_400),
            heuristic_ttl: Duration::from_secs(30 * 86_400),
            max_entries: 1_000_000,
        }
    }
}

/// RingCaptcha's list heuristics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HeuristicsConfig {
    /// A number with this many starts and no verification within `repeat_window` goes on the
    /// heuristic list.
    pub repeat_starts: u32,
    /// The window of `repeat_starts`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub repeat_window: Duration,
    /// Numbers requested from one IP or device within this window form a group.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub group_window: Duration,
    /// A group of at least this many numbers requested again together is listed.
    pub group_size: usize,
}

impl Default for HeuristicsConfig {
    fn default() -> Self {
        Self {
            repeat_starts: 8,
            repeat_window: Duration::from_secs(86_400),
            group_window: Duration::from_secs(60),
            group_size: 3,
        }
    }
}

/// Line types from lookup (camelCase as lookup APIs name them: `premium`, `sharedCost`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LineTypeConfig {
    /// Line types refused outright.
    pub refuse: Vec<String>,
    /// Non-fixed VoIP: `refuse`, `voice` or `allow`.
    pub non_fixed_voip: Policy,
}

impl Default for LineTypeConfig {
    fn default() -> Self {
        Self {
            refuse: ["premium", "sharedCost", "pager", "voicemail"]
                .map(String::from)
                .to_vec(),
            non_fixed_voip: Policy::Voice,
        }
    }
}

/// SMS pumping: velocity and conversion per prefix and per country over sliding windows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PumpingConfig {
    /// A prefix is the number without this many last digits.
    pub prefix_drop: usize,
    /// The sliding window.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
    /// Buckets of the window (its resolution).
    pub buckets: usize,
    /// Below this many starts in the window a prefix is never tripped.
    pub min_starts: u32,
    /// The same for a country, which gathers the traffic of many prefixes.
    pub country_min_starts: u32,
    /// Velocity: trip when starts exceed this many times the prefix's baseline of verified
    /// starts per window (or `min_starts` when it has none).
    pub velocity_factor: f64,
    /// Conversion: trip when verified/started (over starts older than `maturity`) falls below
    /// this fraction of the rolling baseline conversion...
    pub conversion_factor: f64,
    /// ...and below this absolute floor.
    pub min_conversion: f64,
    /// Starts younger than this are left out of conversion (their codes may still come).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub maturity: Duration,
    /// How long a tripped prefix or country stays blocked.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub cool_down: Duration,
}

impl Default for PumpingConfig {
    fn default() -> Self {
        Self {
            prefix_drop: 3,
            window: Duration::from_secs(600),
            buckets: 10,
            min_starts: 30,
            country_min_starts: 300,
            velocity_factor: 10.0,
            conversion_factor: 0.5,
            min_conversion: 0.3,
            maturity: Duration::from_secs(120),
            cool_down: Duration::from_secs(12 * 3600),
        }
    }
}

/// Flooding and velocity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VelocityConfig {
    /// Starts to one number without any check in between, within `number_window`.
    pub number_starts_without_check: u32,
    /// The window of the count above.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub number_window: Duration,
    /// Starts per client IP within `ip_window`.
    pub ip_starts: u32,
    /// The window of `ip_starts`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ip_window: Duration,
    /// Distinct destination countries per client IP within `ip_countries_window`.
    pub ip_countries: usize,
    /// The window of `ip_countries`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ip_countries_window: Duration,
}

impl Default for VelocityConfig {
    fn default() -> Self {
        Self {
            number_starts_without_check: 4,
            number_window: Duration::from_secs(3600),
            ip_starts: 60,
            ip_window: Duration::from_secs(60),
            ip_countries: 3,
            ip_countries_window: Duration::from_secs(3600),
        }
    }
}

/// SIM swaps and carrier changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SimSwapConfig {
    /// A swap (or carrier change) more recent than this many days triggers the policy.
    pub days: u32,
    /// `refuse` (no verification) or `voice` (SMS refused, voice required); `allow` disables.
    pub policy: Policy,
}

impl Default for SimSwapConfig {
    fn default() -> Self {
        Self {
            days: 7,
            policy: Policy::Voice,
        }
    }
}

/// App attestation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationConfig {
    /// The attestation key (at least 16 characters), shared with `verifier attest`.
    pub key: String,
    /// Longest lifetime a token may claim.
    #[serde(default = "default_attestation_ttl", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_ttl: Duration,
}

fn default_attestation_ttl() -> Duration {
    Duration::from_secs(300)
}

/// API security.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// API keys of `/v1` (`Authorization: Bearer KEY` or `X-Api-Key`); none: `/v1` is open.
    pub keys: Vec<ApiKey>,
    /// Credentials of the Twilio-compatible endpoints (HTTP Basic); none: they are open.
    pub twilio: Option<TwilioAuth>,
}

/// One API key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The account it belongs to (recorded with each verification).
    pub account: String,
    /// The key (at least 16 characters).
    pub key: String,
}

/// Twilio-style credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioAuth {
    /// `AC` and 32 hex digits.
    pub account_sid: String,
    /// The auth token.
    pub auth_token: String,
}
