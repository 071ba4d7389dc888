//! The scenario file as written: serde types with `deny_unknown_fields`, durations as humantime
//! strings, every default in one place (the `default_*` functions and `Default` impls here).
//! The carrier part is carrier-sim's own config type ([`SimConfig`]) and the verifier part the
//! verifier's ([`VerifierConfig`]), so a block copied from either tool's file means the same here.
//! [`super::validate`] turns these into a [`super::Plan`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simulator::SimConfig;
use simulator::config::Distribution;
use verifier::VerifierConfig;

/// A whole scenario: what runs, who arrives and how they behave, what happens on the way, and
/// what must hold for the run to pass.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, shown in every report.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// Seed of every decision loadgen makes (arrivals, numbers, behaviour) and of the embedded
    /// carrier's: the same seed and file give the same decisions.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long users arrive, in scenario time. May be left out when `phases` are given (their
    /// durations add up to it).
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Duration>,
    /// Divides every duration of the scenario (arrivals, phases, behaviour, timeline, the
    /// carrier's latencies, the verifier's timeouts), so a long scenario runs fast in CI.
    /// Rates stay as written. Reported times are in scenario time (wall time × time_scale).
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// The simulated network, in carrier-sim's config format: started in process unless
    /// `target.network` names a running carrier-sim (then it still names the number ranges).
    #[serde(default)]
    pub network: Option<SimConfig>,
    /// The reference verifier, in its own config format: started in process unless
    /// `target.service` names another service. Carriers given by name only (or none at all:
    /// every carrier of the network, in name order) are wired to the embedded network.
    #[serde(default)]
    pub verifier: Option<VerifierConfig>,
    /// External targets instead of the embedded ones.
    #[serde(default)]
    pub target: TargetFile,
    /// Who arrives.
    pub populations: Vec<PopulationFile>,
    /// Consecutive named windows of the run, each with a rate factor; reported one by one.
    #[serde(default)]
    pub phases: Vec<PhaseFile>,
    /// Changes to carriers at offsets from the start of the load, made through the carrier's
    /// control plane (so they work on an external carrier-sim too).
    #[serde(default)]
    pub timeline: Vec<TimelineFile>,
    /// Pass/fail thresholds: `"metric" = "op value"` (or a list of them), e.g.
    /// `"delivery_time.p99" = "< 15s"`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, OneOrMany>,
    /// How the run is carried out.
    #[serde(default)]
    pub settings: SettingsFile,
}

/// One threshold, or several on the same metric.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `"< 15s"`.
    One(String),
    /// `["< 15s", "> 100ms"]`.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The conditions.
    pub fn conditions(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

pub(crate) fn default_seed() -> u64 {
    1
}

pub(crate) fn default_time_scale() -> f64 {
    1.0
}

/// External targets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Base URL of a running carrier-sim's control plane (`http://127.0.0.1:8775`): handsets
    /// are read from its WebSocket event stream, and the timeline is applied through it.
    #[serde(default)]
    pub network: Option<String>,
    /// Bearer token of that control plane, when it was started with one (carrier-sim's
    /// `--control-token`). `--network-token` or the `CARRIER_SIM_CONTROL_TOKEN` environment
    /// variable give it without writing it in the file, and take precedence.
    #[serde(default)]
    pub network_token: Option<String>,
    /// The verification service, when it is not the embedded verifier.
    #[serde(default)]
    pub service: Option<ServiceFile>,
    /// The app's attestation key, when the external service requires attestation tokens
    /// (the reference verifier's `guard.attestation.key`): genuine users then send a valid
    /// token, as the app would. The embedded verifier's key is read from `[verifier]`.
    #[serde(default)]
    pub attestation_key: Option<String>,
}

/// A verification service reached over HTTP.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceFile {
    /// The reference verifier's `/v1` API (also gives each verification's attempts, so
    /// failover is measured).
    Verifier {
        /// Base URL, e.g. `http://127.0.0.1:8790`.
        url: String,
        /// API key (`Authorization: Bearer`), when the verifier asks for one.
        #[serde(default)]
        api_key: Option<String>,
    },
    /// A service that speaks Twilio Verify v2 (form bodies, Twilio's JSON).
    Twilio {
        /// Base URL standing in for `https://verify.twilio.com`.
        url: String,
        /// The Verify service SID (`VA` and 32 characters).
        service_sid: String,
        /// Account SID for HTTP Basic auth (with `auth_token`).
        #[serde(default)]
        account_sid: Option<String>,
        /// Auth token for HTTP Basic auth.
        #[serde(default)]
        auth_token: Option<String>,
    },
    /// Any HTTP verification API, described by request templates.
    Http(Box<HttpAdapterFile>),
}

/// A generic HTTP verification API: how to start, how to check, and how to read the answers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpAdapterFile {
    /// Base URL; request paths are appended to it.
    pub url: String,
    /// Headers sent with every request (authentication, say); `{{attestation}}` here sends
    /// genuine users' attestation tokens (`X-Attestation-Token = "{{attestation}}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The words the service uses for the channels, when not `sms`, `voice`, `auto` (e.g.
    /// `{ voice = "call" }`).
    #[serde(default)]
    pub channels: BTreeMap<ChannelChoice, String>,
    /// The start request.
    pub start: StartFile,
    /// The check request.
    pub check: CheckFile,
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// `application/json`: values are JSON-escaped into the template.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`: values are percent-encoded into the template.
    Form,
}

/// A request template (the start's or the check's). Placeholders: `{{to}}` (E.164 with `+`),
/// `{{to_digits}}` (without), `{{channel}}`, `{{client_ip}}`, `{{device_id}}`, `{{id}}` (from
/// the start's answer), `{{code}}`, `{{attestation}}` (the app's attestation token, empty
/// when none; a header that renders empty is left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFile {
    /// HTTP method.
    pub method: String,
    /// Path (and query), appended to the base URL; may hold placeholders.
    pub path: String,
    /// Body template (none: no body).
    pub body: Option<String>,
    /// How the body is encoded, and so how values are escaped into it.
    pub encoding: BodyEncoding,
}

fn default_method() -> String {
    "POST".into()
}

/// The start request and how its answer is read.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartFile {
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path (and query), appended to the base URL; may hold placeholders (`{{to}}`,
    /// `{{to_digits}}`, `{{channel}}`, `{{client_ip}}`, `{{device_id}}`, `{{id}}`, `{{code}}`).
    pub path: String,
    /// Body template (none: no body), with the same placeholders.
    #[serde(default)]
    pub body: Option<String>,
    /// How the body is encoded, and so how values are escaped into it.
    #[serde(default)]
    pub encoding: BodyEncoding,
    /// JSON pointer to the verification id in the answer (e.g. `/id`); none: the check is
    /// made by number.
    #[serde(default)]
    pub id: Option<String>,
    /// HTTP statuses that mean started.
    #[serde(default = "default_started_http")]
    pub success: Vec<u16>,
    /// HTTP statuses that mean refused on purpose (blocked, rate limited, overloaded); any other
    /// status is a failure of the service.
    #[serde(default = "default_blocked_http")]
    pub blocked: Vec<u16>,
    /// JSON pointer to the refusal's reason in a refused answer (e.g. `/rule`); none: the
    /// reason is `http_` and the status.
    #[serde(default)]
    pub reason: Option<String>,
}

impl StartFile {
    /// The request part.
    pub fn request(&self) -> RequestFile {
        RequestFile {
            method: self.method.clone(),
            path: self.path.clone(),
            body: self.body.clone(),
            encoding: self.encoding,
        }
    }
}

impl CheckFile {
    /// The request part.
    pub fn request(&self) -> RequestFile {
        RequestFile {
            method: self.method.clone(),
            path: self.path.clone(),
            body: self.body.clone(),
            encoding: self.encoding,
        }
    }
}

fn default_started_http() -> Vec<u16> {
    vec![200, 201, 202]
}

fn default_blocked_http() -> Vec<u16> {
    vec![403, 429, 503]
}

/// The check request and how its answer is read.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckFile {
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path (and query), appended to the base URL; may hold placeholders (`{{to}}`,
    /// `{{to_digits}}`, `{{channel}}`, `{{client_ip}}`, `{{device_id}}`, `{{id}}`, `{{code}}`).
    pub path: String,
    /// Body template (none: no body), with the same placeholders.
    #[serde(default)]
    pub body: Option<String>,
    /// How the body is encoded, and so how values are escaped into it.
    #[serde(default)]
    pub encoding: BodyEncoding,
    /// JSON pointer to the status word in the answer (e.g. `/status`); none: the HTTP status
    /// alone decides (a success status approves).
    #[serde(default)]
    pub status: Option<String>,
    /// Status words that mean approved.
    #[serde(default = "default_approved")]
    pub approved: Vec<String>,
    /// Status words that mean expired.
    #[serde(default = "default_expired")]
    pub expired: Vec<String>,
    /// Status words that mean too many checks.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: Vec<String>,
    /// HTTP statuses of a successful answer (whose status word is then read).
    #[serde(default = "default_check_http")]
    pub success: Vec<u16>,
    /// HTTP statuses that mean the verification is gone (ended or unknown).
    #[serde(default = "default_not_found_http")]
    pub not_found: Vec<u16>,
}

fn default_approved() -> Vec<String> {
    vec!["approved".into()]
}

fn default_expired() -> Vec<String> {
    vec!["expired".into()]
}

fn default_max_attempts() -> Vec<String> {
    vec!["max_attempts".into(), "max_attempts_reached".into()]
}

fn default_check_http() -> Vec<u16> {
    vec![200, 201]
}

fn default_not_found_http() -> Vec<u16> {
    vec![404]
}

/// A population of virtual users.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationFile {
    /// Its name in reports.
    pub name: String,
    /// How its users arrive (open loop: arrivals do not wait for earlier users).
    pub arrival: ArrivalFile,
    /// Which numbers they verify.
    pub numbers: NumbersFile,
    /// Channel preference: probabilities of `sms`, `voice` and `auto` (summing to 1).
    #[serde(default = "default_channels")]
    pub channels: BTreeMap<ChannelChoice, f64>,
    /// Client IP addresses: a CIDR block drawn from at random (`10.20.0.0/16`) or a list; none:
    /// no IP is sent.
    #[serde(default)]
    pub client_ips: Option<IpPoolFile>,
    /// Device ids drawn from this many (`device-1` ...); none: no device id is sent.
    #[serde(default)]
    pub devices: Option<u64>,
    /// How the users behave.
    #[serde(default)]
    pub behaviour: BehaviourFile,
    /// Who the users are: genuine (the default) or a fraud persona, e.g.
    /// `persona = { kind = "sms_pumping" }`. Loadgen knows which requests are attacks and
    /// judges the service's answers against that; the label is never sent.
    #[serde(default)]
    pub persona: PersonaFile,
}

/// Who a population's users are. Genuine users and recycled-number owners should be served;
/// every other persona is an attack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PersonaFile {
    /// Real users: ask, wait for the code, type it (the population's `behaviour`).
    #[default]
    Genuine,
    /// SMS pumping: codes requested for numbers in premium or revenue-share ranges (take them
    /// from such a range, `pick = "sequential"` for number runs), never checked, from many
    /// client IPs (give `client_ips` a wide block). Each arrival is one request.
    SmsPumping,
    /// Numbers from open-SMS websites: the codes are public, so the bot reads them off the
    /// website (the handset) and verifies, like a user.
    OpenSmsAbuser,
    /// A farm of non-fixed VoIP numbers creating accounts: verifies like a user.
    VoipFarm,
    /// Floods victims with codes: every arrival asks for a code to one of `victims` numbers
    /// drawn from `numbers` when the run starts, and never checks.
    OtpBomber {
        /// How many victims the population's requests go to.
        #[serde(default = "default_victims")]
        victims: u64,
    },
    /// Starts a verification for a number it does not hold and guesses codes.
    BruteForcer {
        /// Guesses per verification (it stops earlier when the service refuses).
        #[serde(default = "default_guesses")]
        guesses: u32,
        /// Between guesses (scenario time).
        #[serde(default = "default_guess_gap", with = "humantime_serde")]
        #[schemars(with = "String")]
        guess_gap: Duration,
        /// Digits of a guessed code.
        #[serde(default = "default_code_digits")]
        code_digits: usize,
    },
    /// Account takeover after a SIM swap: the attacker holds the victim's new SIM, so the code
    /// reaches them, and they verify.
    SimSwapTakeover {
        /// Swap the SIM at the carrier (`POST /v1/numbers/{n}/sim-swap`) just before asking;
        /// false: the numbers' range already shows a recent swap (`sim_swap_ago`).
        #[serde(default = "default_true")]
        swap: bool,
    },
    /// Bots that ask for codes for the same set of numbers together, again and again, each
    /// from its own device and IP: each number asks rarely, but always in the same company.
    /// Each arrival is one bot's round: a request for every number of its set.
    NumberSetBot {
        /// Numbers in a bot's set.
        #[serde(default = "default_set_size")]
        set_size: usize,
        /// Bots (each with its own set, device and IP from the population's pools).
        #[serde(default = "default_bots")]
        bots: u64,
    },
    /// A script calling the API with the app's leaked API key, without a valid attestation
    /// token; it verifies when served.
    ApiKeyBot {
        /// What it sends as the token.
        #[serde(default)]
        token: BotToken,
    },
    /// Real people paid to verify: real-looking behaviour at low volume, converting slowly.
    HumanFarm,
    /// A genuine user whose number was abused by its previous owner: before the load the
    /// numbers are put on the service's block list (`POST /v1/blocklist`, the reference
    /// verifier's), and each user's number is recycled at the carrier
    /// (`POST /v1/numbers/{n}/recycle`) just before they ask. The list should forgive them.
    RecycledNumberOwner,
}

/// What an API-key bot sends as its attestation token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotToken {
    /// No token.
    #[default]
    None,
    /// A token signed with a key that is not the app's.
    Forged,
}

fn default_victims() -> u64 {
    1
}

fn default_guesses() -> u32 {
    10
}

fn default_guess_gap() -> Duration {
    Duration::from_secs(1)
}

fn default_code_digits() -> usize {
    6
}

fn default_true() -> bool {
    true
}

fn default_set_size() -> usize {
    4
}

fn default_bots() -> u64 {
    10
}

impl PersonaFile {
    /// The persona's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            PersonaFile::Genuine => "genuine",
            PersonaFile::SmsPumping => "sms_pumping",
            PersonaFile::OpenSmsAbuser => "open_sms_abuser",
            PersonaFile::VoipFarm => "voip_farm",
            PersonaFile::OtpBomber { .. } => "otp_bomber",
            PersonaFile::BruteForcer { .. } => "brute_forcer",
            PersonaFile::SimSwapTakeover { .. } => "sim_swap_takeover",
            PersonaFile::NumberSetBot { .. } => "number_set_bot",
            PersonaFile::ApiKeyBot { .. } => "api_key_bot",
            PersonaFile::HumanFarm => "human_farm",
            PersonaFile::RecycledNumberOwner => "recycled_number_owner",
        }
    }

    /// Whether its requests are attacks.
    pub fn is_attack(&self) -> bool {
        !matches!(
            self,
            PersonaFile::Genuine | PersonaFile::RecycledNumberOwner
        )
    }

    /// Whether its users wait for their code and check it (the others only ask).
    pub fn checks(&self) -> bool {
        !matches!(
            self,
            PersonaFile::SmsPumping
                | PersonaFile::OtpBomber { .. }
                | PersonaFile::NumberSetBot { .. }
        )
    }
}

/// A channel the user asks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChannelChoice {
    /// SMS only.
    Sms,
    /// A voice call.
    Voice,
    /// Whatever the service chooses (its whole workflow).
    Auto,
}

impl ChannelChoice {
    /// The API word.
    pub fn word(self) -> &'static str {
        match self {
            ChannelChoice::Sms => "sms",
            ChannelChoice::Voice => "voice",
            ChannelChoice::Auto => "auto",
        }
    }
}

fn default_channels() -> BTreeMap<ChannelChoice, f64> {
    [(ChannelChoice::Sms, 1.0)].into_iter().collect()
}

/// A pool of client IP addresses.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IpPoolFile {
    /// An IPv4 CIDR block, e.g. `10.20.0.0/16`.
    Cidr(String),
    /// These addresses.
    List(Vec<String>),
}

/// An arrival model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum ArrivalFile {
    /// Evenly spaced arrivals at `rate` per second.
    Constant {
        /// Users per second.
        rate: f64,
    },
    /// A Poisson process of `rate` per second (exponential gaps).
    Poisson {
        /// Mean users per second.
        rate: f64,
    },
    /// A linear ramp from `from` to `to` per second over `over`, then `to`.
    Ramp {
        /// Users per second at the start.
        from: f64,
        /// Users per second at the end of the ramp.
        to: f64,
        /// How long the ramp takes (scenario time).
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        over: Duration,
        /// Poisson arrivals around the ramp instead of evenly spaced ones.
        #[serde(default)]
        poisson: bool,
    },
    /// `rate` per second, and `peak` per second from `at` for `hold`.
    Spike {
        /// Users per second outside the spike.
        rate: f64,
        /// Users per second during the spike.
        peak: f64,
        /// When the spike starts (scenario time from the start of the load).
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        at: Duration,
        /// How long it lasts.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        hold: Duration,
        /// Poisson arrivals around the profile instead of evenly spaced ones.
        #[serde(default)]
        poisson: bool,
    },
    /// A day's curve: `mean` per second on average over a day, highest at `peak_hour` and
    /// lowest twelve hours later, `mean × (1 + amplitude × cos(2π (hour − peak_hour) / 24))`
    /// (followed hour by hour, linearly in between). Hours are scenario time from
    /// `start_hour`, so a day compressed by the time scale keeps its shape.
    Diurnal {
        /// Users per second, averaged over a day.
        mean: f64,
        /// How far the rate swings around the mean, as a fraction of it (0 to 1).
        #[serde(default = "default_amplitude")]
        amplitude: f64,
        /// Hour of the day (0 to 24) with the most users.
        #[serde(default = "default_peak_hour")]
        peak_hour: f64,
        /// Hour of the day at the start of the load.
        #[serde(default)]
        start_hour: f64,
        /// Poisson arrivals around the curve (the default) instead of evenly spaced ones.
        #[serde(default = "default_true")]
        poisson: bool,
    },
}

fn default_amplitude() -> f64 {
    0.6
}

fn default_peak_hour() -> f64 {
    20.0
}

/// How numbers are chosen: from a range of the plan (by its name), a prefix, a list or a file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumbersFile {
    /// The name of a range of `[network]`'s plan: its prefix, numbers or file.
    #[serde(default)]
    pub range: Option<String>,
    /// E.164 digits every number starts with.
    #[serde(default)]
    pub prefix: Option<String>,
    /// These numbers.
    #[serde(default)]
    pub list: Option<Vec<String>>,
    /// A file with one E.164 number a line (`#` comments), relative to the scenario file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Length of a number drawn from a prefix, in digits.
    #[serde(default = "default_digits")]
    pub digits: usize,
    /// `random` or `sequential`.
    #[serde(default)]
    pub pick: Pick,
}

pub(crate) fn default_digits() -> usize {
    12
}

/// How a number is picked. Either way a number is used by one verification at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Uniformly at random.
    #[default]
    Random,
    /// In order, wrapping around.
    Sequential,
}

/// How users behave once they asked for a code.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BehaviourFile {
    /// From the code reaching the phone to the check being sent: reading and typing it.
    pub read_time: Distribution,
    /// After a wrong code, the time to type it again.
    pub retype_time: Distribution,
    /// Probability that a code is typed wrong (each check).
    pub typo_rate: f64,
    /// Probability that a user walks away without checking.
    pub abandon_rate: f64,
    /// With no code after this long, the user asks again (resend); none: never.
    #[serde(with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub resend_after: Option<Duration>,
    /// Most resends per user.
    pub max_resends: u32,
    /// With no code after this long, the user gives up (abandoned); none: they wait until the
    /// verification expires.
    #[serde(with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub give_up_after: Option<Duration>,
}

impl Default for BehaviourFile {
    fn default() -> Self {
        Self {
            read_time: Distribution::uniform_secs(3, 10),
            retype_time: Distribution::fixed_secs(3),
            typo_rate: 0.0,
            abandon_rate: 0.0,
            resend_after: None,
            max_resends: 1,
            give_up_after: None,
        }
    }
}

/// A named window of the run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseFile {
    /// Its name in reports.
    pub name: String,
    /// How long it lasts (scenario time).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub duration: Duration,
    /// Multiplies every population's arrival rate during the phase.
    #[serde(default = "default_rate_factor")]
    pub rate_factor: f64,
}

fn default_rate_factor() -> f64 {
    1.0
}

/// A change to a carrier at an offset from the start of the load.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineFile {
    /// Offset from the start of the load (scenario time).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub at: Duration,
    /// The carrier it concerns.
    pub carrier: String,
    /// Take the carrier down for this long (scenario time).
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub outage: Option<Duration>,
    /// Behaviour changes, as with carrier-sim's `PATCH /v1/carriers/{name}`.
    #[serde(default)]
    pub change: Option<simulator::config::CarrierPatch>,
}

/// How the run is carried out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SettingsFile {
    /// After the last arrival, how long verifications still under way may take to end
    /// (scenario time); those that have not are counted as failed (`unfinished`).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub drain: Duration,
    /// A request to the service without an answer after this long (wall time) fails.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// A start sent later than this after its intended time counts as behind schedule.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub behind_tolerance: Duration,
    /// How long a verification lives at an external service (the embedded verifier's own
    /// `codes.expiry` is used for it): a user still without a code then stops waiting.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub expiry: Duration,
    /// Fewest digits of a code read off a message.
    pub code_min_digits: usize,
    /// Most digits of a code read off a message.
    pub code_max_digits: usize,
    /// Ask the service for each verification's attempts at its end (failover, carriers, causes),
    /// when it can tell them (the reference verifier can).
    pub attempts: bool,
    /// Run the scenario first with the embedded verifier's guard in this mode (`record_only`
    /// or `off`), same seed, to measure what the attacks cost without the guard; the report
    /// then says what the guard saved. None: no baseline run.
    #[serde(default)]
    pub baseline: Option<verifier::config::GuardMode>,
}

impl Default for SettingsFile {
    fn default() -> Self {
        Self {
            drain: Duration::from_secs(120),
            request_timeout: Duration::from_secs(10),
            behind_tolerance: Duration::from_millis(10),
            expiry: Duration::from_secs(600),
            code_min_digits: 4,
            code_max_digits: 10,
            attempts: true,
            baseline: None,
        }
    }
}
