//! From the file as written to a [`Plan`]: every value that parses but cannot work is refused
//! here, with the dotted path of its field, located in the file by carrier-sim's locator. The
//! network part is checked by carrier-sim's own rules (number plan included) and the verifier
//! part by the verifier's, so both mean here what they mean in those tools' files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use simulator::SimConfig;
use simulator::config::AccountConfig;

use super::plan::{
    IpPool, NetworkTarget, NumberPool, NumberSource, PhasePlan, Plan, PopulationPlan,
    ScenarioError, ServicePlan,
};
use super::thresholds::RunThreshold;
use super::types::*;

/// A refusal: the field's dotted path and what is wrong.
type Refusal = (String, String);

fn refuse<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, Refusal> {
    Err((field.into(), message.into()))
}

/// The account an embedded verifier binds with when a carrier of the embedded network has none.
pub const DEFAULT_ACCOUNT: (&str, &str) = ("verifier", "secret");

/// The verifier's default listen address; an embedded verifier listens on port 0 instead.
const VERIFIER_DEFAULT_LISTEN: &str = "127.0.0.1:8790";

impl Plan {
    /// Loads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates scenario text; `path` names it in errors, and relative paths in it
    /// resolve from its directory.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        plan(path, text)
    }

    /// The built-in smoke scenario.
    pub fn builtin_smoke() -> Result<Self, ScenarioError> {
        Self::parse(Path::new(super::SMOKE_NAME), super::SMOKE)
    }
}

/// Parses and validates scenario text into a plan.
pub fn plan(path: &Path, text: &str) -> Result<Plan, ScenarioError> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| {
        let at = simulator::config::locate_toml_error(text, &e);
        ScenarioError::Parse {
            path: path.to_path_buf(),
            line: at.line,
            column: at.column,
            message: at.message,
        }
    })?;
    let invalid = |(field, message): Refusal| ScenarioError::Invalid {
        line: locate(text, &field),
        path: path.to_path_buf(),
        field,
        message,
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let network = network(path, text, &file)?;
    let mut plan = build(file, network, base).map_err(|e| match e {
        Built::Refused(r) => invalid(r),
        Built::File(e) => e,
    })?;
    plan.source = path.to_path_buf();
    Ok(plan)
}

/// The line of a field: carrier-sim's locator, except for threshold keys, which hold dots of
/// their own (`thresholds."delivery_time.p99"`) and are found by their quoted key.
fn locate(text: &str, field: &str) -> usize {
    if let Some(key) = field.strip_prefix("thresholds.") {
        let key = key.trim_matches('"');
        let quoted = [format!("\"{key}\""), format!("'{key}'")];
        if let Some((i, _)) = text.lines().enumerate().find(|(_, l)| {
            quoted
                .iter()
                .any(|q| l.trim_start().starts_with(q.as_str()))
        }) {
            return i + 1;
        }
    }
    simulator::config::locate(text, field)
}

/// `[network]` checked by carrier-sim's own rules (the number plan included): it is written
/// back to TOML and read by `SimConfig::parse`, whose refusals name fields relative to the
/// network part; those are located in the scenario under `network.`.
fn network(
    path: &Path,
    text: &str,
    file: &ScenarioFile,
) -> Result<Option<SimConfig>, ScenarioError> {
    let Some(net) = &file.network else {
        return Ok(None);
    };
    let invalid = |field: String, message: String| ScenarioError::Invalid {
        line: locate(text, &field),
        path: path.to_path_buf(),
        field,
        message,
    };
    let defaults = SimConfig::default();
    if net.seed != defaults.seed {
        return Err(invalid(
            "network.seed".into(),
            "the scenario's `seed` (at the top of the file) seeds the network too".into(),
        ));
    }
    if net.time_scale != defaults.time_scale {
        return Err(invalid(
            "network.time_scale".into(),
            "the scenario's `time_scale` (at the top of the file) scales the network too".into(),
        ));
    }
    let written = toml::to_string(net).map_err(|e| invalid("network".into(), e.to_string()))?;
    let mut cfg = SimConfig::parse(path, &written).map_err(|e| match e {
        simulator::config::ConfigError::Invalid {
            path: p,
            line,
            field,
            message,
        } if p != path => ScenarioError::Invalid {
            path: p,
            line,
            field,
            message,
        },
        simulator::config::ConfigError::Invalid { field, message, .. } => {
            invalid(format!("network.{field}"), message)
        }
        other => invalid("network".into(), other.to_string()),
    })?;
    cfg.seed = file.seed;
    cfg.time_scale = file.time_scale;
    Ok(Some(cfg))
}

enum Built {
    Refused(Refusal),
    File(ScenarioError),
}

impl From<Refusal> for Built {
    fn from(r: Refusal) -> Self {
        Built::Refused(r)
    }
}

fn build(file: ScenarioFile, network: Option<SimConfig>, base: &Path) -> Result<Plan, Built> {
    if file.name.trim().is_empty() {
        refuse("name", "must not be empty")?;
    }
    if !(file.time_scale.is_finite() && file.time_scale > 0.0) {
        refuse(
            "time_scale",
            format!("must be a number above 0, not {}", file.time_scale),
        )?;
    }
    let phases = phases(&file)?;
    let duration = phases.last().map_or(Duration::ZERO, |p| p.to);

    let network_target = match &file.target.network {
        Some(url) => {
            http_url("target.network", url)?;
            NetworkTarget::External(url.trim_end_matches('/').to_string())
        }
        None => NetworkTarget::Embedded,
    };
    // An embedded network is what `[network]` says, or carrier-sim's default: one carrier,
    // every number a reachable mobile.
    let network = match (&network_target, network) {
        (NetworkTarget::Embedded, None) => Some(SimConfig {
            seed: file.seed,
            time_scale: file.time_scale,
            ..SimConfig::default()
        }),
        (_, n) => n,
    };
    let carriers: Vec<String> = network
        .as_ref()
        .map(|n| n.carriers().into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    let service = service(&file, &network_target, network.as_ref())?;
    let network = match (&service, network) {
        // The embedded verifier binds with the first account of each carrier; give a carrier
        // without accounts the default one.
        (ServicePlan::Embedded { .. }, Some(mut n))
            if network_target == NetworkTarget::Embedded =>
        {
            if n.carriers.is_empty() {
                let c = simulator::config::CarrierConfig::default();
                n.carriers.insert(c.name.clone(), c);
            }
            for c in n.carriers.values_mut() {
                if c.accounts.is_empty() {
                    c.accounts.insert(
                        DEFAULT_ACCOUNT.0.into(),
                        AccountConfig::new(DEFAULT_ACCOUNT.1),
                    );
                }
            }
            Some(n)
        }
        (_, n) => n,
    };

    if file.populations.is_empty() {
        refuse(
            "populations",
            "at least one population is needed ([[populations]])",
        )?;
    }
    let mut names = HashSet::new();
    let mut populations = Vec::new();
    for (i, p) in file.populations.iter().enumerate() {
        let f = |x: &str| format!("populations[{i}].{x}");
        if p.name.trim().is_empty() {
            refuse(f("name"), "must not be empty")?;
        }
        if !names.insert(p.name.as_str()) {
            refuse(
                f("name"),
                format!("`{}` names another population too", p.name),
            )?;
        }
        populations.push(population(p, i, network.as_ref(), base, duration)?);
    }

    let mut timeline = file.timeline.clone();
    for (i, t) in timeline.iter().enumerate() {
        let f = |x: &str| format!("timeline[{i}].{x}");
        if t.at > duration {
            refuse(
                f("at"),
                format!(
                    "{} is after the load ends ({})",
                    humantime::format_duration(t.at),
                    humantime::format_duration(duration)
                ),
            )?;
        }
        if !carriers.is_empty() && !carriers.contains(&t.carrier) {
            refuse(
                f("carrier"),
                format!(
                    "no carrier named `{}` in the network (carriers: {})",
                    t.carrier,
                    carriers.join(", ")
                ),
            )?;
        }
        if t.outage.is_some_and(|d| d.is_zero()) {
            refuse(f("outage"), "must be longer than zero")?;
        }
        let change = t.change.as_ref().filter(|c| !c.is_empty());
        if t.outage.is_none() && change.is_none() {
            refuse(
                f("change"),
                "the entry changes nothing: give `outage` or `change`",
            )?;
        }
        if let Some(c) = change {
            c.validate()
                .map_err(|(field, m)| (f(&format!("change.{field}")), m))?;
        }
    }
    timeline.sort_by_key(|t| t.at);

    let mut thresholds = Vec::new();
    let personas: Vec<(&str, &PersonaFile)> = file
        .populations
        .iter()
        .map(|p| (p.name.as_str(), &p.persona))
        .collect();
    for (key, conds) in &file.thresholds {
        for cond in conds.conditions() {
            let expr = format!("{key} {}", cond.trim());
            let t = RunThreshold::parse(&expr)
                .map_err(|e| (format!("thresholds.\"{key}\""), e.reason))?;
            selector(&t, &carriers).map_err(|m| (format!("thresholds.\"{key}\""), m))?;
            abuse_threshold(&t, &personas).map_err(|m| (format!("thresholds.\"{key}\""), m))?;
            thresholds.push(t);
        }
    }

    let s = &file.settings;
    for (field, d) in [
        ("settings.drain", s.drain),
        ("settings.request_timeout", s.request_timeout),
        ("settings.expiry", s.expiry),
    ] {
        if d.is_zero() {
            refuse(field, "must be longer than zero")?;
        }
    }
    if s.code_min_digits == 0 || s.code_min_digits > s.code_max_digits || s.code_max_digits > 10 {
        refuse(
            "settings.code_min_digits",
            "codes are read as 1 to 10 digits, with code_min_digits <= code_max_digits",
        )?;
    }

    let embedded_verifier = matches!(service, ServicePlan::Embedded { .. });
    let reference = embedded_verifier
        || matches!(&service, ServicePlan::External(s) if matches!(**s, ServiceFile::Verifier { .. }));
    for (i, p) in file.populations.iter().enumerate() {
        if matches!(p.persona, PersonaFile::RecycledNumberOwner) && !reference {
            refuse(
                format!("populations[{i}].persona.kind"),
                "recycled_number_owner lists its numbers through the reference verifier's \
                 /v1/blocklist before the load: the service must be the embedded verifier or \
                 `kind = \"verifier\"`",
            )?;
        }
    }
    if file.settings.baseline.is_some() {
        if !embedded_verifier {
            refuse(
                "settings.baseline",
                "a baseline run switches the embedded verifier's guard mode: it needs the \
                 embedded verifier",
            )?;
        }
        if file.settings.baseline == Some(verifier::config::GuardMode::Enforce) {
            refuse(
                "settings.baseline",
                "the baseline is the guard relaxed: `record_only` or `off`",
            )?;
        }
    }

    Ok(Plan {
        source: PathBuf::new(),
        name: file.name.clone(),
        description: file.description.trim().to_string(),
        seed: file.seed,
        time_scale: file.time_scale,
        duration,
        network,
        network_target,
        network_token: file.target.network_token.clone(),
        attestation_key: file.target.attestation_key.clone(),
        service,
        populations,
        phases,
        timeline,
        thresholds,
        settings: file.settings.clone(),
    })
}

/// A threshold's channel or carrier must be one the run can have: `sms`, `voice`, or a carrier
/// of the network (when the scenario describes it).
pub fn selector(t: &RunThreshold, carriers: &[String]) -> Result<(), String> {
    if let super::thresholds::RunMetric::Latency {
        selector: Some(s), ..
    } = &t.metric
        && !(s == "sms" || s == "voice" || carriers.is_empty() || carriers.contains(s))
    {
        return Err(format!(
            "`{s}` is neither a channel (sms, voice) nor a carrier of the network ({})",
            carriers.join(", ")
        ));
    }
    Ok(())
}

/// An abuse threshold needs a population with a persona (without one the run has no abuse
/// section, and the threshold could only fail), and a `persona.<population>.<field>` one must
/// name a population of the scenario. `populations`: each one's name and persona.
pub fn abuse_threshold(
    t: &RunThreshold,
    populations: &[(&str, &PersonaFile)],
) -> Result<(), String> {
    let super::thresholds::RunMetric::Abuse(a) = &t.metric else {
        return Ok(());
    };
    if populations.iter().all(|(_, p)| **p == PersonaFile::Genuine) {
        return Err(format!(
            "`{a}` is an abuse figure, but no population has a persona (give one \
             `persona = {{ kind = \"sms_pumping\" }}` or another), so the run would have no \
             abuse section to judge"
        ));
    }
    if let Some(name) = a.population()
        && !populations.iter().any(|(p, _)| *p == name)
    {
        return Err(format!(
            "`{name}` is not a population of the scenario ({})",
            populations
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

fn http_url(field: &str, url: &str) -> Result<(), Refusal> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() => Ok(()),
        _ => refuse(field, format!("`{url}` is not an http:// URL")),
    }
}

fn phases(file: &ScenarioFile) -> Result<Vec<PhasePlan>, Refusal> {
    let mut out = Vec::new();
    let mut at = Duration::ZERO;
    let mut names = HashSet::new();
    for (i, p) in file.phases.iter().enumerate() {
        let f = |x: &str| format!("phases[{i}].{x}");
        if p.name.trim().is_empty() {
            refuse(f("name"), "must not be empty")?;
        }
        if !names.insert(p.name.as_str()) {
            refuse(f("name"), format!("`{}` names another phase too", p.name))?;
        }
        if p.duration.is_zero() {
            refuse(f("duration"), "must be longer than zero")?;
        }
        if !(p.rate_factor.is_finite() && p.rate_factor >= 0.0) {
            refuse(f("rate_factor"), "must be a number, 0 or more")?;
        }
        out.push(PhasePlan {
            name: p.name.clone(),
            from: at,
            to: at + p.duration,
            rate_factor: p.rate_factor,
        });
        at += p.duration;
    }
    match (file.duration, out.is_empty()) {
        (None, true) => refuse(
            "duration",
            "give the run's `duration` (or `[[phases]]`, whose durations add up to it)",
        ),
        (Some(d), true) if d.is_zero() => refuse("duration", "must be longer than zero"),
        (Some(d), true) => Ok(vec![PhasePlan {
            name: "main".into(),
            from: Duration::ZERO,
            to: d,
            rate_factor: 1.0,
        }]),
        (Some(d), false) if d != at => refuse(
            "duration",
            format!(
                "is {}, but the phases add up to {} (leave one of them out)",
                humantime::format_duration(d),
                humantime::format_duration(at)
            ),
        ),
        _ => Ok(out),
    }
}

fn service(
    file: &ScenarioFile,
    network_target: &NetworkTarget,
    network: Option<&SimConfig>,
) -> Result<ServicePlan, Refusal> {
    if let Some(s) = &file.target.service {
        match s {
            ServiceFile::Verifier { url, .. } => http_url("target.service.url", url)?,
            ServiceFile::Twilio {
                url,
                service_sid,
                account_sid,
                auth_token,
            } => {
                http_url("target.service.url", url)?;
                if !(service_sid.len() == 34 && service_sid.starts_with("VA")) {
                    refuse(
                        "target.service.service_sid",
                        "a Verify service SID is `VA` and 32 characters",
                    )?;
                }
                if account_sid.is_some() != auth_token.is_some() {
                    refuse(
                        "target.service.auth_token",
                        "account_sid and auth_token go together",
                    )?;
                }
            }
            ServiceFile::Http(h) => {
                http_url("target.service.url", &h.url)?;
                crate::scenario::validate::http_adapter(h)?;
            }
        }
        if file.verifier.is_some() {
            refuse(
                "verifier",
                "the verifier is not started when target.service names another service: \
                 remove one of them",
            )?;
        }
        return Ok(ServicePlan::External(Box::new(s.clone())));
    }
    let mut cfg = file.verifier.clone().unwrap_or_default();
    if cfg.listen == VERIFIER_DEFAULT_LISTEN {
        cfg.listen = "127.0.0.1:0".into();
    }
    let embedded = *network_target == NetworkTarget::Embedded;
    let carriers: Vec<simulator::config::CarrierConfig> =
        network.map(SimConfig::carriers).unwrap_or_default();
    if cfg.carriers.is_empty() {
        if !embedded {
            refuse(
                "verifier.carriers",
                "with target.network the verifier's carriers need their SMPP addresses \
                 ([[verifier.carriers]] with name and smpp)",
            )?;
        }
        cfg.carriers = carriers
            .iter()
            .map(|c| verifier::config::CarrierConfig {
                name: c.name.clone(),
                ..verifier::config::CarrierConfig::default()
            })
            .collect();
    }
    let mut wiring = Vec::new();
    for (i, c) in cfg.carriers.iter_mut().enumerate() {
        if !c.smpp.is_empty() {
            wiring.push(None);
            continue;
        }
        let field = format!("verifier.carriers[{i}].smpp");
        if !embedded {
            refuse(
                field,
                "with target.network the verifier's carriers need their SMPP addresses",
            )?;
        }
        let Some(net) = carriers.iter().find(|n| n.name == c.name) else {
            return refuse(
                format!("verifier.carriers[{i}].name"),
                format!(
                    "no carrier named `{}` in the network to wire it to (carriers: {}); or give \
                     its `smpp` address",
                    c.name,
                    carriers
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        };
        if c.system_id.is_empty() {
            let (id, password) = net
                .accounts
                .iter()
                .next()
                .map(|(id, a)| (id.clone(), a.password.clone()))
                .unwrap_or((DEFAULT_ACCOUNT.0.into(), DEFAULT_ACCOUNT.1.into()));
            c.system_id = id;
            if c.password.is_empty() {
                c.password = password;
            }
        }
        // Placeholders for validation; the real addresses are known once the network runs.
        c.smpp = "127.0.0.1:1".into();
        if c.control.is_none() {
            c.control = Some("http://127.0.0.1:1".into());
        }
        if c.voice_carrier.is_none() {
            c.voice_carrier = Some(c.name.clone());
        }
        wiring.push(Some(net.name.clone()));
    }
    cfg.validate()
        .map_err(|(field, m)| (format!("verifier.{field}"), m))?;
    Ok(ServicePlan::Embedded {
        config: Box::new(cfg),
        wiring,
    })
}

/// Checks a generic adapter: templates with known placeholders, JSON pointers that are
/// pointers.
pub(crate) fn http_adapter(h: &HttpAdapterFile) -> Result<(), Refusal> {
    const KNOWN: [&str; 7] = [
        "to",
        "to_digits",
        "channel",
        "client_ip",
        "device_id",
        "id",
        "code",
    ];
    let template = |field: &str, t: &str| -> Result<(), Refusal> {
        let mut rest = t;
        while let Some(i) = rest.find("{{") {
            let after = &rest[i + 2..];
            let Some(j) = after.find("}}") else {
                return refuse(field, "a `{{` without its `}}`");
            };
            let name = after[..j].trim();
            if !KNOWN.contains(&name) {
                return refuse(
                    field,
                    format!(
                        "unknown placeholder `{{{{{name}}}}}` (known: {})",
                        KNOWN.join(", ")
                    ),
                );
            }
            rest = &after[j + 2..];
        }
        Ok(())
    };
    let pointer = |field: &str, p: &Option<String>| -> Result<(), Refusal> {
        match p {
            Some(p) if !(p.is_empty() || p.starts_with('/')) => refuse(
                field,
                format!("`{p}` is not a JSON pointer (e.g. `/status`)"),
            ),
            _ => Ok(()),
        }
    };
    let method = |field: &str, m: &str| -> Result<(), Refusal> {
        match m {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => Ok(()),
            _ => refuse(
                field,
                format!("`{m}` is not one of GET, POST, PUT, PATCH, DELETE"),
            ),
        }
    };
    method("target.service.start.method", &h.start.method)?;
    method("target.service.check.method", &h.check.method)?;
    template("target.service.start.path", &h.start.path)?;
    template("target.service.check.path", &h.check.path)?;
    if let Some(b) = &h.start.body {
        template("target.service.start.body", b)?;
    }
    if let Some(b) = &h.check.body {
        template("target.service.check.body", b)?;
    }
    for (k, v) in &h.headers {
        template(&format!("target.service.headers.{k}"), v)?;
    }
    if h.start.path.contains("{{id}}")
        || h.start
            .body
            .as_deref()
            .is_some_and(|b| b.contains("{{id}}"))
    {
        refuse(
            "target.service.start",
            "`{{id}}` comes from the start's answer: the start cannot use it",
        )?;
    }
    pointer("target.service.start.id", &h.start.id)?;
    pointer("target.service.start.reason", &h.start.reason)?;
    pointer("target.service.check.status", &h.check.status)?;
    let uses_id = h.check.path.contains("{{id}}")
        || h.check
            .body
            .as_deref()
            .is_some_and(|b| b.contains("{{id}}"));
    if uses_id && h.start.id.is_none() {
        refuse(
            "target.service.start.id",
            "the check uses `{{id}}`: say where the start's answer holds it (a JSON pointer)",
        )?;
    }
    if h.start.success.is_empty() {
        refuse(
            "target.service.start.success",
            "name at least one HTTP status",
        )?;
    }
    Ok(())
}

fn population(
    p: &PopulationFile,
    i: usize,
    network: Option<&SimConfig>,
    base: &Path,
    duration: Duration,
) -> Result<PopulationPlan, Built> {
    let f = |x: &str| format!("populations[{i}].{x}");
    let rate = |field: &str, r: f64| -> Result<(), Refusal> {
        if r.is_finite() && r >= 0.0 {
            Ok(())
        } else {
            refuse(
                f(field),
                format!("must be a rate of 0 or more per second, not {r}"),
            )
        }
    };
    match &p.arrival {
        ArrivalFile::Constant { rate: r } | ArrivalFile::Poisson { rate: r } => {
            rate("arrival.rate", *r)?;
        }
        ArrivalFile::Ramp { from, to, over, .. } => {
            rate("arrival.from", *from)?;
            rate("arrival.to", *to)?;
            if over.is_zero() {
                refuse(f("arrival.over"), "must be longer than zero")?;
            }
        }
        ArrivalFile::Diurnal {
            mean,
            amplitude,
            peak_hour,
            start_hour,
            ..
        } => {
            rate("arrival.mean", *mean)?;
            if !(amplitude.is_finite() && (0.0..=1.0).contains(amplitude)) {
                refuse(
                    f("arrival.amplitude"),
                    format!("a fraction of the mean between 0 and 1, not {amplitude}"),
                )?;
            }
            for (name, h) in [("peak_hour", peak_hour), ("start_hour", start_hour)] {
                if !(h.is_finite() && (0.0..24.0).contains(h)) {
                    refuse(
                        f(&format!("arrival.{name}")),
                        format!("an hour of the day, 0 to 24, not {h}"),
                    )?;
                }
            }
        }
        ArrivalFile::Spike {
            rate: r,
            peak,
            at,
            hold,
            ..
        } => {
            rate("arrival.rate", *r)?;
            rate("arrival.peak", *peak)?;
            if hold.is_zero() {
                refuse(f("arrival.hold"), "must be longer than zero")?;
            }
            if *at >= duration {
                refuse(f("arrival.at"), "the spike starts after the load ends")?;
            }
        }
    }
    let numbers = numbers(&p.numbers, i, network, base)?;
    let mut sum = 0.0;
    for (c, prob) in &p.channels {
        if !(prob.is_finite() && (0.0..=1.0).contains(prob)) {
            refuse(
                f(&format!("channels.{}", c.word())),
                "a probability is between 0 and 1",
            )?;
        }
        sum += prob;
    }
    if (sum - 1.0).abs() > 1e-9 {
        refuse(
            f("channels"),
            format!("probabilities must sum to 1, but they sum to {sum}"),
        )?;
    }
    let client_ips = match &p.client_ips {
        None => None,
        Some(IpPoolFile::Cidr(c)) => Some(cidr(c).map_err(|m| (f("client_ips"), m))?),
        Some(IpPoolFile::List(l)) => {
            if l.is_empty() {
                refuse(f("client_ips"), "the list is empty")?;
            }
            for (j, ip) in l.iter().enumerate() {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    refuse(
                        f(&format!("client_ips[{j}]")),
                        format!("`{ip}` is not an IP address"),
                    )?;
                }
            }
            Some(IpPool::List(Arc::new(l.clone())))
        }
    };
    if p.devices == Some(0) {
        refuse(f("devices"), "must be at least 1 (or left out)")?;
    }
    let b = &p.behaviour;
    b.read_time
        .validate()
        .map_err(|m| (f("behaviour.read_time"), m))?;
    b.retype_time
        .validate()
        .map_err(|m| (f("behaviour.retype_time"), m))?;
    for (name, v) in [("typo_rate", b.typo_rate), ("abandon_rate", b.abandon_rate)] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            refuse(
                f(&format!("behaviour.{name}")),
                format!("a probability is between 0 and 1, not {v}"),
            )?;
        }
    }
    if b.typo_rate >= 1.0 {
        refuse(
            f("behaviour.typo_rate"),
            "below 1, or no user could ever type the code right",
        )?;
    }
    if b.resend_after.is_some_and(|d| d.is_zero()) {
        refuse(f("behaviour.resend_after"), "must be longer than zero")?;
    }
    if b.give_up_after.is_some_and(|d| d.is_zero()) {
        refuse(f("behaviour.give_up_after"), "must be longer than zero")?;
    }
    persona(&p.persona, numbers.len()).map_err(|(field, m)| (f(&format!("persona.{field}")), m))?;
    Ok(PopulationPlan {
        name: p.name.clone(),
        arrival: p.arrival.clone(),
        numbers,
        channels: p.channels.iter().map(|(c, p)| (*c, *p)).collect(),
        client_ips,
        devices: p.devices,
        behaviour: p.behaviour.clone(),
        persona: p.persona.clone(),
    })
}

/// A persona's parameters, against the size of its number pool.
fn persona(p: &PersonaFile, pool: u64) -> Result<(), Refusal> {
    match p {
        PersonaFile::OtpBomber { victims } if *victims == 0 || *victims > pool => {
            refuse(
                "victims",
                format!("between 1 and the {pool} numbers of `numbers`, not {victims}"),
            )?;
        }
        PersonaFile::BruteForcer {
            guesses,
            code_digits,
            ..
        } => {
            if *guesses == 0 {
                refuse("guesses", "at least 1")?;
            }
            if !(4..=10).contains(code_digits) {
                refuse("code_digits", "codes have 4 to 10 digits")?;
            }
        }
        PersonaFile::NumberSetBot { set_size, bots } => {
            if *set_size == 0 {
                refuse("set_size", "at least 1")?;
            }
            if *bots == 0 {
                refuse("bots", "at least 1")?;
            }
            let need = bots.saturating_mul(*set_size as u64);
            if need > pool {
                refuse(
                    "bots",
                    format!(
                        "{bots} bots × {set_size} numbers need {need} distinct numbers; \
                         `numbers` holds {pool}"
                    ),
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// An IPv4 CIDR block.
fn cidr(s: &str) -> Result<IpPool, String> {
    let bad = || format!("`{s}` is not an IPv4 CIDR block such as 10.20.0.0/16");
    let (addr, bits) = s.split_once('/').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = addr.trim().parse().map_err(|_| bad())?;
    let bits: u32 = bits.trim().parse().map_err(|_| bad())?;
    if bits > 32 {
        return Err(bad());
    }
    let size = 1u64 << (32 - bits);
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok(IpPool::Cidr {
        base: u32::from(addr) & mask,
        size,
    })
}

fn numbers(
    n: &NumbersFile,
    i: usize,
    network: Option<&SimConfig>,
    base: &Path,
) -> Result<NumberPool, Built> {
    let f = |x: &str| format!("populations[{i}].numbers.{x}");
    let given = [
        n.range.is_some(),
        n.prefix.is_some(),
        n.list.is_some(),
        n.file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        refuse(
            format!("populations[{i}].numbers"),
            "give exactly one of `range`, `prefix`, `list`, `file`",
        )?;
    }
    let from_prefix = |field: String, p: &str| -> Result<NumberSource, Refusal> {
        let digits = smpp::number::parse_prefix(p).map_err(|e| (field.clone(), e.to_string()))?;
        if digits.is_empty() {
            return refuse(field, "an empty prefix: name some digits");
        }
        if !(digits.len() < n.digits && n.digits <= smpp::number::MAX_DIGITS) {
            return refuse(
                f("digits"),
                format!(
                    "numbers of {} digits cannot extend the {}-digit prefix {digits} (at most {})",
                    n.digits,
                    digits.len(),
                    smpp::number::MAX_DIGITS
                ),
            );
        }
        let free = (n.digits - digits.len()) as u32;
        if free > 12 {
            return refuse(f("digits"), "at most 12 digits after the prefix");
        }
        Ok(NumberSource::Prefix {
            prefix: digits
                .parse()
                .map_err(|_| (field, "not a number".to_string()))?,
            span: 10u64.pow(free),
        })
    };
    let list =
        |field: &dyn Fn(usize) -> String, items: &[String]| -> Result<NumberSource, Refusal> {
            let mut out = Vec::with_capacity(items.len());
            for (j, s) in items.iter().enumerate() {
                let d = smpp::number::parse_number(s).map_err(|e| (field(j), e.to_string()))?;
                out.push(
                    d.parse::<u64>()
                        .map_err(|_| (field(j), "not a number".to_string()))?,
                );
            }
            if out.is_empty() {
                return refuse(field(0), "no numbers");
            }
            Ok(NumberSource::List(Arc::new(out)))
        };
    let source = if let Some(p) = &n.prefix {
        from_prefix(f("prefix"), p)?
    } else if let Some(l) = &n.list {
        list(&|j| f(&format!("list[{j}]")), l)?
    } else if let Some(file) = &n.file {
        read_numbers(&base.join(file))?
    } else {
        let name = n.range.as_deref().unwrap_or_default();
        let Some(net) = network else {
            return Err(Built::Refused((
                f("range"),
                "a range is named from `[network]`'s plan, and the scenario has none".into(),
            )));
        };
        let Some(r) = net.ranges.iter().find(|r| r.name.as_deref() == Some(name)) else {
            let known: Vec<&str> = net
                .ranges
                .iter()
                .filter_map(|r| r.name.as_deref())
                .collect();
            return Err(Built::Refused((
                f("range"),
                format!(
                    "no range named `{name}` in [[network.ranges]] (named ranges: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )));
        };
        if let Some(p) = &r.prefix {
            from_prefix(f("range"), p)?
        } else if let Some(l) = &r.numbers {
            list(&|_| f("range"), l)?
        } else if let Some(file) = &r.file {
            // SimConfig::parse resolved it from the scenario's directory already.
            read_numbers(file)?
        } else {
            refuse(
                f("range"),
                format!("range `{name}` has no prefix, numbers or file"),
            )?
        }
    };
    Ok(NumberPool {
        source,
        pick: n.pick,
    })
}

/// A file of E.164 numbers, one a line, `#` comments.
fn read_numbers(path: &Path) -> Result<NumberSource, Built> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        Built::File(ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| {
            Built::File(ScenarioError::Invalid {
                path: path.to_path_buf(),
                line: n + 1,
                field: "number".into(),
                message,
            })
        };
        let d = smpp::number::parse_number(line).map_err(|e| bad(e.to_string()))?;
        out.push(d.parse::<u64>().map_err(|_| bad("not a number".into()))?);
    }
    if out.is_empty() {
        return Err(Built::File(ScenarioError::Invalid {
            path: path.to_path_buf(),
            line: 1,
            field: "number".into(),
            message: "no numbers in the file".into(),
        }));
    }
    Ok(NumberSource::List(Arc::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
duration = "10s"
[[populations]]
name = "genuine"
arrival = { model = "constant", rate = 5 }
numbers = { prefix = "4477009" }
"#;

    fn parse(text: &str) -> Result<Plan, String> {
        Plan::parse(Path::new("s.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_builtin_smoke_scenario_is_valid() {
        let plan = Plan::builtin_smoke().expect("valid");
        assert_eq!(plan.name, "smoke");
        assert_eq!(plan.network_target, NetworkTarget::Embedded);
        let ServicePlan::Embedded { config, wiring } = &plan.service else {
            panic!("embedded verifier");
        };
        assert_eq!(wiring, &[Some("alpha".to_string())]);
        assert_eq!(config.carriers[0].system_id, "verifier");
        assert_eq!(config.listen, "127.0.0.1:0");
        assert_eq!(plan.populations[0].numbers.len(), 100_000);
        assert_eq!(plan.thresholds.len(), 4);
    }

    #[test]
    fn a_minimal_file_runs_on_the_default_network() {
        let plan = parse(MINIMAL).unwrap();
        assert_eq!(plan.duration, Duration::from_secs(10));
        assert_eq!(plan.phases.len(), 1);
        let net = plan.network.expect("embedded network");
        assert_eq!(net.carriers["default"].accounts.len(), 1);
        assert_eq!(plan.populations[0].numbers.nth(7), 447_700_900_007);
    }

    #[test]
    fn refusals_name_file_line_and_field() {
        let cases: [(&str, String, &str); 16] = [
            (
                "unknown key",
                MINIMAL.replace("duration = \"10s\"", "duraton = \"10s\""),
                "s.toml:3:",
            ),
            (
                "a bad duration",
                MINIMAL.replace("\"10s\"", "\"soon\""),
                "s.toml:3:",
            ),
            (
                "a negative rate",
                MINIMAL.replace("rate = 5", "rate = -5"),
                "s.toml:6: populations[0].arrival.rate: must be a rate",
            ),
            (
                "two number sources",
                MINIMAL.replace(
                    "prefix = \"4477009\"",
                    "prefix = \"4477009\", list = [\"447700900001\"]",
                ),
                "s.toml:7: populations[0].numbers: give exactly one",
            ),
            (
                "probabilities",
                format!("{MINIMAL}channels = {{ sms = 0.5, voice = 0.4 }}\n"),
                "s.toml:8: populations[0].channels: probabilities must sum to 1",
            ),
            (
                "a range that is not there",
                MINIMAL.replace("prefix = \"4477009\"", "range = \"nowhere\""),
                "populations[0].numbers.range: no range named `nowhere`",
            ),
            (
                "a threshold",
                format!("{MINIMAL}[thresholds]\n\"delivery_time.p99\" = \"< 15\"\n"),
                "s.toml:9: thresholds.\"delivery_time.p99\": `15` needs a unit",
            ),
            (
                "an abuse threshold's population",
                format!(
                    "{MINIMAL}persona = {{ kind = \"human_farm\" }}\n[thresholds]\n\
                     \"persona.pumpers.refused_ratio\" = \"> 0.9\"\n"
                ),
                "s.toml:10: thresholds.\"persona.pumpers.refused_ratio\": `pumpers` is not a \
                 population of the scenario (genuine)",
            ),
            (
                "an abuse threshold without personas",
                format!("{MINIMAL}[thresholds]\n\"abuse.recall\" = \"> 0.9\"\n"),
                "s.toml:9: thresholds.\"abuse.recall\": `abuse.recall` is an abuse figure, but \
                 no population has a persona",
            ),
            (
                "an amount",
                format!("{MINIMAL}[thresholds]\n\"fraud.cost\" = \"< 10 EUR\"\n"),
                "s.toml:9: thresholds.\"fraud.cost\": `10 EUR` is not an amount",
            ),
            (
                "an abuse metric",
                format!("{MINIMAL}[thresholds]\n\"abuse.recal\" = \"> 0.9\"\n"),
                "s.toml:9: thresholds.\"abuse.recal\": unknown abuse metric",
            ),
            (
                "the verifier's own rule",
                format!("{MINIMAL}[verifier.codes]\nlength = 2\n"),
                "verifier.codes.length",
            ),
            (
                "carrier-sim's own rule",
                format!("{MINIMAL}[network.carriers.a.accounts.v]\npassword = \"far-too-long\"\n"),
                "s.toml:9: network.carriers.a.accounts.v.password: must be at most 8",
            ),
            (
                "a timeline carrier",
                format!(
                    "{MINIMAL}[[timeline]]\nat = \"1s\"\ncarrier = \"zeta\"\noutage = \"1s\"\n"
                ),
                "timeline[0].carrier: no carrier named `zeta`",
            ),
            (
                "phases against the duration",
                format!("{MINIMAL}[[phases]]\nname = \"a\"\nduration = \"5s\"\n"),
                "s.toml:3: duration: is 10s, but the phases add up to 5s",
            ),
            (
                "an external network without verifier addresses",
                format!("{MINIMAL}[target]\nnetwork = \"http://127.0.0.1:8775\"\n"),
                "verifier.carriers: with target.network",
            ),
        ];
        for (what, text, says) in cases {
            let err = parse(&text).expect_err(what);
            assert!(err.contains(says), "{what}: {err}");
        }
    }

    #[test]
    fn number_files_are_read_relative_to_the_scenario() {
        let dir = std::env::temp_dir().join(format!("loadgen-numbers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("n.txt"),
            "# test\n+447700900001\n447700900002 # two\n",
        )
        .unwrap();
        let text = MINIMAL.replace(
            "prefix = \"4477009\"",
            "file = \"n.txt\", pick = \"sequential\"",
        );
        let plan = Plan::parse(&dir.join("s.toml"), &text).unwrap();
        assert_eq!(plan.populations[0].numbers.len(), 2);
        assert_eq!(plan.populations[0].numbers.nth(1), 447_700_900_002);
        std::fs::write(dir.join("n.txt"), "447700900001\nnot-a-number\n").unwrap();
        let err = Plan::parse(&dir.join("s.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("n.txt:2: number:"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
