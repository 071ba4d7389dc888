//! The verifier's configuration: the TOML file `verifier serve --config` reads (types in
//! [`types`]), the flags that stand in for it (`--carrier smpp://...`, parsed in [`url`]), its
//! validation and its JSON Schema.
//!
//! Like carrier-sim's, the file is read with `deny_unknown_fields` and every error names the
//! file, the line and the field: syntax errors by toml's span, refused values by locating the
//! field's dotted path with carrier-sim's locator (`simulator::config::locate`), so both tools
//! point at lines the same way. Defaults live in the types' `Default` impls.
//!
//! Layer: the bottom of the service (uses only `support`); every other layer reads these types.

pub(crate) mod types;
pub(crate) mod url;

use std::path::{Path, PathBuf};

pub use types::*;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML for this schema.
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
        /// The file.
        path: PathBuf,
        /// 1-based line of the field (or of its table).
        line: usize,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A `--carrier` flag or other flag that cannot work.
    #[error("{0}")]
    Flag(String),
}

impl VerifierConfig {
    /// Loads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates TOML text; `path` names the file in errors, and relative paths in
    /// it (TLS certificate and key) are resolved from its directory.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut cfg: VerifierConfig = toml::from_str(text).map_err(|e| {
            let at = simulator::config::locate_toml_error(text, &e);
            ConfigError::Parse {
                path: path.to_path_buf(),
                line: at.line,
                column: at.column,
                message: at.message,
            }
        })?;
        if let Some(tls) = &mut cfg.tls {
            let base = path.parent().unwrap_or(Path::new("."));
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        cfg.validate()
            .map_err(|(field, message)| ConfigError::Invalid {
                line: simulator::config::locate(text, &field),
                path: path.to_path_buf(),
                field,
                message,
            })?;
        Ok(cfg)
    }

    /// The config the flags describe: `listen`, and carriers as `smpp://` URLs in failover
    /// order, with the default workflow and the guard in `enforce` mode.
    pub fn from_flags(listen: &str, carriers: &[String]) -> Result<Self, ConfigError> {
        let mut cfg = VerifierConfig {
            listen: listen.to_string(),
            ..VerifierConfig::default()
        };
        for (i, spec) in carriers.iter().enumerate() {
            let c = url::parse_carrier(spec, i)
                .map_err(|m| ConfigError::Flag(format!("--carrier {spec:?}: {m}")))?;
            cfg.carriers.push(c);
        }
        cfg.validate()
            .map_err(|(field, message)| ConfigError::Flag(format!("{field}: {message}")))?;
        Ok(cfg)
    }

    /// The workflow in force: the configured steps, or SMS on each carrier in order then voice
    /// through the first carrier that has a control plane.
    pub fn steps(&self) -> Vec<StepConfig> {
        if !self.workflow.is_empty() {
            return self.workflow.clone();
        }
        let mut steps: Vec<StepConfig> = self
            .carriers
            .iter()
            .map(|c| StepConfig {
                channel: Channel::Sms,
                carrier: c.name.clone(),
                timeout: default_step_timeout(),
            })
            .collect();
        if let Some(c) = self.carriers.iter().find(|c| c.control.is_some()) {
            steps.push(StepConfig {
                channel: Channel::Voice,
                carrier: c.name.clone(),
                timeout: default_step_timeout() * 2,
            });
        }
        steps
    }

    /// Checks values that parse but cannot work; returns the field path and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        let addr = |f: &str, a: &str| -> Result<(), (String, String)> {
            a.parse::<std::net::SocketAddr>().map(|_| ()).map_err(|_| {
                (
                    f.to_string(),
                    format!("`{a}` is not an address such as 127.0.0.1:8790"),
                )
            })
        };
        addr("listen", &self.listen)?;
        if let Some(t) = &self.tls {
            addr("tls.listen", &t.listen)?;
        }
        if self.carriers.is_empty() {
            return err(
                "carriers",
                "at least one carrier is needed (give --carrier smpp://ID:PASSWORD@HOST:PORT or [[carriers]])",
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.carriers.iter().enumerate() {
            let f = |x: &str| format!("carriers[{i}].{x}");
            if c.name.is_empty() {
                return Err((f("name"), "must not be empty".into()));
            }
            if !names.insert(c.name.as_str()) {
                return Err((
                    f("name"),
                    format!("`{}` is used by another carrier", c.name),
                ));
            }
            if c.smpp
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err((f("smpp"), format!("`{}` is not host:port", c.smpp)));
            }
            if c.system_id.is_empty() || c.system_id.len() > 15 {
                return Err((
                    f("system_id"),
                    "must be 1 to 15 characters (SMPP limit)".into(),
                ));
            }
            if c.password.len() > 8 {
                return Err((
                    f("password"),
                    "must be at most 8 characters (SMPP limit)".into(),
                ));
            }
            if c.source.is_empty() || c.source.len() > 20 {
                return Err((f("source"), "must be 1 to 20 characters".into()));
            }
            if let Some(u) = &c.control
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                return Err((f("control"), format!("`{u}` is not an http:// URL")));
            }
            if let Some(t) = &c.control_token {
                if c.control.is_none() {
                    return Err((
                        f("control_token"),
                        "given without `control`, the control plane it is for".into(),
                    ));
                }
                // It goes in an HTTP header: a value that cannot be one is refused here, not
                // at the first call.
                if t.is_empty()
                    || reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).is_err()
                {
                    return Err((
                        f("control_token"),
                        "must be non-empty, without control characters".into(),
                    ));
                }
            }
            if c.binds == 0 || c.binds > 64 {
                return Err((f("binds"), "must be 1 to 64".into()));
            }
            if c.window == 0 {
                return Err((f("window"), "must be at least 1".into()));
            }
            if c.response_timeout.is_zero() {
                return Err((f("response_timeout"), "must be longer than zero".into()));
            }
            if c.breaker.failures == 0 {
                return Err((f("breaker.failures"), "must be at least 1".into()));
            }
        }
        for (i, s) in self.steps().iter().enumerate() {
            let f = |x: &str| format!("workflow[{i}].{x}");
            let Some(c) = self.carriers.iter().find(|c| c.name == s.carrier) else {
                return Err((f("carrier"), format!("no carrier named `{}`", s.carrier)));
            };
            if s.channel == Channel::Voice && c.control.is_none() {
                return Err((
                    f("carrier"),
                    format!(
                        "voice needs the control plane of `{}`, which has no `control` URL",
                        c.name
                    ),
                ));
            }
            if s.timeout.is_zero() {
                return Err((f("timeout"), "must be longer than zero".into()));
            }
        }
        let c = &self.codes;
        if !(4..=10).contains(&c.length) {
            return err("codes.length", "must be 4 to 10 digits");
        }
        for (f, d) in [
            ("codes.expiry", c.expiry),
            ("codes.totp_step", c.totp_step),
            ("codes.send_window", c.send_window),
            ("limits.sweep_interval", self.limits.sweep_interval),
            ("lookup.timeout", self.lookup.timeout),
        ] {
            if d.is_zero() {
                return err(f, "must be longer than zero");
            }
        }
        if c.max_checks == 0 {
            return err("codes.max_checks", "must be at least 1");
        }
        if c.max_sends == 0 || c.max_sends > 64 {
            return err("codes.max_sends", "must be 1 to 64");
        }
        if self.limits.max_pending == 0 {
            return err("limits.max_pending", "must be at least 1");
        }
        if self.limits.send_history < 64 {
            return err("limits.send_history", "must be at least 64");
        }
        if self.limits.max_body_bytes < 256 {
            return err("limits.max_body_bytes", "must be at least 256");
        }
        let g = &self.guard;
        if g.table_capacity < 64 {
            return err("guard.table_capacity", "must be at least 64");
        }
        let p = &g.pumping;
        if p.buckets < 2 || p.buckets > 120 {
            return err("guard.pumping.buckets", "must be 2 to 120");
        }
        if p.window.is_zero() {
            return err("guard.pumping.window", "must be longer than zero");
        }
        if p.maturity >= p.window {
            return err("guard.pumping.maturity", "must be shorter than `window`");
        }
        for (f, x) in [
            ("guard.pumping.conversion_factor", p.conversion_factor),
            ("guard.pumping.min_conversion", p.min_conversion),
        ] {
            if !(0.0..=1.0).contains(&x) {
                return err(f, "must be between 0 and 1");
            }
        }
        if !(p.velocity_factor.is_finite() && p.velocity_factor >= 1.0) {
            return err("guard.pumping.velocity_factor", "must be at least 1");
        }
        if p.prefix_drop > 10 {
            return err("guard.pumping.prefix_drop", "must be at most 10");
        }
        for (i, cc) in g.allowed_countries.iter().enumerate() {
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err((
                    format!("guard.allowed_countries[{i}]"),
                    format!("`{cc}` is not an ISO 3166 alpha-2 code such as GB"),
                ));
            }
        }
        const LINE_TYPES: [&str; 10] = [
            "mobile",
            "landline",
            "fixedVoip",
            "nonFixedVoip",
            "tollFree",
            "premium",
            "sharedCost",
            "pager",
            "voicemail",
            "unknown",
        ];
        for (i, t) in g.line_type.refuse.iter().enumerate() {
            if !LINE_TYPES.contains(&t.as_str()) {
                return Err((
                    format!("guard.line_type.refuse[{i}]"),
                    format!(
                        "`{t}` is not a line type (one of {})",
                        LINE_TYPES.join(", ")
                    ),
                ));
            }
        }
        if g.heuristics.group_size < 2 {
            return err("guard.heuristics.group_size", "must be at least 2");
        }
        if g.velocity.ip_countries == 0 || g.velocity.ip_countries > 16 {
            return err("guard.velocity.ip_countries", "must be 1 to 16");
        }
        if let Some(a) = &g.attestation {
            if a.key.len() < 16 {
                return err("guard.attestation.key", "must be at least 16 characters");
            }
            if a.max_ttl.is_zero() {
                return err("guard.attestation.max_ttl", "must be longer than zero");
            }
        }
        for (i, k) in self.api.keys.iter().enumerate() {
            if k.key.len() < 16 {
                return Err((
                    format!("api.keys[{i}].key"),
                    "must be at least 16 characters".into(),
                ));
            }
            if k.account.is_empty() {
                return Err((format!("api.keys[{i}].account"), "must not be empty".into()));
            }
        }
        if let Some(t) = &self.api.twilio {
            if !(t.account_sid.len() == 34 && t.account_sid.starts_with("AC")) {
                return err(
                    "api.twilio.account_sid",
                    "must be AC and 32 characters, as Twilio's are",
                );
            }
            if t.auth_token.is_empty() {
                return err("api.twilio.auth_token", "must not be empty");
            }
        }
        Ok(())
    }
}

/// The JSON Schema of the config file.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(VerifierConfig)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VerifierConfig, String> {
        VerifierConfig::parse(Path::new("v.toml"), text).map_err(|e| e.to_string())
    }

    const CARRIER: &str = "[[carriers]]\nname = \"alpha\"\nsmpp = \"127.0.0.1:2775\"\nsystem_id = \"verifier\"\npassword = \"secret\"\n";

    #[test]
    fn defaults_are_the_providers() {
        let cfg = parse(CARRIER).unwrap();
        assert_eq!(cfg.codes.length, 6);
        assert_eq!(cfg.codes.expiry.as_secs(), 600);
        assert_eq!(cfg.codes.max_checks, 5);
        assert_eq!(cfg.codes.max_sends, 5);
        assert_eq!(cfg.guard.mode, GuardMode::Enforce);
        // One SMS step, no voice: the carrier has no control plane.
        assert_eq!(cfg.steps().len(), 1);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = parse(&format!("{CARRIER}binds = 0\n")).unwrap_err();
        assert!(
            e.starts_with("v.toml:6: carriers[0].binds: must be 1 to 64"),
            "{e}"
        );
        let e = parse(&format!("{CARRIER}[codes]\nlenght = 6\n")).unwrap_err();
        assert!(e.starts_with("v.toml:7:"), "{e}");
        assert!(e.contains("unknown field `lenght`"), "{e}");
        let e = parse(&format!("{CARRIER}[codes]\nlength = 12\n")).unwrap_err();
        assert!(
            e.starts_with("v.toml:7: codes.length: must be 4 to 10"),
            "{e}"
        );
        let e = parse(&format!(
            "{CARRIER}[[workflow]]\nchannel = \"voice\"\ncarrier = \"alpha\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("workflow[0].carrier: voice needs the control plane"),
            "{e}"
        );
        let e = parse(&format!("{CARRIER}[codes]\nexpiry = \"soon\"\n")).unwrap_err();
        assert!(e.starts_with("v.toml:7:"), "{e}");
        let e = parse("listen = \"nowhere\"\n").unwrap_err();
        assert!(e.starts_with("v.toml:1: listen:"), "{e}");
        let e = parse(&format!("{CARRIER}control_token = \"t0k\"\n")).unwrap_err();
        assert!(
            e.starts_with("v.toml:6: carriers[0].control_token: given without `control`"),
            "{e}"
        );
        let e = parse(&format!(
            "{CARRIER}control = \"http://127.0.0.1:8775\"\ncontrol_token = \"a\\nb\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("carriers[0].control_token: must be"), "{e}");
    }

    #[test]
    fn flags_build_the_default_workflow() {
        let cfg = VerifierConfig::from_flags(
            "127.0.0.1:0",
            &[
                "smpp://verifier:secret@127.0.0.1:2775?control=http://127.0.0.1:8775&name=alpha"
                    .into(),
                "smpp://verifier:secret@127.0.0.1:2776".into(),
            ],
        )
        .unwrap();
        let steps: Vec<(Channel, String)> = cfg
            .steps()
            .into_iter()
            .map(|s| (s.channel, s.carrier))
            .collect();
        assert_eq!(
            steps,
            [
                (Channel::Sms, "alpha".to_string()),
                (Channel::Sms, "carrier2".to_string()),
                (Channel::Voice, "alpha".to_string()),
            ]
        );
        let e = VerifierConfig::from_flags("127.0.0.1:0", &["http://x".into()]).unwrap_err();
        assert!(e.to_string().contains("smpp://"), "{e}");
    }
}
