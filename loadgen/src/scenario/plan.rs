//! The validated scenario a run is made from ([`Plan`]), the errors that refuse a file
//! ([`ScenarioError`]), and the command line's changes to it ([`Overrides`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use simulator::SimConfig;
use verifier::VerifierConfig;

use super::thresholds::RunThreshold;
use super::types::*;

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML for the format.
    #[error("{path}:{line}:{column}: {message}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("{path}:{line}: {field}: {message}", path = path.display())]
    Invalid {
        /// The file (or a file it names, such as a list of numbers).
        path: PathBuf,
        /// 1-based line of the field (or of its table).
        line: usize,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Where the load goes for numbers and handsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkTarget {
    /// carrier-sim started in process from `[network]`.
    Embedded,
    /// A running carrier-sim: the base URL of its control plane.
    External(String),
}

/// The verification service.
#[derive(Debug, Clone)]
pub enum ServicePlan {
    /// The reference verifier started in process from `[verifier]`. `wiring[i]` names the
    /// embedded carrier whose SMPP address and control plane carrier `i` gets at start (for
    /// carriers given by name only).
    Embedded {
        /// Its config (listen address, durations as written; scaled at start).
        config: Box<VerifierConfig>,
        /// Per verifier carrier, the embedded carrier it is wired to.
        wiring: Vec<Option<String>>,
    },
    /// A service reached over HTTP.
    External(Box<ServiceFile>),
}

/// A validated population.
#[derive(Debug, Clone)]
pub struct PopulationPlan {
    /// Its name.
    pub name: String,
    /// How users arrive.
    pub arrival: ArrivalFile,
    /// Which numbers.
    pub numbers: NumberPool,
    /// Channel preference, probabilities summing to 1.
    pub channels: Vec<(ChannelChoice, f64)>,
    /// Client IPs.
    pub client_ips: Option<IpPool>,
    /// Device ids drawn from this many.
    pub devices: Option<u64>,
    /// Behaviour.
    pub behaviour: BehaviourFile,
    /// Who they are.
    pub persona: PersonaFile,
}

/// Numbers to draw from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberSource {
    /// `prefix × span + k` for `k` in `0..span`.
    Prefix {
        /// The prefix as a number.
        prefix: u64,
        /// How many numbers it holds (10 to the power of the free digits).
        span: u64,
    },
    /// These numbers (digits as integers; E.164 numbers never start with 0).
    List(Arc<Vec<u64>>),
}

/// A validated number selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPool {
    /// The numbers.
    pub source: NumberSource,
    /// How one is picked.
    pub pick: Pick,
}

impl NumberPool {
    /// How many numbers the pool holds.
    pub fn len(&self) -> u64 {
        match &self.source {
            NumberSource::Prefix { span, .. } => *span,
            NumberSource::List(l) => l.len() as u64,
        }
    }

    /// Whether it holds none (validation refuses that).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`th number (`k < len`).
    pub fn nth(&self, k: u64) -> u64 {
        match &self.source {
            NumberSource::Prefix { prefix, span } => prefix * span + k,
            NumberSource::List(l) => l[k as usize],
        }
    }
}

/// A validated pool of client IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpPool {
    /// `base + k` for `k` in `0..size` (IPv4).
    Cidr {
        /// First address.
        base: u32,
        /// Addresses in the block.
        size: u64,
    },
    /// These addresses.
    List(Arc<Vec<String>>),
}

/// A validated phase: a window of the run in scenario time.
#[derive(Debug, Clone, PartialEq)]
pub struct PhasePlan {
    /// Its name.
    pub name: String,
    /// Start, from the start of the load.
    pub from: Duration,
    /// End.
    pub to: Duration,
    /// Multiplies the arrival rates.
    pub rate_factor: f64,
}

/// Everything a run is made from, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file (or the built-in scenario's name), for reports.
    pub source: PathBuf,
    /// The scenario's name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The seed of every decision.
    pub seed: u64,
    /// What durations are divided by.
    pub time_scale: f64,
    /// How long users arrive (scenario time).
    pub duration: Duration,
    /// `[network]`, validated (paths resolved, the scenario's seed and time scale in force); for
    /// an external carrier-sim it only names ranges.
    pub network: Option<SimConfig>,
    /// The carrier-sim the load goes through.
    pub network_target: NetworkTarget,
    /// Bearer token of an external carrier-sim's control plane.
    pub network_token: Option<String>,
    /// An external service's attestation key (`target.attestation_key`).
    pub attestation_key: Option<String>,
    /// The verification service.
    pub service: ServicePlan,
    /// The populations.
    pub populations: Vec<PopulationPlan>,
    /// The phases, covering the whole duration (one `main` phase when none are written).
    pub phases: Vec<PhasePlan>,
    /// Carrier changes, in time order.
    pub timeline: Vec<TimelineFile>,
    /// Thresholds from the file.
    pub thresholds: Vec<RunThreshold>,
    /// Run settings.
    pub settings: SettingsFile,
}

impl Plan {
    /// How long a verification lives at the service: the embedded verifier's `codes.expiry`,
    /// or `settings.expiry` for an external one (scenario time).
    pub fn expiry(&self) -> Duration {
        match &self.service {
            ServicePlan::Embedded { config, .. } => config.codes.expiry,
            ServicePlan::External(_) => self.settings.expiry,
        }
    }

    /// The key genuine users' attestation tokens are signed with, when the service requires
    /// them: the embedded verifier's `guard.attestation.key`, or `target.attestation_key`.
    pub fn attestation_key(&self) -> Option<&str> {
        match &self.service {
            ServicePlan::Embedded { config, .. } => {
                config.guard.attestation.as_ref().map(|a| a.key.as_str())
            }
            ServicePlan::External(_) => self.attestation_key.as_deref(),
        }
    }

    /// Whether any population has a persona other than genuine (the run then reports how the
    /// defences did).
    pub fn has_personas(&self) -> bool {
        self.populations
            .iter()
            .any(|p| p.persona != PersonaFile::Genuine)
    }

    /// Each population's name and persona (what abuse thresholds are checked against).
    pub fn personas(&self) -> Vec<(&str, &PersonaFile)> {
        self.populations
            .iter()
            .map(|p| (p.name.as_str(), &p.persona))
            .collect()
    }

    /// The names of the network's carriers, when the scenario describes the network.
    pub fn carrier_names(&self) -> Vec<String> {
        self.network
            .as_ref()
            .map(|n| n.carriers().into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    }
}

/// Command-line changes to a scenario: `--time-scale`, `--seed`, `--duration`, and external
/// targets in place of the embedded ones (`--network URL`, `--verifier URL`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// What durations are divided by.
    pub time_scale: Option<f64>,
    /// The seed.
    pub seed: Option<u64>,
    /// How long users arrive (only for a scenario without phases).
    pub duration: Option<Duration>,
    /// A running carrier-sim's control plane.
    pub network: Option<String>,
    /// The bearer token of that control plane.
    pub network_token: Option<String>,
    /// A running reference verifier's base URL.
    pub verifier: Option<String>,
}

impl Plan {
    /// Applies command-line changes; an error names the option.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), String> {
        if let Some(s) = o.time_scale {
            if !(s.is_finite() && s > 0.0) {
                return Err(format!("--time-scale {s}: must be a number above 0"));
            }
            self.time_scale = s;
        }
        if let Some(seed) = o.seed {
            self.seed = seed;
        }
        if let Some(n) = &mut self.network {
            n.time_scale = self.time_scale;
            n.seed = self.seed;
        }
        if let Some(d) = o.duration {
            if d.is_zero() {
                return Err("--duration: must be longer than zero".into());
            }
            if self.phases.len() != 1 || self.phases[0].name != "main" {
                return Err(
                    "--duration: the scenario has phases, whose durations make the run's".into(),
                );
            }
            self.phases[0].to = d;
            self.duration = d;
            if let Some(t) = self.timeline.iter().find(|t| t.at > d) {
                return Err(format!(
                    "--duration {}: the timeline has an entry at {}, after the load would end",
                    humantime::format_duration(d),
                    humantime::format_duration(t.at)
                ));
            }
        }
        if let Some(url) = &o.verifier {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("--verifier {url}: not an http:// URL"));
            }
            self.service = ServicePlan::External(Box::new(ServiceFile::Verifier {
                url: url.trim_end_matches('/').to_string(),
                api_key: None,
            }));
        }
        if let Some(url) = &o.network {
            if !url.starts_with("http://") {
                return Err(format!(
                    "--network {url}: carrier-sim's control plane, an http:// URL"
                ));
            }
            if let ServicePlan::Embedded { wiring, .. } = &self.service
                && wiring.iter().any(Option::is_some)
            {
                return Err(format!(
                    "--network {url}: the embedded verifier is wired to the embedded network; \
                     give --verifier too (a verifier bound to that carrier-sim), or its carriers' \
                     SMPP addresses in [[verifier.carriers]]"
                ));
            }
            self.network_target = NetworkTarget::External(url.trim_end_matches('/').to_string());
        }
        if let Some(token) = &o.network_token {
            if token.is_empty() {
                return Err("--network-token: empty".into());
            }
            self.network_token = Some(token.clone());
        }
        Ok(())
    }
}
