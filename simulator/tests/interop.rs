//! Interop tests: the real `carrier-sim` binary against independent, real SMPP
//! clients from the package registries (python smpplib and Kannel).
//!
//! Our own ESME client shares code with the carrier, so a misreading of the
//! spec on both sides would cancel out in our unit tests. These tests use
//! peers written by other people: each one submits a GSM-7 message with
//! extension-table characters and a long UCS-2 message that the peer splits
//! into UDH-concatenated parts, checks that every delivery receipt carries an
//! id the carrier returned in submit_sm_resp, and then reads the carrier's
//! control API to check the stored text is exactly what was sent.
//!
//! The peers are installed by `bash scripts/install-peers.sh`. A missing peer
//! fails the test with that advice. On a machine without the peers,
//! `CARRIER_TESTBED_SKIP_INTEROP=1` marks these tests ignored at build time
//! (`build.rs` sets the `skip_interop` cfg), so `cargo test` reports them as
//! `ignored, <reason>`, never as passed; CI refuses the variable.
//! Every wait is bounded; every child process is killed when its guard drops,
//! also when an assertion fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

/// Upper bound for any single wait on a peer or on the carrier.
const WAIT: Duration = Duration::from_secs(30);
const SKIP_ENV: &str = "CARRIER_TESTBED_SKIP_INTEROP";
const ACCOUNT_ID: &str = "test";
const ACCOUNT_PASSWORD: &str = "secret";
const SENDER: &str = "12025550100";

/// GSM 03.38 default alphabet with every extension-table character that an
/// SMSC must escape with 0x1B (`{ } [ ] ~ ^ | \ €`).
const GSM7_TEXT: &str = "Your code is 123456 {€} [ok] ~^|\\";
/// More than 70 UTF-16 code units, so it needs several UCS-2 parts; the emoji
/// is a surrogate pair and lands inside a part for both peers' split sizes.
const UCS2_TEXT: &str = "Ваш код подтверждения: 482913. Никому не сообщайте этот код, даже сотрудникам банка. \
                         🔐 Ο κωδικός σας είναι 482913 και ισχύει για δέκα λεπτά.";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A missing peer fails the test, with the command that installs it: a run that did not talk
/// to the peer must not pass for one that did. (With `CARRIER_TESTBED_SKIP_INTEROP=1` the tests
/// never get here: they are ignored, with that reason, at build time.)
fn missing_peer(peer: &str, why: &str) -> ! {
    panic!(
        "interop peer {peer} is not available: {why}\n\
         install it with `bash scripts/install-peers.sh` (or, on a machine that cannot have it, \
         set {SKIP_ENV}=1 to mark the interop tests ignored)"
    );
}

/// Looks a program up on PATH and in the sbin directories where Debian puts
/// Kannel, which a non-login PATH may lack.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A per-test directory for rendered configs and peer logs. It is removed
/// when the test passes and kept (and named in the panic) when it fails.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "carrier-interop-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("creating scratch dir {}: {e}", dir.display()));
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("interop: logs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Reads a log file for a failure message; a missing file is said so.
fn read_log(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// The last `max` bytes of a log, cut at a line start, so a failure message
/// stays readable while still showing what happened last.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    match text[start..].find('\n') {
        Some(nl) => &text[start + nl + 1..],
        None => &text[start..],
    }
}

/// A child process that is killed and reaped when the guard drops, panics
/// included, so no carrier or peer outlives its test, not even as a zombie
/// (the test binary may exit before tokio's orphan reaper runs).
#[derive(Debug)]
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.0.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
    }
}

/// The `carrier-sim serve` child process and the addresses it announced.
#[derive(Debug)]
struct Carrier {
    _child: Reaped,
    smpp: SocketAddr,
    http: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr_path: PathBuf,
}

impl Carrier {
    async fn start(scratch: &Scratch) -> anyhow::Result<Self> {
        let stderr_path = scratch.path().join("carrier-sim.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_carrier-sim"))
            .args(["serve", "--smpp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--account", &format!("{ACCOUNT_ID}:{ACCOUNT_PASSWORD}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .context("spawning carrier-sim")?;
        let stdout = child
            .stdout
            .take()
            .context("carrier-sim stdout was not piped")?;

        // Every stdout line is kept for failure messages; the listening events
        // are also handed to the readiness wait below.
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        let kept = Arc::clone(&lines);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(event);
                }
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });

        let mut smpp = None;
        let mut http = None;
        let deadline = Instant::now() + WAIT;
        while smpp.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match timeout(left, rx.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) => {
                    let status = child.wait().await.ok();
                    bail!(
                        "carrier-sim closed stdout before announcing both listeners (exit: {status:?})\n{}",
                        Self::describe(&lines, &stderr_path)
                    );
                }
                Err(_) => bail!(
                    "carrier-sim did not announce its smpp and http listeners within {WAIT:?}\n{}",
                    Self::describe(&lines, &stderr_path)
                ),
            };
            if event.get("event").and_then(Value::as_str) != Some("listening") {
                continue;
            }
            let addr: Option<SocketAddr> = event
                .get("addr")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok());
            match (event.get("service").and_then(Value::as_str), addr) {
                (Some("smpp"), Some(a)) => smpp = Some(a),
                (Some("http"), Some(a)) => http = Some(a),
                _ => {}
            }
        }
        let (Some(smpp), Some(http)) = (smpp, http) else {
            bail!("listening events incomplete");
        };
        Ok(Self {
            _child: Reaped(child),
            smpp,
            http,
            stdout: lines,
            stderr_path,
        })
    }

    fn describe(lines: &Mutex<Vec<String>>, stderr_path: &Path) -> String {
        let stdout = lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
        format!(
            "--- carrier-sim stdout ---\n{}\n--- carrier-sim stderr ---\n{}",
            tail(&stdout, 20_000),
            tail(&read_log(stderr_path), 20_000)
        )
    }

    fn output(&self) -> String {
        Self::describe(&self.stdout, &self.stderr_path)
    }

    /// `GET /v1/messages?to=..`, newest first, as the carrier stored them.
    async fn messages(&self, http: &reqwest::Client, to: &str) -> anyhow::Result<Vec<Value>> {
        let url = reqwest::Url::parse_with_params(
            &format!("http://{}/v1/messages", self.http),
            &[("to", to), ("limit", "20")],
        )?;
        let resp = http
            .get(url.clone())
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .with_context(|| format!("reading {url}"))?;
        ensure!(status.is_success(), "GET {url}: {status}: {body}");
        let json: Value =
            serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))?;
        json.get("messages")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| anyhow!("GET {url}: no `messages` array in {body}"))
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("building the HTTP client: {e}"))
}

/// Finds the one stored message with this exact text, or says what was stored.
fn stored_with_text<'a>(messages: &'a [Value], text: &str) -> anyhow::Result<&'a Value> {
    let found: Vec<&Value> = messages
        .iter()
        .filter(|m| m.get("text").and_then(Value::as_str) == Some(text))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "no stored message has exactly the text {text:?}; stored: {}",
            serde_json::to_string_pretty(messages).unwrap_or_default()
        ),
        many => bail!("{} stored messages have the text {text:?}", many.len()),
    }
}

fn field_u64(msg: &Value, name: &str) -> anyhow::Result<u64> {
    msg.get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("stored message has no numeric `{name}`: {msg}"))
}

fn field_str<'a>(msg: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    msg.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("stored message has no string `{name}`: {msg}"))
}

/// Checks one stored message against what the peer sent.
fn check_stored(msg: &Value, data_coding: u64, parts: Option<u64>, to: &str) -> anyhow::Result<()> {
    ensure!(
        field_u64(msg, "data_coding")? == data_coding,
        "data_coding should be {data_coding}: {msg}"
    );
    if let Some(parts) = parts {
        ensure!(
            field_u64(msg, "parts")? == parts,
            "parts should be {parts}: {msg}"
        );
    }
    ensure!(
        field_str(msg, "state")? == "DELIVRD",
        "state should be DELIVRD: {msg}"
    );
    ensure!(
        field_str(msg, "destination")?.trim_start_matches('+') == to,
        "destination should be {to}: {msg}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// python smpplib
// ---------------------------------------------------------------------------

/// `None` when smpplib can be used, else why not.
async fn smpplib_problem() -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import smpplib"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match timeout(WAIT, probe).await {
        Err(_) => Some("`python3 -c 'import smpplib'` did not finish".into()),
        Ok(Err(e)) => Some(format!("cannot run python3: {e}")),
        Ok(Ok(out)) if !out.status.success() => Some(format!(
            "python3 cannot import smpplib: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Ok(_)) => None,
    }
}

#[tokio::test]
#[cfg_attr(
    skip_interop,
    ignore = "CARRIER_TESTBED_SKIP_INTEROP=1: interop peers not required on this machine"
)]
async fn smpplib_receipts_match_and_texts_are_stored_exactly() {
    if let Some(why) = smpplib_problem().await {
        missing_peer("python3 smpplib", &why);
    }
    let scratch = Scratch::new("smpplib");
    let carrier = Carrier::start(&scratch)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    if let Err(e) = smpplib_scenario(&carrier).await {
        panic!("{e:#}\n{}", carrier.output());
    }
}

async fn smpplib_scenario(carrier: &Carrier) -> anyhow::Result<()> {
    let to = "447700900123";
    let script = workspace_root().join("tests/interop/smpplib_client.py");
    let port = carrier.smpp.port().to_string();
    let run = Command::new("python3")
        .arg(&script)
        .args(["--host", "127.0.0.1", "--port", &port])
        .args(["--system-id", ACCOUNT_ID, "--password", ACCOUNT_PASSWORD])
        .args(["--to", to, "--from", SENDER, "--timeout", "25"])
        .args(["--gsm7-text", GSM7_TEXT, "--ucs2-text", UCS2_TEXT])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = timeout(WAIT, run)
        .await
        .map_err(|_| anyhow!("{} did not finish within {WAIT:?}", script.display()))?
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = || {
        format!(
            "smpplib_client.py stdout:\n{stdout}\nstderr:\n{}",
            tail(&stderr, 20_000)
        )
    };
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| anyhow!("no JSON result line ({})\n{}", out.status, context()))?;
    ensure!(
        out.status.success() && report.get("ok") == Some(&Value::Bool(true)),
        "smpplib client failed ({}): receipts did not all match submitted ids\n{}",
        out.status,
        context()
    );

    let ids = |label: &str| -> Vec<String> {
        report["submitted"][label]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let gsm_ids = ids("gsm7");
    let ucs2_ids = ids("ucs2");
    ensure!(
        gsm_ids.len() == 1,
        "GSM-7 message should be one submit_sm: {report}"
    );
    ensure!(
        ucs2_ids.len() >= 2,
        "UCS-2 message should be split: {report}"
    );

    let messages = carrier.messages(&http_client(), to).await?;
    ensure!(
        messages.len() == 2,
        "expected exactly 2 stored messages for {to} (the UCS-2 parts reassembled into one), got {}: {}",
        messages.len(),
        serde_json::to_string_pretty(&messages).unwrap_or_default()
    );

    let gsm = stored_with_text(&messages, GSM7_TEXT)?;
    check_stored(gsm, 0, Some(1), to)?;
    ensure!(
        gsm_ids
            .iter()
            .any(|id| id == field_str(gsm, "message_id").unwrap_or("")),
        "stored GSM-7 message_id is not the id smpplib got in submit_sm_resp ({gsm_ids:?}): {gsm}"
    );

    let ucs2 = stored_with_text(&messages, UCS2_TEXT)?;
    check_stored(ucs2, 8, Some(ucs2_ids.len() as u64), to)?;
    ensure!(
        ucs2_ids
            .iter()
            .any(|id| id == field_str(ucs2, "message_id").unwrap_or("")),
        "stored UCS-2 message_id is none of the part ids smpplib got ({ucs2_ids:?}): {ucs2}"
    );
    // `part_ids` goes beyond the documented listing; where the carrier
    // shows it, the parts must be the ones smpplib sent, in order.
    if let Some(part_ids) = ucs2.get("part_ids") {
        ensure!(
            *part_ids == serde_json::json!(ucs2_ids),
            "stored part_ids should be smpplib's submit_sm_resp ids in part order {ucs2_ids:?}: {ucs2}"
        );
    }
    // Newest first: the UCS-2 message was submitted after the GSM-7 one.
    ensure!(
        messages[0].get("text").and_then(Value::as_str) == Some(UCS2_TEXT),
        "messages should be listed newest first: {}",
        serde_json::to_string_pretty(&messages).unwrap_or_default()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Kannel
// ---------------------------------------------------------------------------

/// Ports for bearerbox's admin and smsbox listeners and smsbox's sendsms
/// HTTP server. Kannel cannot be told to use port 0, so free ports are taken
/// from the OS and released just before Kannel binds them.
fn free_ports<const N: usize>() -> anyhow::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("binding 127.0.0.1:0 to find a free port")?;
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// One dlr-url callback as Kannel made it: the query string, decoded.
type Callback = HashMap<String, String>;

/// A tiny HTTP server that records Kannel's dlr-url callbacks.
#[derive(Debug)]
struct DlrSink {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Callback>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DlrSink {
    async fn start() -> anyhow::Result<Self> {
        use axum::extract::{Query, State};
        let seen: Arc<Mutex<Vec<Callback>>> = Arc::default();
        let app =
            axum::Router::new()
                .route(
                    "/dlr",
                    axum::routing::get(
                        |State(seen): State<Arc<Mutex<Vec<Callback>>>>,
                         Query(q): Query<Callback>| async move {
                            seen.lock().unwrap_or_else(|p| p.into_inner()).push(q);
                            "ok"
                        },
                    ),
                )
                .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the dlr-url sink")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("dlr-url sink stopped: {e}");
            }
        });
        Ok(Self { addr, seen, task })
    }

    fn snapshot(&self) -> Vec<Callback> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Callbacks for one message (`tag`) with one DLR type (`%d`).
    fn matching(&self, tag: &str, dlr_type: &str) -> Vec<Callback> {
        self.snapshot()
            .into_iter()
            .filter(|c| {
                c.get("tag").map(String::as_str) == Some(tag)
                    && c.get("type").map(String::as_str) == Some(dlr_type)
            })
            .collect()
    }
}

impl Drop for DlrSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// bearerbox + smsbox as child processes, killed when the guard drops.
#[derive(Debug)]
struct Kannel {
    // Dropped in field order: smsbox goes first, as it depends on bearerbox.
    _smsbox: Reaped,
    _bearerbox: Reaped,
    admin_port: u16,
    sendsms_port: u16,
    dir: PathBuf,
}

impl Kannel {
    async fn start(
        scratch: &Scratch,
        smpp: SocketAddr,
        bearerbox: &Path,
        smsbox: &Path,
    ) -> anyhow::Result<Self> {
        let template_path = workspace_root().join("tests/interop/kannel/kannel.conf.template");
        let template = std::fs::read_to_string(&template_path)
            .with_context(|| format!("reading {}", template_path.display()))?;
        let [admin_port, smsbox_port, sendsms_port] = free_ports::<3>()?;
        let dir = scratch.path().to_path_buf();
        let log_dir = dir.to_str().context("scratch dir is not UTF-8")?;
        let conf = render(
            &template,
            &[
                ("ADMIN_PORT", &admin_port.to_string()),
                ("SMSBOX_PORT", &smsbox_port.to_string()),
                ("SENDSMS_PORT", &sendsms_port.to_string()),
                ("SMPP_HOST", &smpp.ip().to_string()),
                ("SMPP_PORT", &smpp.port().to_string()),
                ("SYSTEM_ID", ACCOUNT_ID),
                ("PASSWORD", ACCOUNT_PASSWORD),
                ("LOG_DIR", log_dir),
            ],
        )?;
        let conf_path = dir.join("kannel.conf");
        std::fs::write(&conf_path, conf)
            .with_context(|| format!("writing {}", conf_path.display()))?;

        let spawn = |program: &Path, name: &str| -> anyhow::Result<Child> {
            let out = std::fs::File::create(dir.join(format!("{name}.out")))?;
            let err = out.try_clone()?;
            Command::new(program)
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("spawning {}", program.display()))
        };
        let bearerbox = Reaped(spawn(bearerbox, "bearerbox")?);
        // smsbox gives up if bearerbox is not listening yet, so wait for it.
        if let Err(e) = wait_for_port(smsbox_port, "bearerbox smsbox-port").await {
            let text = read_log(&dir.join("bearerbox.out"));
            bail!(
                "{e:#}\n--- Kannel bearerbox.out ---\n{}",
                tail(&text, 60_000)
            );
        }
        let smsbox = Reaped(spawn(smsbox, "smsbox")?);
        let kannel = Self {
            _smsbox: smsbox,
            _bearerbox: bearerbox,
            admin_port,
            sendsms_port,
            dir,
        };
        wait_for_port(sendsms_port, "smsbox sendsms-port")
            .await
            .map_err(|e| anyhow!("{e:#}\n{}", kannel.logs()))?;
        Ok(kannel)
    }

    /// Waits until bearerbox reports the SMPP link to the carrier as online,
    /// so a failed bind is reported as such rather than as a missing DLR.
    async fn wait_online(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!(
            "http://127.0.0.1:{}/status.txt?password=interop",
            self.admin_port
        );
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(resp) = http.get(&url).send().await
                && let Ok(body) = resp.text().await
            {
                if body
                    .lines()
                    .any(|l| l.contains("carrier") && l.contains("(online"))
                {
                    return Ok(());
                }
                last = body;
            }
            sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "Kannel's SMPP link to carrier-sim never came online within {WAIT:?}; last status:\n{last}"
        )
    }

    /// Everything Kannel wrote, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["bearerbox.log", "smsbox.log", "bearerbox.out", "smsbox.out"] {
            let text = read_log(&self.dir.join(name));
            out.push_str(&format!("--- Kannel {name} ---\n{}\n", tail(&text, 60_000)));
        }
        out
    }

    /// Submits one message through smsbox's sendsms interface with a dlr-url
    /// pointing at the sink, tagged so callbacks can be told apart.
    async fn sendsms(
        &self,
        http: &reqwest::Client,
        sink: &DlrSink,
        tag: &str,
        to: &str,
        text: &str,
        coding: &str,
    ) -> anyhow::Result<()> {
        // Kannel expands %d (DLR type), %F (the carrier's message id), %A (the
        // receipt text) and %p (receiver) when it calls the URL.
        let dlr_url = format!(
            "http://{}/dlr?tag={tag}&type=%d&fid=%F&to=%p&answer=%A",
            sink.addr
        );
        let url = reqwest::Url::parse_with_params(
            &format!("http://127.0.0.1:{}/cgi-bin/sendsms", self.sendsms_port),
            &[
                ("username", "interop"),
                ("password", "interop"),
                ("from", SENDER),
                ("to", to),
                ("text", text),
                ("charset", "UTF-8"),
                ("coding", coding),
                ("dlr-mask", "31"),
                ("dlr-url", &dlr_url),
            ],
        )?;
        let resp = http
            .get(url)
            .send()
            .await
            .with_context(|| format!("sendsms {tag}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        ensure!(
            status.as_u16() == 202 && body.contains("Accepted"),
            "smsbox refused the {tag} message: {status}: {body}"
        );
        Ok(())
    }
}

/// Replaces every `{{NAME}}` in the template and refuses to leave one behind.
fn render(template: &str, values: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    // The header comment mentions the placeholder syntax itself; only
    // configuration lines must be fully rendered.
    if let Some(line) = out
        .lines()
        .find(|l| !l.trim_start().starts_with('#') && l.contains("{{"))
    {
        bail!("Kannel template has an unrendered placeholder: {line}");
    }
    Ok(out)
}

async fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what} (127.0.0.1:{port}) did not start listening within {WAIT:?}");
        }
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[cfg_attr(
    skip_interop,
    ignore = "CARRIER_TESTBED_SKIP_INTEROP=1: interop peers not required on this machine"
)]
async fn kannel_dlrs_match_and_texts_are_stored_exactly() {
    let (Some(bearerbox), Some(smsbox)) = (find_program("bearerbox"), find_program("smsbox"))
    else {
        missing_peer(
            "Kannel",
            "bearerbox/smsbox not found on PATH or in /usr/sbin",
        );
    };
    let scratch = Scratch::new("kannel");
    let carrier = Carrier::start(&scratch)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let sink = DlrSink::start().await.unwrap_or_else(|e| panic!("{e:#}"));
    let kannel = Kannel::start(&scratch, carrier.smpp, &bearerbox, &smsbox)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", carrier.output()));
    if let Err(e) = kannel_scenario(&carrier, &kannel, &sink).await {
        panic!(
            "{e:#}\n--- dlr-url callbacks ---\n{:#?}\n{}\n{}",
            sink.snapshot(),
            kannel.logs(),
            carrier.output()
        );
    }
}

async fn kannel_scenario(carrier: &Carrier, kannel: &Kannel, sink: &DlrSink) -> anyhow::Result<()> {
    let http = http_client();
    kannel.wait_online(&http).await?;
    let cases = [
        ("gsm7", "447700900201", GSM7_TEXT, "0", 0u64),
        ("ucs2", "447700900202", UCS2_TEXT, "2", 8u64),
    ];
    for (tag, to, text, coding, _) in cases {
        kannel.sendsms(&http, sink, tag, to, text, coding).await?;
    }

    let deadline = Instant::now() + WAIT;
    for (tag, to, text, _, data_coding) in cases {
        // Kannel asks for a receipt on the first part of a split message only
        // (registered_delivery 0 on the others), so each message gets one
        // type-1 callback, and only if the receipt id matched.
        let dlr = loop {
            for failed in ["2", "16"] {
                ensure!(
                    sink.matching(tag, failed).is_empty(),
                    "{tag}: Kannel reported DLR type {failed} (undelivered / SMSC reject)"
                );
            }
            if let Some(first) = sink.matching(tag, "1").into_iter().next() {
                break first;
            }
            ensure!(
                Instant::now() < deadline,
                "{tag}: no type-1 (delivered) DLR callback within {WAIT:?}: Kannel only makes it \
                 when the receipt's id matches an id it got in submit_sm_resp"
            );
            sleep(Duration::from_millis(200)).await;
        };
        // The carrier's view fills in as parts arrive: wait for the whole
        // message, then judge the last view seen.
        let messages = loop {
            let messages = carrier.messages(&http, to).await?;
            let complete = matches!(messages.as_slice(), [m]
                if m.get("text").and_then(Value::as_str) == Some(text)
                    && m.get("state").and_then(Value::as_str) == Some("DELIVRD"));
            if complete || Instant::now() >= deadline {
                break messages;
            }
            sleep(Duration::from_millis(200)).await;
        };
        ensure!(
            messages.len() == 1,
            "{tag}: expected one stored message for {to} (parts reassembled), got {}: {}",
            messages.len(),
            serde_json::to_string_pretty(&messages).unwrap_or_default()
        );
        let stored = &messages[0];
        let stored_text = field_str(stored, "text")?;
        ensure!(
            stored_text == text,
            "{tag}: carrier stored {stored_text:?}, Kannel was asked to send {text:?}: {stored}"
        );
        check_stored(stored, data_coding, None, to)?;
        let parts = field_u64(stored, "parts")?;
        if tag == "ucs2" {
            ensure!(
                parts >= 2,
                "Kannel should have split the UCS-2 message: {stored}"
            );
        }

        let answer = dlr.get("answer").map(String::as_str).unwrap_or("");
        ensure!(
            answer.contains("stat:DELIVRD"),
            "{tag}: receipt text handed to the dlr-url is not DELIVRD: {dlr:?}"
        );
        let receipt_id = answer
            .split_whitespace()
            .find_map(|w| w.strip_prefix("id:"))
            .ok_or_else(|| anyhow!("{tag}: receipt text has no id: {dlr:?}"))?;
        // msg-id-type 0x03: Kannel matched on the id parsed as hex, and %F is
        // that number in decimal.
        let parsed = u64::from_str_radix(receipt_id, 16)
            .with_context(|| format!("{tag}: receipt id {receipt_id:?} is not hex"))?;
        ensure!(
            dlr.get("fid").map(String::as_str) == Some(parsed.to_string().as_str()),
            "{tag}: Kannel's id %F should be {parsed} (hex {receipt_id}): {dlr:?}"
        );
        // The receipt is for the first part: for a single-part message that
        // is the stored message_id, for a split one the first of `part_ids`
        // where the carrier shows them (beyond the documented listing).
        let first_part_id = match stored.get("part_ids").and_then(Value::as_array) {
            Some(ids) if parts > 1 => ids.first().and_then(Value::as_str),
            _ if parts == 1 => Some(field_str(stored, "message_id")?),
            _ => None,
        };
        if let Some(first_part_id) = first_part_id {
            ensure!(
                receipt_id == first_part_id,
                "{tag}: receipt id {receipt_id} is not the first part's id {first_part_id}: {stored}"
            );
        }
    }
    // Late duplicates would have arrived by now: both receipts came back.
    for (tag, ..) in cases {
        let delivered = sink.matching(tag, "1");
        ensure!(
            delivered.len() == 1,
            "{tag}: expected one type-1 DLR callback, got {delivered:?}"
        );
    }
    Ok(())
}
