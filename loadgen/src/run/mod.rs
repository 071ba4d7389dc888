//! `loadgen run`: verification flows from a scenario file, end to end.
//!
//! [`run`] validates the scenario (a bad one is refused before anything starts), starts or
//! reaches the targets, fixes time zero, and runs one scheduler per population that starts a
//! [`flow`] per arrival at its intended time (open loop), while a reader hands each code
//! delivered to a phone to the flow waiting for it, the timeline changes carriers through
//! their control plane, and a collector closes an interval every second (timeline, interval
//! log, progress). When the arrivals are over it drains the verifications under way (at most
//! `settings.drain`), ends the rest as unfinished, stops what it started, builds the
//! [`Report`] (identity checked, thresholds judged) and writes the outputs asked for.
//!
//! Modules: [`flow`] (one verification), [`shared`] (numbers in use, receipts), [`progress`]
//! (the bar and plain lines).
//!
//! Layer: the top of `loadgen run`: uses `report`, `target`, `measure`, `users`, `scenario`.

pub mod args;
pub mod flow;
pub mod progress;
pub mod shared;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::measure::abuse::Ledger;
use crate::measure::{IntervalRow, Measure, Route};
use crate::proc::{CpuMeter, peak_rss_bytes, status_kib};
use crate::report::abuse::Baseline;
use crate::report::hdrlog::HdrLog;
use crate::report::{EventReport, HandsetReport, Machine, Memory, Report, RunFacts};
use crate::scenario::{
    Overrides, PersonaFile, Plan, RunThreshold, ScenarioError, ServicePlan, TimelineFile,
};
use crate::target::control::Control;
use crate::target::handsets::{Handsets, Seen, code_in, seen};
use crate::target::reference::{MAX_LISTED, Reference};
use crate::target::{Targets, connect};
use crate::users::arrival::Arrivals;
use crate::users::behaviour::stream;
use crate::users::numbers::Picker;
use flow::{Arrival, Ctx, HandsetCounters, flow};
use progress::{Progress, ProgressMode, Tick};
use shared::{Delivery, Owners, Receipts, Routed, Slots};

/// An arrival later than this after its intended time, past the end of the load, is not sent
/// (`unsent`): the run could not keep up with its schedule.
const SEND_GRACE: Duration = Duration::from_millis(250);
/// How long unfinished verifications get to record their end once the drain is over.
const END_GRACE: Duration = Duration::from_secs(5);

/// Everything `loadgen run` is asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The scenario file (`None`: the built-in smoke scenario).
    pub scenario: Option<PathBuf>,
    /// Command-line changes to it.
    pub overrides: Overrides,
    /// Thresholds from the command line (added to the file's).
    pub thresholds: Vec<String>,
    /// Write the report as JSON here.
    pub json: Option<PathBuf>,
    /// Write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Write an HdrHistogram interval log here.
    pub hdr_log: Option<PathBuf>,
    /// Write the HTML report here.
    pub html: Option<PathBuf>,
    /// Progress display.
    pub progress: ProgressMode,
    /// Other processes (an external carrier-sim and verifier) whose CPU to report.
    pub server_pids: Vec<u32>,
    /// Skip the scenario's baseline run (`settings.baseline`).
    pub no_baseline: bool,
}

impl RunOptions {
    /// Options that run `scenario` with no outputs and no progress (what tests use).
    pub fn new(scenario: Option<PathBuf>) -> Self {
        Self {
            scenario,
            overrides: Overrides::default(),
            thresholds: Vec::new(),
            json: None,
            junit: None,
            hdr_log: None,
            html: None,
            progress: ProgressMode::Off,
            server_pids: Vec::new(),
            no_baseline: false,
        }
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario was refused.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// An option that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// The targets could not be started or reached.
    #[error("{0}")]
    Start(String),
    /// An output could not be written.
    #[error("{path}: {source}", path = path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<(PathBuf, std::io::Error)> for RunError {
    fn from((path, source): (PathBuf, std::io::Error)) -> Self {
        RunError::Output { path, source }
    }
}

/// The plan a run would execute: the scenario validated, the command line's changes applied,
/// its thresholds and the command line's parsed. What `loadgen validate` checks too.
pub fn plan(opts: &RunOptions) -> Result<(Plan, Vec<RunThreshold>), RunError> {
    let mut plan = match &opts.scenario {
        Some(path) => Plan::load(path)?,
        None => Plan::builtin_smoke()?,
    };
    plan.apply(&opts.overrides).map_err(RunError::Invalid)?;
    let mut thresholds = plan.thresholds.clone();
    let carriers = plan.carrier_names();
    for expr in &opts.thresholds {
        let t = RunThreshold::parse(expr).map_err(|e| RunError::Invalid(e.to_string()))?;
        crate::scenario::validate::selector(&t, &carriers)
            .and_then(|()| crate::scenario::validate::abuse_threshold(&t, &plan.personas()))
            .map_err(|m| RunError::Invalid(format!("threshold `{expr}`: {m}")))?;
        thresholds.push(t);
    }
    Ok((plan, thresholds))
}

/// Runs a scenario and returns its report; the outputs asked for are written. A scenario with
/// `settings.baseline` is run twice with the same seed: first with the embedded verifier's
/// guard relaxed (the baseline, which only gives its figures), then as written.
pub async fn run(opts: RunOptions) -> Result<Report, RunError> {
    let (plan, thresholds) = plan(&opts)?;
    // Outputs are opened before anything starts, so a path that cannot be written stops the
    // run before it costs anything.
    for path in [&opts.json, &opts.junit, &opts.html].into_iter().flatten() {
        std::fs::write(path, b"").map_err(|source| RunError::Output {
            path: path.clone(),
            source,
        })?;
    }
    let baseline = match plan.settings.baseline.filter(|_| !opts.no_baseline) {
        None => None,
        Some(mode) => {
            let mut relaxed = plan.clone();
            let ServicePlan::Embedded { config, .. } = &mut relaxed.service else {
                return Err(RunError::Invalid(
                    "settings.baseline switches the embedded verifier's guard mode, but the \
                     service is external: run with --no-baseline"
                        .into(),
                ));
            };
            config.guard.mode = mode;
            if opts.progress != ProgressMode::Off {
                eprintln!(
                    "baseline: the same scenario and seed with the guard in {} mode",
                    mode.word()
                );
            }
            let quiet = RunOptions {
                json: None,
                junit: None,
                hdr_log: None,
                html: None,
                ..opts.clone()
            };
            let r = execute(&quiet, Arc::new(relaxed), &[], None).await?;
            if !r.errors.is_empty() {
                return Err(RunError::Start(format!(
                    "the baseline run was not valid: {}",
                    r.errors.join("; ")
                )));
            }
            Some(crate::report::ground_truth::baseline(&r, mode.word()))
        }
    };
    let report = execute(&opts, Arc::new(plan), &thresholds, baseline).await?;
    write_outputs(&opts, &report)?;
    Ok(report)
}

/// One run of `plan`: the load, the drain, the report (outputs are the caller's).
async fn execute(
    opts: &RunOptions,
    plan: Arc<Plan>,
    thresholds: &[RunThreshold],
    baseline: Option<Baseline>,
) -> Result<Report, RunError> {
    let mut hdr = None;
    let Targets {
        service,
        handsets,
        control,
        reference,
        embedded,
        info,
    } = connect(&plan).await.map_err(RunError::Start)?;
    list_recycled(&plan, reference.as_ref()).await?;
    let attempts_observable = service.has_attempts() && plan.settings.attempts;

    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    let start_rss = status_kib(None, "VmRSS:").unwrap_or(0) * 1024;
    let zero = Instant::now();
    let started_at = SystemTime::now();
    if let Some(path) = &opts.hdr_log {
        hdr = Some(HdrLog::create(
            path,
            &plan.name,
            plan.time_scale,
            started_at,
        )?);
    }
    let cpu = CpuMeter::start(None);
    let servers: Vec<(u32, CpuMeter)> = opts
        .server_pids
        .iter()
        .map(|p| (*p, CpuMeter::start(Some(*p))))
        .collect();
    let mut measure = Measure::new(plan.time_scale, plan.populations.len(), plan.phases.len());
    measure.abuse = Ledger::new(
        plan.populations
            .iter()
            .map(|p| p.persona.is_attack())
            .collect(),
        plan.phases.len(),
    );
    let ctx = Arc::new(Ctx {
        plan: Arc::clone(&plan),
        service,
        slots: Slots::default(),
        receipts: Receipts::default(),
        measure: Mutex::new(measure),
        zero,
        cancel: CancellationToken::new(),
        in_flight: AtomicU64::new(0),
        peak_in_flight: AtomicU64::new(0),
        attack_in_flight: AtomicU64::new(0),
        peak_attack_in_flight: AtomicU64::new(0),
        first_send_ns: AtomicU64::new(u64::MAX),
        last_send_ns: AtomicU64::new(0),
        last_verified_ns: AtomicU64::new(0),
        handsets: HandsetCounters::default(),
        failures: Mutex::new(Default::default()),
        expiry: plan.expiry().div_f64(plan.time_scale),
        owners: Owners::default(),
        control: control.clone(),
    });

    let stop_reader = CancellationToken::new();
    let reader = tokio::spawn(read_handsets(
        Arc::clone(&ctx),
        handsets,
        stop_reader.clone(),
    ));
    let timeline = tokio::spawn(apply_timeline(
        control,
        plan.timeline.clone(),
        zero,
        plan.time_scale,
    ));
    let schedulers: Vec<_> = (0..plan.populations.len())
        .map(|p| tokio::spawn(schedule(Arc::clone(&ctx), p)))
        .collect();

    let wall = plan.duration.div_f64(plan.time_scale);
    let progress = Progress::new(opts.progress, wall);
    let mut collector = Collector {
        ctx: Arc::clone(&ctx),
        last: zero,
        rows: Vec::new(),
        hdr,
        progress,
        wall,
    };
    let mut next_tick = zero + Duration::from_secs(1);
    let mut scheduled = 0;
    let mut unsent = 0;
    let mut planned = (f64::MAX, 0.0f64);
    let mut target_rate = 0.0;
    for s in schedulers {
        let mut s = std::pin::pin!(s);
        let sched = loop {
            tokio::select! {
                r = &mut s => break r,
                () = tokio::time::sleep_until(next_tick.into()) => {
                    collector.tick(false)?;
                    next_tick += Duration::from_secs(1);
                }
            }
        };
        let sched = sched.map_err(|e| RunError::Start(format!("a scheduler failed: {e}")))?;
        scheduled += sched.scheduled;
        unsent += sched.unsent;
        target_rate += sched.mean_rate;
        planned.0 = planned.0.min(sched.first_intended);
        planned.1 = planned.1.max(sched.last_intended);
    }

    // Drain: the verifications under way end on their own, within `settings.drain`.
    let drain_end = Instant::now() + plan.settings.drain.div_f64(plan.time_scale);
    while ctx.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drain_end {
        let wake = next_tick.min(drain_end);
        tokio::select! {
            () = tokio::time::sleep_until(wake.into()) => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if Instant::now() >= next_tick {
            collector.tick(true)?;
            next_tick += Duration::from_secs(1);
        }
    }
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let unfinished = ctx.in_flight.load(Ordering::Relaxed);
    if unfinished > 0 {
        notes.push(format!(
            "{unfinished} verifications were still under way when the drain ({}) ended: counted \
             as failed (unfinished)",
            humantime::format_duration(plan.settings.drain)
        ));
    }
    ctx.cancel.cancel();
    let end_by = Instant::now() + END_GRACE;
    while ctx.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < end_by {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if ctx.in_flight.load(Ordering::Relaxed) > 0 {
        errors.push(format!(
            "{} verifications did not record their end within {} s",
            ctx.in_flight.load(Ordering::Relaxed),
            END_GRACE.as_secs()
        ));
    }
    let wall_s = zero.elapsed().as_secs_f64();
    let process_cores = cpu.cores().unwrap_or(0.0);
    let servers_cores = servers
        .iter()
        .filter_map(|(pid, m)| Some((pid.to_string(), m.cores()?)))
        .collect();
    collector.tick(true)?;
    collector.progress.finish();
    if let Some(h) = collector.hdr.take() {
        h.finish()?;
    }
    stop_reader.cancel();
    let stream_ended_early = reader.await.unwrap_or(false);
    if stream_ended_early {
        errors.push("the handset stream ended before the run did".into());
    }
    let events = timeline.await.unwrap_or_default();
    // The carrier's billing is read off its event stream; its currency from its stats.
    let billed = if plan.has_personas() {
        ctx.control.billed().await
    } else {
        None
    };
    let decisions = match (&reference, plan.has_personas()) {
        (Some(r), true) => Some(r.blocks().await),
        _ => None,
    };
    let stopped = embedded.shutdown().await;

    for (what, n) in ctx
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        notes.push(format!("{n} × {what}"));
    }
    let ns = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e9;
    let first = ctx.first_send_ns.load(Ordering::Relaxed);
    let h = &ctx.handsets;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let peak_pending = n(&ctx.peak_in_flight);
    let peak_rss = peak_rss_bytes();
    let mut facts = RunFacts {
        wall_s,
        abuse: None,
        scheduled,
        unsent,
        target_rate,
        send_window_s: if first == u64::MAX {
            0.0
        } else {
            ns(&ctx.last_send_ns) - first as f64 / 1e9
        },
        planned_window_s: if planned.1 >= planned.0 {
            planned.1 - planned.0
        } else {
            0.0
        },
        verified_window_s: ns(&ctx.last_verified_ns),
        behind_tolerance_us: plan.settings.behind_tolerance.as_micros() as u64,
        timeline: std::mem::take(&mut collector.rows),
        events,
        handsets: HandsetReport {
            codes: n(&h.codes),
            extra: n(&h.extra),
            stray: n(&h.stray),
            unwaited: n(&h.unwaited),
            unreadable: n(&h.unreadable),
            lagged_events: n(&h.lagged),
            receipts_matched: n(&h.receipts_matched),
            receipts_missing: ctx.receipts.missing(),
            receipt_stats: Default::default(),
        },
        machine: Machine {
            process_cores,
            servers_cores,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average,
        },
        memory: Memory {
            peak_rss_bytes: peak_rss,
            start_rss_bytes: start_rss,
            peak_pending,
            per_pending_bytes: (peak_pending > 0)
                .then(|| peak_rss.saturating_sub(start_rss) / peak_pending),
            peak_attack_pending: n(&ctx.peak_attack_in_flight),
            numbers: ctx.owners.count(),
        },
        attempts_observable,
        errors,
        notes,
    };
    let measure = ctx.measure.lock().unwrap_or_else(|e| e.into_inner());
    facts.abuse = plan.has_personas().then(|| {
        crate::report::ground_truth::abuse(&plan, &measure.abuse, billed, decisions, baseline)
    });
    if let Some(m) = facts.abuse.as_ref().map(|a| &a.money)
        && let (Some(total), Some(a), Some(g), Some(o)) =
            (m.carrier_total, m.attack_cost, m.genuine_cost, m.other_cost)
        && (total - (a + g + o)).abs() > 0.015
    {
        facts.notes.push(format!(
            "MONEY NOT ACCOUNTED FOR: the carrier billed {total:.2} in all, its event stream \
             showed {:.2} (events missed, or other traffic on the carrier)",
            a + g + o
        ));
    }
    let report = crate::report::build(&plan, info, &measure, facts, stopped, thresholds);
    drop(measure);
    Ok(report)
}

/// Lists the numbers of every `recycled_number_owner` population on the service's block list
/// before the load (their previous owners' abuse), so the run shows whether the list forgives
/// the new owners.
async fn list_recycled(plan: &Plan, list: Option<&Reference>) -> Result<(), RunError> {
    for p in &plan.populations {
        if p.persona != PersonaFile::RecycledNumberOwner {
            continue;
        }
        let list = list.ok_or_else(|| {
            RunError::Start(format!(
                "population `{}` (recycled_number_owner) needs the reference verifier's block \
                 list",
                p.name
            ))
        })?;
        let n = p.numbers.len();
        if n > MAX_LISTED {
            return Err(RunError::Start(format!(
                "population `{}` (recycled_number_owner) has {n} numbers; at most {MAX_LISTED} \
                 are listed before a run: give it a smaller range or a list",
                p.name
            )));
        }
        for k in 0..n {
            list.list(p.numbers.nth(k), "abused by its previous owner")
                .await
                .map_err(RunError::Start)?;
        }
    }
    Ok(())
}

fn write_outputs(opts: &RunOptions, report: &Report) -> Result<(), RunError> {
    let write = |path: &PathBuf, bytes: Vec<u8>| {
        std::fs::write(path, bytes).map_err(|source| RunError::Output {
            path: path.clone(),
            source,
        })
    };
    if let Some(path) = &opts.html {
        write(path, crate::report::html::render(report).into_bytes())?;
    }
    if let Some(path) = &opts.json {
        let bytes = serde_json::to_vec_pretty(report).map_err(|e| RunError::Output {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write(path, bytes)?;
    }
    if let Some(path) = &opts.junit {
        write(path, crate::report::junit::junit(report).into_bytes())?;
    }
    Ok(())
}

/// What a population's scheduler did.
#[derive(Debug, Clone, Copy, Default)]
struct Scheduled {
    scheduled: u64,
    unsent: u64,
    mean_rate: f64,
    first_intended: f64,
    last_intended: f64,
}

/// Starts population `p`'s flows at their intended times.
async fn schedule(ctx: Arc<Ctx>, p_index: usize) -> Scheduled {
    let p = p_index;
    let plan = &ctx.plan;
    let pop = &plan.populations[p];
    let mut arrivals = Arrivals::new(
        &pop.arrival,
        &plan.phases,
        plan.time_scale,
        stream(plan.seed, p, u64::MAX),
    );
    let mut picker = Picker::new(pop.numbers.clone(), stream(plan.seed, p, u64::MAX - 1));
    // Bombers' victims and bots' sets are drawn once, distinct, before the first arrival.
    let mut drawn: HashSet<u64> = HashSet::new();
    let mut distinct = |k: u64| -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..k.saturating_mul(64) {
            if out.len() as u64 == k {
                break;
            }
            if let Some(n) = picker.pick(|n| drawn.contains(&n)) {
                drawn.insert(n);
                out.push(n);
            }
        }
        out
    };
    let (victims, sets): (Vec<u64>, Vec<Arc<[u64]>>) = match &pop.persona {
        PersonaFile::OtpBomber { victims } => (distinct(*victims), Vec::new()),
        PersonaFile::NumberSetBot { set_size, bots } => (
            Vec::new(),
            (0..*bots)
                .map(|_| Arc::from(distinct(*set_size as u64)))
                .collect(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let mut out = Scheduled {
        mean_rate: arrivals.mean_rate(),
        first_intended: f64::MAX,
        ..Scheduled::default()
    };
    let last_send = ctx.zero + plan.duration.div_f64(plan.time_scale) + SEND_GRACE;
    let mut index = 0u64;
    while let Some(offset) = arrivals.next_arrival() {
        let intended = ctx.zero + offset;
        out.scheduled += 1;
        out.first_intended = out.first_intended.min(offset.as_secs_f64());
        out.last_intended = out.last_intended.max(offset.as_secs_f64());
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
        }
        if Instant::now() > last_send {
            out.unsent += 1;
            continue;
        }
        let scenario_offset = offset.mul_f64(plan.time_scale);
        let phase = plan
            .phases
            .iter()
            .position(|ph| scenario_offset < ph.to)
            .unwrap_or(plan.phases.len().saturating_sub(1));
        let (number, code, set) = match &pop.persona {
            // Users who wait for a code hold their number in the slots until they end.
            p if p.checks() => {
                let taken = (0..4).find_map(|_| {
                    let number = picker.pick(|n| ctx.slots.busy(n))?;
                    Some((number, ctx.slots.take(number)?))
                });
                let Some((number, code)) = taken else {
                    ctx.measure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .not_sent(p_index, phase, "no_free_number");
                    continue;
                };
                (number, Some(code), None)
            }
            PersonaFile::OtpBomber { .. } | PersonaFile::NumberSetBot { .. }
                if victims.is_empty() && sets.is_empty() =>
            {
                ctx.measure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .not_sent(p_index, phase, "no_free_number");
                continue;
            }
            PersonaFile::OtpBomber { .. } => {
                let victim = victims[(index % victims.len() as u64) as usize];
                (victim, None, None)
            }
            PersonaFile::NumberSetBot { .. } => {
                let bot = index % sets.len() as u64;
                let set = Arc::clone(&sets[bot as usize]);
                (set[0], None, Some((bot, set)))
            }
            _ => match picker.pick(|_| false) {
                Some(n) => (n, None, None),
                None => {
                    ctx.measure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .not_sent(p_index, phase, "no_free_number");
                    continue;
                }
            },
        };
        tokio::spawn(flow(
            Arc::clone(&ctx),
            Arrival {
                population: p_index,
                phase,
                index,
                intended,
                number,
                slotted: code.is_some(),
                code,
                set,
            },
        ));
        index += 1;
    }
    out
}

/// Hands each code delivered to a phone to the flow waiting for it, and matches receipts.
/// Returns whether the stream ended before it was told to stop.
async fn read_handsets(ctx: Arc<Ctx>, mut hs: Handsets, stop: CancellationToken) -> bool {
    let (min, max) = (
        ctx.plan.settings.code_min_digits,
        ctx.plan.settings.code_max_digits,
    );
    let h = &ctx.handsets;
    loop {
        let event = tokio::select! {
            biased;
            () = stop.cancelled() => return false,
            e = hs.next() => e,
        };
        let Some(event) = event else {
            return !stop.is_cancelled();
        };
        let now = Instant::now();
        match seen(&event) {
            Seen::Delivered {
                to,
                message_id,
                channel,
                carrier,
                text,
            } => {
                let code = code_in(text, min, max);
                if code.is_none() {
                    h.unreadable.fetch_add(1, Ordering::Relaxed);
                }
                let d = Delivery {
                    at: now,
                    message_id: message_id.to_string(),
                    route: Route {
                        channel,
                        carrier: carrier.unwrap_or("unknown").to_string(),
                    },
                    code,
                };
                let counter = match ctx.slots.deliver(to, d) {
                    Routed::Code => &h.codes,
                    Routed::Extra => &h.extra,
                    // A code for a number a persona asked for without waiting for it (an SMS
                    // pumper's, a bomber's victim): theirs, not stray.
                    Routed::Stray => match ctx.owners.get(to) {
                        Some(p) if !ctx.plan.populations[p].persona.checks() => {
                            ctx.measure
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .abuse
                                .delivered(p, false);
                            &h.unwaited
                        }
                        _ => &h.stray,
                    },
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Seen::Receipt {
                message_id,
                stat,
                duplicate: false,
            } => {
                if let Some(m) = ctx.receipts.receipt(message_id, stat, now) {
                    h.receipts_matched.fetch_add(1, Ordering::Relaxed);
                    ctx.measure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .receipt(
                            m.at.saturating_duration_since(m.intended),
                            &m.route,
                            &m.stat,
                        );
                }
            }
            Seen::Billed { to, price, call } => {
                let owner = ctx.owners.get(to);
                ctx.measure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .abuse
                    .billed(owner, u64::from(!call), call, price);
            }
            Seen::Lagged(n) => {
                h.lagged.fetch_add(n, Ordering::Relaxed);
            }
            Seen::Receipt { .. } | Seen::Other => {}
        }
    }
}

/// Applies the scenario's timeline at its offsets through the carrier's control plane.
async fn apply_timeline(
    control: Control,
    timeline: Vec<TimelineFile>,
    zero: Instant,
    time_scale: f64,
) -> Vec<EventReport> {
    let mut out = Vec::new();
    for t in timeline {
        tokio::time::sleep_until((zero + t.at.div_f64(time_scale)).into()).await;
        let (what, error) = match control.apply(&t).await {
            Ok(what) => (what, None),
            Err(e) => (String::new(), Some(e)),
        };
        out.push(EventReport {
            at_s: zero.elapsed().as_secs_f64() * time_scale,
            carrier: t.carrier.clone(),
            what,
            outage_s: t
                .outage
                .filter(|_| error.is_none())
                .map(|d| d.as_secs_f64()),
            error,
        });
    }
    out
}

/// Closes an interval a second: the timeline row, the interval log, the progress display.
struct Collector {
    ctx: Arc<Ctx>,
    last: Instant,
    rows: Vec<IntervalRow>,
    hdr: Option<HdrLog>,
    progress: Progress,
    wall: Duration,
}

impl Collector {
    fn tick(&mut self, draining: bool) -> Result<(), RunError> {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        let elapsed = now.duration_since(self.ctx.zero);
        let (snap, verified, attempted, p99) = {
            let mut m = self.ctx.measure.lock().unwrap_or_else(|e| e.into_inner());
            let snap = m.take_interval(elapsed.as_secs_f64(), dt);
            let c = &m.total.counts;
            (
                snap,
                c.verified,
                c.attempted,
                m.total.delivery.quantile(0.99),
            )
        };
        if let Some(h) = &mut self.hdr {
            h.write(
                &snap,
                self.last.duration_since(self.ctx.zero),
                now.duration_since(self.last),
            )?;
        }
        self.progress.update(
            &Tick {
                elapsed: elapsed.as_secs_f64(),
                rate: snap.row.rate,
                verified,
                attempted,
                delivery_p99: p99,
                pending: self.ctx.in_flight.load(Ordering::Relaxed),
                draining,
            },
            self.wall,
        );
        self.rows.push(snap.row);
        self.last = now;
        Ok(())
    }
}
