//! The embedded default: carrier-sim and the reference verifier started in this process through
//! their front doors (`simulator::start`, `Verifier::start`), on loopback port 0, the verifier's
//! carriers wired to the network's SMPP listeners and control plane.
//!
//! The scenario's time scale divides the network's durations (carrier-sim does it itself) and
//! the verifier's scenario durations, which loadgen divides here: the workflow's step timeouts,
//! the code's expiry, send window and TOTP step, the breakers' cool-down, and the guard's
//! windows, TTLs and cool-downs. Protocol timers (SMPP response timeouts, lookup timeouts, the
//! sweep interval) are not scaled, as carrier-sim does not scale its own.

use std::time::Duration;

use simulator::{Binds, SimConfig};
use verifier::{Verifier, VerifierConfig};

/// Events the in-process feed may fall behind by before it is told it missed some: at ten
/// thousand verifications a second (about five events each) over a second of slack. Held only
/// while unread, so it costs memory only when the reader is late.
pub const FEED_CAPACITY: usize = 65_536;

/// Starts the network a plan describes. `fixed_ports`: listen where the file says (for an
/// external service that must reach the carriers), instead of loopback port 0.
pub async fn start_network(
    cfg: &SimConfig,
    fixed_ports: bool,
) -> Result<simulator::Running, String> {
    let mut cfg = cfg.clone();
    cfg.events.capacity = cfg.events.capacity.max(FEED_CAPACITY);
    // The verifier unbinds at the end; a straggling session need not hold the run for 5 s.
    for c in cfg.carriers.values_mut() {
        c.session.shutdown_grace = c.session.shutdown_grace.min(Duration::from_secs(1));
    }
    let binds = if fixed_ports {
        Binds::from_config("127.0.0.1:0")
    } else {
        Binds::loopback()
    };
    simulator::start(cfg, binds)
        .await
        .map_err(|e| format!("carrier-sim: {e:#}"))
}

/// The verifier's config with its scenario durations divided by `time_scale` (see the module
/// header for which).
pub fn scaled(cfg: &VerifierConfig, time_scale: f64) -> VerifierConfig {
    let mut c = cfg.clone();
    let s = |d: &mut Duration| *d = d.div_f64(time_scale);
    // The default workflow is written out so its timeouts can be scaled too.
    c.workflow = cfg.steps();
    for step in &mut c.workflow {
        s(&mut step.timeout);
    }
    s(&mut c.codes.expiry);
    s(&mut c.codes.send_window);
    s(&mut c.codes.totp_step);
    for carrier in &mut c.carriers {
        s(&mut carrier.breaker.cool_down);
    }
    let g = &mut c.guard;
    s(&mut g.blocklist.open_sms_ttl);
    s(&mut g.blocklist.heuristic_ttl);
    s(&mut g.heuristics.repeat_window);
    s(&mut g.heuristics.group_window);
    s(&mut g.pumping.window);
    s(&mut g.pumping.maturity);
    s(&mut g.pumping.cool_down);
    s(&mut g.velocity.number_window);
    s(&mut g.velocity.ip_window);
    s(&mut g.velocity.ip_countries_window);
    // Expired verifications are swept this often: no less often than a tenth of their life.
    c.limits.sweep_interval = c
        .limits
        .sweep_interval
        .min(c.codes.expiry / 10)
        .max(Duration::from_millis(10));
    c
}

/// Starts the verifier: `wiring[i]` names the embedded carrier whose SMPP address and control
/// plane carrier `i` is given.
pub async fn start_verifier(
    cfg: &VerifierConfig,
    wiring: &[Option<String>],
    network: Option<&simulator::Running>,
    time_scale: f64,
) -> Result<verifier::Running, String> {
    let mut cfg = scaled(cfg, time_scale);
    for (c, wire) in cfg.carriers.iter_mut().zip(wiring) {
        let Some(name) = wire else { continue };
        let net =
            network.ok_or("the verifier's carriers are wired to a network that is not embedded")?;
        let smpp = net
            .smpp_addr(name)
            .ok_or_else(|| format!("carrier `{name}` has no SMPP listener"))?;
        c.smpp = smpp.to_string();
        if let Some(http) = net.http_addr() {
            c.control = Some(format!("http://{http}"));
        }
    }
    Verifier::start(cfg)
        .await
        .map_err(|e| format!("verifier: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_durations_are_scaled_protocol_timers_are_not() {
        let mut cfg = VerifierConfig::default();
        cfg.carriers.push(verifier::config::CarrierConfig {
            name: "a".into(),
            control: Some("http://x".into()),
            ..Default::default()
        });
        let s = scaled(&cfg, 10.0);
        assert_eq!(s.codes.expiry, cfg.codes.expiry / 10);
        assert_eq!(s.workflow.len(), 2, "sms on a, then voice");
        assert_eq!(s.workflow[0].timeout, Duration::from_secs(3));
        assert_eq!(s.guard.velocity.ip_window, Duration::from_secs(6));
        assert_eq!(
            s.carriers[0].response_timeout,
            cfg.carriers[0].response_timeout
        );
        assert_eq!(s.lookup.timeout, cfg.lookup.timeout);
    }
}
