//! `loadgen smpp`: an open-loop SMPP benchmark of any SMSC.
//!
//! [`run`] binds B slots (transceivers, or transmitter + receiver pairs), waits until they are
//! bound, fixes time zero, and lets every slot send on the shared schedule
//! ([`schedule::Schedule`]) within its window. Latency is measured from each message's intended
//! send time, so a slow server shows as latency and as sends behind schedule instead of quietly
//! lowering the rate. After the sending phase it drains responses (up to `--timeout`), waits for
//! receipts (up to `--receipt-wait`), unbinds, and builds a [`report::Report`] whose accounting
//! identities are checked.
//!
//! Modules: [`schedule`] (intended times), [`sender`] (the sending thread and the connection
//! state it shares), [`rxtime`] (when responses arrived), [`txtime`] (when requests left),
//! [`wire`] (pre-encoded PDUs and the reads the hot path needs), [`session`] (one bind slot),
//! [`receipts`] (the shared receipt book), [`stats`] (counters and histograms, by second),
//! [`report`] (JSON and summary).

pub mod receipts;
pub mod report;
pub mod rxtime;
pub mod schedule;
pub mod sender;
pub mod session;
pub mod shared;
pub mod stats;
pub mod txtime;
pub mod wire;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use indicatif::{ProgressBar, ProgressStyle};
use smpp::number::{self, MAX_DIGITS};
use smpp::text::Encoding;
use tokio::sync::watch;

use crate::proc::{CpuMeter, peak_rss_bytes};
use crate::threshold::Threshold;
use report::{Cpu, Identity, Percentiles, Receipts, Report, Second};
use schedule::{RateProfile, Schedule};
use sender::SendPlan;
use session::{BindSettings, Connector, Phase, Role};
use shared::{Dests, SendRules, Shared};
use stats::{NO_SEND, SECOND_NS, Seconds, Stats};
use wire::{SubmitSpec, SubmitTemplate};

/// How long after the duration messages already due may still be sent, when sends fell behind
/// (a full window, a slow reconnect). Sends in the grace are late and counted as such, but not
/// in the achieved rate; nothing new is scheduled.
pub const SEND_GRACE: Duration = Duration::from_millis(100);

/// How long after a second ends the reporter closes it (its timeline entry, interval-log
/// histogram and progress line): producers hand over every
/// [`stats::PUBLISH_EVERY`], so by then they all have. Anything handed over later still goes
/// into the totals and the second's counts.
const CLOSE_AFTER: Duration = Duration::from_millis(500);

/// Default `--spin-budget`: the share of a core the sending thread may spend spinning.
pub const DEFAULT_SPIN_BUDGET: f64 = 0.25;

/// How binds are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindType {
    /// One bind_transceiver per slot.
    Trx,
    /// A bind_transmitter and a bind_receiver per slot.
    TxRx,
    /// Transmitters only (receipts stay with the SMSC).
    Tx,
}

impl BindType {
    fn name(self) -> &'static str {
        match self {
            BindType::Trx => "trx",
            BindType::TxRx => "tx+rx",
            BindType::Tx => "tx",
        }
    }
}

/// Message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// This text.
    Literal(String),
    /// A generated text of this many characters.
    Length(usize),
}

/// Where destination numbers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestSpec {
    /// Digits, followed by a counter (numbers are 12 digits long, at least 3 of them counter,
    /// so a prefix has at most 12 digits and no number exceeds E.164's 15).
    Prefix(String),
    /// One number per line.
    File(PathBuf),
}

/// How progress is shown while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines on stderr every second.
    Plain,
    /// Nothing.
    Off,
}

/// TLS settings.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM file with the certificate(s) to trust.
    pub ca: PathBuf,
    /// Name the server certificate must carry (default: the target's host).
    pub server_name: Option<String>,
}

/// Everything `loadgen smpp` is asked to do.
#[derive(Debug, Clone)]
pub struct SmppOptions {
    /// host:port.
    pub target: String,
    /// TLS, when wanted.
    pub tls: Option<TlsOptions>,
    /// Account.
    pub system_id: String,
    /// Account.
    pub password: String,
    /// The rate profile.
    pub rate: RateProfile,
    /// Sending phase length.
    pub duration: Duration,
    /// Bind slots.
    pub binds: usize,
    /// Bind kind.
    pub bind_type: BindType,
    /// submit_sm window per slot.
    pub window: usize,
    /// Ask for a final receipt and measure it.
    pub registered_delivery: bool,
    /// Destinations.
    pub dest: DestSpec,
    /// source_addr.
    pub source: String,
    /// Message text.
    pub text: Text,
    /// Its encoding.
    pub encoding: Encoding,
    /// Response timeout.
    pub timeout: Duration,
    /// How long to wait for outstanding receipts after the drain.
    pub receipt_wait: Duration,
    /// Sends later than this are behind schedule.
    pub behind_tolerance: Duration,
    /// Most receipts held at once while waiting for their submit_sm_resp.
    pub max_early_receipts: usize,
    /// Most of a core the sending thread may spend spinning to hit due times (0: never spin).
    pub spin_budget: f64,
    /// Send at most once per this interval, everything due at once (zero: each message at its
    /// own time).
    pub coalesce: Duration,
    /// Interval log path.
    pub hdr_log: Option<PathBuf>,
    /// Thresholds to judge.
    pub thresholds: Vec<Threshold>,
    /// Progress display.
    pub progress: ProgressMode,
    /// The server's pid, to report its CPU share.
    pub server_pid: Option<u32>,
}

impl SmppOptions {
    /// Options with the defaults of the command line for everything but the target.
    pub fn new(target: impl Into<String>, system_id: &str, password: &str) -> Self {
        Self {
            target: target.into(),
            tls: None,
            system_id: system_id.into(),
            password: password.into(),
            rate: RateProfile::Constant(1000.0),
            duration: Duration::from_secs(10),
            binds: 1,
            bind_type: BindType::Trx,
            window: 100,
            registered_delivery: false,
            dest: DestSpec::Prefix("4477009".into()),
            source: "LOADGEN".into(),
            text: Text::Literal("Your code is 123456".into()),
            encoding: Encoding::Gsm7,
            timeout: Duration::from_secs(10),
            receipt_wait: Duration::from_secs(10),
            behind_tolerance: Duration::from_millis(2),
            max_early_receipts: receipts::DEFAULT_EARLY_CAP,
            spin_budget: DEFAULT_SPIN_BUDGET,
            coalesce: Duration::ZERO,
            hdr_log: None,
            thresholds: Vec::new(),
            progress: ProgressMode::Off,
            server_pid: None,
        }
    }
}

/// Why a run could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SmppError {
    /// Options that cannot work together.
    #[error("{0}")]
    Invalid(String),
    /// A file the options name.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// TLS setup.
    #[error("TLS: {0}")]
    Tls(String),
    /// No bind could be made, or the SMSC refused it.
    #[error("{0}")]
    Bind(String),
}

fn invalid(msg: impl Into<String>) -> SmppError {
    SmppError::Invalid(msg.into())
}

/// Digits of the counter appended to a `--dest` prefix, at least; a prefix may therefore have
/// at most `MAX_DIGITS - MIN_COUNTER_DIGITS` digits.
const MIN_COUNTER_DIGITS: usize = 3;

/// Length of a generated destination when the prefix is short enough (a typical mobile number).
const GENERATED_DIGITS: usize = 12;

fn build_dests(spec: &DestSpec) -> Result<Dests, SmppError> {
    match spec {
        DestSpec::Prefix(p) => {
            let max_prefix = MAX_DIGITS - MIN_COUNTER_DIGITS;
            let prefix = number::parse_prefix(p)
                .map_err(|e| invalid(format!("--dest {p}: {e} (or name an existing file)")))?;
            if prefix.len() > max_prefix {
                return Err(invalid(format!(
                    "--dest {p}: a prefix must be at most {max_prefix} digits, so that numbers \
                     with a {MIN_COUNTER_DIGITS}-digit counter stay within E.164's {MAX_DIGITS} \
                     (or name an existing file)"
                )));
            }
            let digits = GENERATED_DIGITS
                .saturating_sub(prefix.len())
                .max(MIN_COUNTER_DIGITS);
            Ok(Dests::Prefix {
                prefix: prefix.as_bytes().to_vec(),
                digits,
            })
        }
        DestSpec::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| SmppError::File {
                path: path.clone(),
                source,
            })?;
            let mut list = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let digits = number::parse_number(line)
                    .map_err(|e| invalid(format!("{}:{}: {e}", path.display(), n + 1)))?;
                list.push(digits.as_bytes().to_vec());
            }
            if list.is_empty() {
                return Err(invalid(format!("{}: no numbers", path.display())));
            }
            Ok(Dests::List(list))
        }
    }
}

fn build_payload(text: &Text, encoding: Encoding) -> Result<Vec<u8>, SmppError> {
    let text = match text {
        Text::Literal(t) => t.clone(),
        Text::Length(n) => {
            // A recognisable OTP-like text repeated to length; every character is in GSM 03.38,
            // Latin-1 and UCS-2 alike.
            "Your verification code is 481516. "
                .chars()
                .cycle()
                .take(*n)
                .collect()
        }
    };
    let bytes = smpp::text::encode(&text, encoding)
        .map_err(|e| invalid(format!("--text cannot be encoded as {encoding}: {e}")))?;
    if bytes.len() > 65_000 {
        return Err(invalid("--text is longer than an SMPP PDU can carry"));
    }
    Ok(bytes)
}

fn build_connector(target: &str, tls: &Option<TlsOptions>) -> Result<Connector, SmppError> {
    let Some(tls) = tls else {
        return Ok(Connector::Tcp(target.to_string()));
    };
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<rustls_pki_types::CertificateDer<'static>> =
        rustls_pki_types::CertificateDer::pem_file_iter(&tls.ca)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| SmppError::Tls(format!("{}: {e}", tls.ca.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| SmppError::Tls(format!("{}: {e}", tls.ca.display())))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SmppError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let host = match &tls.server_name {
        Some(n) => n.clone(),
        None => target
            .rsplit_once(':')
            .map_or(target, |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_string(),
    };
    let server_name = rustls_pki_types::ServerName::try_from(host.clone())
        .map_err(|e| SmppError::Tls(format!("server name `{host}`: {e}")))?;
    Ok(Connector::Tls {
        addr: target.to_string(),
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        server_name,
    })
}

/// Gathers the producers' seconds, closes each one [`CLOSE_AFTER`] after it ends (timeline
/// entry, interval-log histograms, progress line), and keeps the run's totals.
struct Collector {
    shared: Arc<Shared>,
    /// Seconds handed over and not closed yet.
    open: Seconds,
    /// Seconds before this one are closed.
    closed: u64,
    totals: Stats,
    timeline: Vec<Second>,
    /// The run's duration, seconds (a timeline rate is per second of the run).
    duration: f64,
    hdr: Option<(
        std::io::BufWriter<std::fs::File>,
        V2DeflateSerializer,
        PathBuf,
    )>,
    bar: Option<ProgressBar>,
    plain: bool,
}

impl Collector {
    fn gather(&mut self) {
        for slot in self.shared.slots.iter().chain([&self.shared.sender_slot]) {
            let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
            stats::merge_seconds(&mut self.open, &mut s);
        }
    }

    /// Closes the seconds that ended at least [`CLOSE_AFTER`] before `now` (all of them when
    /// `last`).
    fn collect(&mut self, now: Instant, last: bool) -> Result<(), SmppError> {
        self.gather();
        let Some(start) = self.shared.start.get().copied() else {
            self.open.clear();
            return Ok(());
        };
        // Handed over after their second was closed: into the totals and the second's counts
        // (its p99 and interval-log entry are already written).
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= self.closed {
                break;
            }
            let (sec, st) = entry.remove_entry();
            if let Some(row) = self.timeline.get_mut(sec as usize) {
                row.amend(&st);
            }
            self.totals.merge(&st);
        }
        let until = if last {
            self.open
                .last_key_value()
                .map_or(self.closed, |(s, _)| s + 1)
        } else {
            let t = now
                .saturating_duration_since(start)
                .saturating_sub(CLOSE_AFTER);
            (t.as_nanos() as u64) / SECOND_NS
        };
        while self.closed < until {
            let sec = self.closed;
            let st = self.open.remove(&sec);
            self.close(sec, st.as_ref())?;
            if let Some(st) = st {
                self.totals.merge(&st);
            }
            self.closed += 1;
        }
        self.progress();
        Ok(())
    }

    fn close(&mut self, sec: u64, st: Option<&Stats>) -> Result<(), SmppError> {
        // The part of this second that lies within the run (a whole second after it).
        let within = (self.duration - sec as f64).clamp(0.0, 1.0);
        let per = if within > 0.0 { within } else { 1.0 };
        self.timeline.push(match st {
            Some(st) => Second::of(sec, st, per),
            None => Second::empty(sec),
        });
        if let (Some((file, ser, path)), Some(st)) = (&mut self.hdr, st) {
            let io = |e: String| SmppError::File {
                path: path.clone(),
                source: std::io::Error::other(e),
            };
            for (tag, h) in [("submit_resp", &st.submit_resp), ("receipt", &st.receipt)] {
                if h.is_empty() {
                    continue;
                }
                IntervalLogWriterBuilder::new()
                    .begin_log_with(&mut *file, ser)
                    .map_err(|e| io(e.to_string()))?
                    .write_histogram(
                        h,
                        Duration::from_secs(sec),
                        Duration::from_secs(1),
                        Tag::new(tag),
                    )
                    .map_err(|e| io(format!("{e:?}")))?;
            }
        }
        Ok(())
    }

    fn progress(&self) {
        if self.bar.is_none() && !self.plain {
            return;
        }
        // Closed totals plus what is handed over and still open: the latest counts.
        let mut submitted = self.totals.submitted;
        let mut errors = self.totals.rejected + self.totals.timed_out;
        let mut receipts = self.totals.receipts_matched;
        for st in self.open.values() {
            submitted += st.submitted;
            errors += st.rejected + st.timed_out;
            receipts += st.receipts_matched;
        }
        let p99 = self.totals.submit_resp.value_at_quantile(0.99);
        let line = format!(
            "rate {:>7.0}/s  sent {}  errors {}  in flight {}  p99 {}  receipts {}",
            self.timeline.last().map_or(0.0, |s| s.rate),
            submitted,
            errors,
            self.shared.in_flight.load(Ordering::Relaxed),
            fmt_us(p99),
            receipts
        );
        if let Some(bar) = &self.bar {
            bar.set_position(submitted);
            bar.set_message(line);
        } else if self.plain {
            let t = self.timeline.len();
            eprintln!("[{t:>4}s] {line}");
        }
    }
}

/// Stops the sending thread when dropped, so no return path leaves it running.
struct SenderGuard {
    shared: Arc<Shared>,
    handle: Option<std::thread::JoinHandle<sender::SenderCpu>>,
}

impl SenderGuard {
    /// Stops the thread and returns its CPU use over the sending phase.
    async fn stop(mut self) -> sender::SenderCpu {
        self.shared.stop_sender.store(true, Ordering::Release);
        self.shared.wake_sender();
        let Some(handle) = self.handle.take() else {
            return sender::SenderCpu::default();
        };
        tokio::task::spawn_blocking(move || handle.join().unwrap_or_default())
            .await
            .unwrap_or_default()
    }
}

impl Drop for SenderGuard {
    fn drop(&mut self) {
        self.shared.stop_sender.store(true, Ordering::Release);
        self.shared.wake_sender();
    }
}

fn fmt_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{us}µs")
    }
}

/// Runs the benchmark and returns its report (thresholds judged, identity checked).
pub async fn run(opts: SmppOptions) -> Result<Report, SmppError> {
    if opts.binds == 0 {
        return Err(invalid("--binds must be at least 1"));
    }
    if opts.window == 0 {
        return Err(invalid("--window must be at least 1"));
    }
    if opts.duration.is_zero() {
        return Err(invalid("--duration must be longer than zero"));
    }
    match opts.rate {
        RateProfile::Constant(r) if !(r > 0.0 && r.is_finite()) => {
            return Err(invalid("--rate must be a positive number"));
        }
        RateProfile::Ramp { from, to, .. }
            if !(from >= 0.0 && to > 0.0 && from.is_finite() && to.is_finite()) =>
        {
            return Err(invalid(
                "--ramp FROM:TO:OVER needs FROM >= 0 and TO > 0 messages per second",
            ));
        }
        _ => {}
    }
    if !opts.registered_delivery
        && let Some(t) = opts
            .thresholds
            .iter()
            .find(|t| t.metric.to_string().starts_with("receipt."))
    {
        return Err(invalid(format!(
            "threshold `{}` needs --registered-delivery (no receipts are asked for)",
            t.expr
        )));
    }
    let payload = build_payload(&opts.text, opts.encoding)?;
    let template = Arc::new(SubmitTemplate::new(&SubmitSpec {
        source: &opts.source,
        registered_delivery: u8::from(opts.registered_delivery),
        data_coding: opts.encoding.data_coding(),
        payload: &payload,
    }));
    if opts.source.is_empty() || opts.source.len() > 20 || !opts.source.is_ascii() {
        return Err(invalid("--source must be 1 to 20 ASCII characters"));
    }
    let dests = Arc::new(build_dests(&opts.dest)?);
    let connector = build_connector(&opts.target, &opts.tls)?;
    let schedule = Schedule::new(opts.rate, opts.duration);
    let roles: Vec<Role> = (0..opts.binds)
        .flat_map(|_| match opts.bind_type {
            BindType::Trx => vec![Role::Transceiver],
            BindType::TxRx => vec![Role::Transmitter, Role::Receiver],
            BindType::Tx => vec![Role::Transmitter],
        })
        .collect();
    if !(opts.spin_budget >= 0.0 && opts.spin_budget <= 1.0) {
        return Err(invalid(
            "--spin-budget must be between 0 and 1 (a share of one core)",
        ));
    }
    let shared = Arc::new(Shared::new(
        schedule,
        (opts.duration + SEND_GRACE).as_nanos() as u64,
        SendRules {
            tolerance_ns: opts.behind_tolerance.as_nanos() as u64,
            run_end_ns: opts.duration.as_nanos() as u64,
        },
        opts.registered_delivery,
        receipts::ReceiptBook::with_early_cap(opts.max_early_receipts),
        roles.len(),
    ));
    let settings = BindSettings {
        connector,
        system_id: opts.system_id.clone(),
        password: opts.password.clone(),
        window: opts.window,
        response_timeout: opts.timeout,
    };
    let plan = SendPlan {
        template,
        dests,
        spin_budget: opts.spin_budget,
        coalesce: opts.coalesce,
    };
    let mut hdr = match &opts.hdr_log {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| SmppError::File {
                path: path.clone(),
                source,
            })?;
            Some((
                std::io::BufWriter::new(file),
                V2DeflateSerializer::new(),
                path.clone(),
            ))
        }
        None => None,
    };
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let mut tasks = Vec::new();
    for (slot, role) in roles.iter().enumerate() {
        tasks.push(tokio::spawn(session::run_slot(
            slot,
            *role,
            settings.clone(),
            Arc::clone(&shared),
            phase_rx.clone(),
        )));
    }

    // Time zero is fixed once every slot is bound, so the first messages are not born late.
    let bind_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if fatal(&shared).is_some() {
            break;
        }
        if shared.bound.load(Ordering::Relaxed) == roles.len() || Instant::now() >= bind_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Some(msg) = fatal(&shared) {
        let _ = phase_tx.send(Phase::Stop);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        return Err(SmppError::Bind(msg));
    }
    if shared.bound.load(Ordering::Relaxed) == 0 {
        let _ = phase_tx.send(Phase::Stop);
        return Err(SmppError::Bind(format!(
            "no bind to {} succeeded within 10 s",
            opts.target
        )));
    }

    let bar = match opts.progress {
        ProgressMode::Auto if std::io::stderr().is_terminal() => {
            let bar = ProgressBar::new(schedule.total());
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .map_err(|e| invalid(e.to_string()))?
                    .progress_chars("=> "),
            );
            Some(bar)
        }
        _ => None,
    };
    let start = Instant::now();
    let _ = shared.start.set(start);
    if let Some((file, ser, path)) = &mut hdr {
        // Interval timestamps are seconds since BaseTime, the run's time zero.
        IntervalLogWriterBuilder::new()
            .add_comment("loadgen smpp: tags submit_resp and receipt, values in microseconds")
            .add_comment(&format!("target {}", opts.target))
            .with_start_time(SystemTime::now())
            .with_base_time(SystemTime::now())
            .begin_log_with(file, ser)
            .map_err(|source| SmppError::File {
                path: path.clone(),
                source,
            })?;
    }
    let own_cpu = CpuMeter::start(None);
    let server_cpu = opts.server_pid.map(|p| CpuMeter::start(Some(p)));
    let mut collector = Collector {
        shared: Arc::clone(&shared),
        open: Seconds::new(),
        closed: 0,
        totals: Stats::default(),
        timeline: Vec::new(),
        duration: opts.duration.as_secs_f64(),
        hdr,
        bar,
        plain: opts.progress == ProgressMode::Auto || opts.progress == ProgressMode::Plain,
    };
    let sender = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("loadgen-send".into())
            .spawn(move || sender::run(shared, plan))
            .map_err(|e| invalid(format!("cannot start the sending thread: {e}")))?
    };
    let _ = shared.sender.set(sender.thread().clone());
    let sender = SenderGuard {
        shared: Arc::clone(&shared),
        handle: Some(sender),
    };
    let _ = phase_tx.send(Phase::Run);
    let send_end = start + opts.duration + SEND_GRACE;
    let mut errors = Vec::new();

    // Sending phase. The reporter wakes half a second into each second, when the second
    // before it can be closed.
    let mut next_collect = start + Duration::from_secs(1) + CLOSE_AFTER;
    while Instant::now() < send_end && fatal(&shared).is_none() {
        let wake = next_collect.min(send_end);
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
        if Instant::now() >= next_collect {
            collector.collect(Instant::now(), false)?;
            next_collect += Duration::from_secs(1);
        }
    }
    let loadgen_cores = own_cpu.cores().unwrap_or(0.0);
    let server_cores = server_cpu.and_then(|m| m.cores());
    let in_flight_at_end = shared.in_flight.load(Ordering::Relaxed).max(0) as u64;

    // Drain responses, then wait for receipts.
    let drain_end = Instant::now() + opts.timeout;
    while shared.in_flight.load(Ordering::Relaxed) > 0
        && Instant::now() < drain_end
        && fatal(&shared).is_none()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if Instant::now() >= next_collect {
            collector.collect(Instant::now(), false)?;
            next_collect += Duration::from_secs(1);
        }
    }
    if opts.registered_delivery && opts.bind_type != BindType::Tx {
        let receipt_end = Instant::now() + opts.receipt_wait;
        while Instant::now() < receipt_end && fatal(&shared).is_none() {
            if shared.book.counts().awaiting == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if Instant::now() >= next_collect {
                collector.collect(Instant::now(), false)?;
                next_collect += Duration::from_secs(1);
            }
        }
    }
    let _ = phase_tx.send(Phase::Stop);
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            errors.push("a bind slot did not stop within 5 s".to_string());
        }
    }
    let sender_cpu = sender.stop().await;
    collector.collect(Instant::now(), true)?;
    if let Some(bar) = &collector.bar {
        bar.finish_and_clear();
    }
    if let Some((file, _, path)) = &mut collector.hdr {
        file.flush().map_err(|source| SmppError::File {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(msg) = fatal(&shared) {
        errors.push(msg);
    }

    let t = &collector.totals;
    let book = shared.book.counts();
    let elapsed = opts.duration.as_secs_f64();
    // The real send window: from the first write to the last one made within the run. A
    // rate is intervals over time, so n sends give n - 1 of them: a run sent exactly on
    // schedule reports exactly its target. Sends in the grace after the run are late sends
    // of its messages, not extra rate.
    let send_window_s = if t.sent_in_run >= 2 && t.first_send_ns != NO_SEND {
        t.last_send_in_run_ns.saturating_sub(t.first_send_ns) as f64 / 1e9
    } else {
        0.0
    };
    let achieved_rate = if send_window_s > 0.0 {
        (t.sent_in_run - 1) as f64 / send_window_s
    } else {
        0.0
    };
    let unsent = schedule.total().saturating_sub(t.submitted);
    let mut report = Report {
        schema: report::SCHEMA_VERSION,
        target: opts.target.clone(),
        binds: opts.binds,
        bind_type: opts.bind_type.name().into(),
        window: opts.window,
        registered_delivery: opts.registered_delivery,
        duration_s: elapsed,
        target_rate: schedule.mean_rate(),
        scheduled: schedule.total(),
        submitted: t.submitted,
        unsent,
        accepted: t.accepted,
        rejected: t.rejected,
        timed_out: t.timed_out,
        lost_on_disconnect: t.lost_on_disconnect,
        late_responses: t.late_responses,
        in_flight_at_end,
        achieved_rate,
        sent_in_run: t.sent_in_run,
        send_window_s,
        // With fewer than two sends in the run there is no interval to rate; the other two
        // conditions then say all there is.
        rate_met: unsent == 0
            && t.behind_schedule == 0
            && (t.sent_in_run < 2 || achieved_rate >= 0.99 * schedule.mean_rate()),
        behind_schedule: t.behind_schedule,
        behind_schedule_tolerance_us: opts.behind_tolerance.as_micros() as u64,
        error_rate: if t.submitted > 0 {
            (t.rejected + t.timed_out) as f64 / t.submitted as f64
        } else {
            0.0
        },
        submit_resp_us: Percentiles::of(&t.submit_resp),
        submit_service_us: Percentiles::of(&t.submit_service),
        submit_service_kernel_stamped: t.service_from_kernel,
        receipt_us: Percentiles::of(&t.receipt),
        send_lag_us: Percentiles::of(&t.send_lag),
        receipts: Receipts {
            expected: t.receipts_expected,
            matched: t.receipts_matched,
            missing: book.awaiting,
            duplicated: t.receipts_duplicated,
            unmatched: book.early,
            early: t.receipts_early,
            intermediate: t.intermediate_notifications,
            early_dropped: book.early_dropped,
        },
        statuses: report::statuses(&t.statuses),
        disconnects: t.disconnects,
        disconnect_reasons: shared
            .disconnect_reasons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        reconnects: t.reconnects,
        accepted_without_id: t.accepted_without_id,
        duplicate_message_ids: t.duplicate_message_ids,
        mo_messages: t.mo_messages,
        malformed_pdus: t.malformed_pdus,
        unexpected_pdus: t.unexpected_responses,
        identity: Identity {
            submitted_holds: false,
            receipts_holds: false,
            holds: false,
            text: Vec::new(),
        },
        cpu: Cpu {
            loadgen_cores,
            sender_cores: sender_cpu.cores,
            sender_spin_cores: sender_cpu.spin_cores,
            sender_margin_us: sender_cpu.margin_us,
            server_cores,
            machine_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        peak_rss_bytes: peak_rss_bytes(),
        timeline: std::mem::take(&mut collector.timeline),
        thresholds: Vec::new(),
        thresholds_passed: true,
        errors,
    };
    report.check_identity();
    report.judge(&opts.thresholds);
    Ok(report)
}

fn fatal(shared: &Shared) -> Option<String> {
    shared
        .fatal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> Result<(String, usize), String> {
        match build_dests(&DestSpec::Prefix(p.into())) {
            Ok(Dests::Prefix { prefix, digits }) => {
                Ok((String::from_utf8(prefix).expect("digits"), digits))
            }
            Ok(other) => panic!("not a prefix: {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn dest_prefixes_make_e164_numbers() {
        assert_eq!(prefix("4477009"), Ok(("4477009".into(), 5)));
        assert_eq!(prefix("+4477009"), Ok(("4477009".into(), 5)));
        assert_eq!(prefix(""), Ok((String::new(), 12)));
        // 12 digits of prefix and the 3-digit counter make E.164's 15.
        assert_eq!(prefix("447700900123"), Ok(("447700900123".into(), 3)));
        let err = prefix("4477009001234").unwrap_err();
        assert!(err.contains("at most 12 digits"), "{err}");
        let err = prefix("44-77").unwrap_err();
        assert!(err.contains("found '-'"), "{err}");
        assert!(err.contains("or name an existing file"), "{err}");
    }

    #[test]
    fn dest_files_hold_e164_numbers() {
        let path = std::env::temp_dir().join(format!("loadgen-dests-{}", std::process::id()));
        std::fs::write(&path, "# test numbers\n+447700900001\n\n123456789012345\n").expect("write");
        match build_dests(&DestSpec::File(path.clone())) {
            Ok(Dests::List(list)) => assert_eq!(
                list,
                vec![b"447700900001".to_vec(), b"123456789012345".to_vec()]
            ),
            other => panic!("expected a list: {other:?}"),
        }
        std::fs::write(&path, "447700900001\n1234567890123456\n").expect("write");
        let err = build_dests(&DestSpec::File(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: "), "names the line: {err}");
        assert!(
            err.contains("has 16 digits; E.164 allows at most 15"),
            "{err}"
        );
        std::fs::remove_file(&path).expect("remove");
    }
}
