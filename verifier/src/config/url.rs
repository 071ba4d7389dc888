//! `--carrier 'smpp://SYSTEM_ID:PASSWORD@HOST:PORT?control=http://HOST:PORT&name=NAME'`: a
//! carrier given on the command line (`&control_token=TOKEN` when its control plane needs
//! one). The query is split by hand rather than by a URL parser, because its `control` value
//! is itself a URL that users write unescaped.

use super::types::CarrierConfig;

/// The carrier a `--carrier` value describes; the `index`-th one is named `carrier{index+1}`
/// unless `name=` says otherwise.
pub(crate) fn parse_carrier(spec: &str, index: usize) -> Result<CarrierConfig, String> {
    let rest = spec
        .strip_prefix("smpp://")
        .ok_or("expected smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?control=http://HOST:PORT]")?;
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (creds, addr) = main
        .rsplit_once('@')
        .ok_or("missing SYSTEM_ID:PASSWORD@ before the address")?;
    let (system_id, password) = creds.split_once(':').unwrap_or((creds, ""));
    let mut c = CarrierConfig {
        name: format!("carrier{}", index + 1),
        smpp: addr.to_string(),
        system_id: system_id.to_string(),
        password: password.to_string(),
        ..CarrierConfig::default()
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        match k {
            "control" => c.control = Some(v.trim_end_matches('/').to_string()),
            "control_token" => c.control_token = Some(v.to_string()),
            "name" => c.name = v.to_string(),
            "voice_carrier" => c.voice_carrier = Some(v.to_string()),
            "binds" => {
                c.binds = v
                    .parse()
                    .map_err(|_| format!("binds: `{v}` is not a number"))?
            }
            "window" => {
                c.window = v
                    .parse()
                    .map_err(|_| format!("window: `{v}` is not a number"))?
            }
            "source" => c.source = v.to_string(),
            other => {
                return Err(format!(
                    "unknown option `{other}` (control, control_token, name, voice_carrier, binds, window, source)"
                ));
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_credentials_address_and_options() {
        let c = parse_carrier(
            "smpp://v:pw@127.0.0.1:2775?control=http://127.0.0.1:8775/&binds=3&control_token=t0k",
            0,
        )
        .unwrap();
        assert_eq!(c.control_token.as_deref(), Some("t0k"));
        assert_eq!(
            (c.name.as_str(), c.system_id.as_str(), c.password.as_str()),
            ("carrier1", "v", "pw")
        );
        assert_eq!(c.smpp, "127.0.0.1:2775");
        assert_eq!(c.control.as_deref(), Some("http://127.0.0.1:8775"));
        assert_eq!(c.binds, 3);
        assert!(
            parse_carrier("smpp://v:pw@h:1?colour=red", 0)
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(parse_carrier("smpp://h:1", 0).is_err());
    }
}
