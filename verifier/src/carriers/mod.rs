//! The carriers the service sends through: per carrier a pool of SMPP binds ([`pool`]), a
//! circuit breaker ([`breaker`]) and the HTTP control plane ([`control`]) for voice calls,
//! lookup and the open-SMS list; and the lookup cache.
//!
//! [`Carriers::send_sms`] and [`Carriers::call`] turn every way a send can fail into a failover
//! [`Cause`] (submit error, throttling, lost bind, timeout, open breaker) and feed the breaker;
//! receipts come out of the pools as [`pool::ReceiptEvent`]s for the flow layer to correlate.
//!
//! Lookup answers are cached per number for `lookup.cache_ttl` (default 10 minutes) in a
//! sharded map of at most `lookup.cache_capacity` numbers, so a start costs an HTTP call only
//! for a number not seen within the TTL; control planes are asked in carrier order until one
//! answers. A snapshot to compare later answers with (a block-list entry's) is taken with
//! [`Carriers::lookup_uncached`], which neither reads nor fills the cache.
//!
//! Layer: uses `config`, `metrics`, `support`; used by `guard` (lookup types), `flow`, `api`.

pub(crate) mod breaker;
pub(crate) mod control;
pub(crate) mod pool;

use std::sync::Arc;

use smpp::client::ClientError;
use smpp::rusmpp::CommandStatus;
use smpp::rusmpp::pdus::SubmitSm;
use smpp::rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use smpp::rusmpp::types::{AnyOctetString, OctetString};
use smpp::rusmpp::values::{DataCoding, EsmClass, MessagePayload, Npi, RegisteredDelivery, Ton};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{CarrierConfig, LookupConfig, VerifierConfig};
use crate::metrics::labels::{Cause, Overload};
use crate::metrics::{Family, Metrics};
use crate::support::clock::{ms, now_ms};
use crate::support::msisdn::Msisdn;
use crate::support::sharded::Sharded;
use crate::support::warn::Throttled;
use breaker::{Breaker, BreakerState};
use control::{CallState, Control, LookupInfo};
use pool::{Pool, ReceiptEvent};

/// Capacity of the receipt channel from the pools to the flow layer.
const RECEIPT_QUEUE: usize = 65_536;

static LOOKUP_FAILED: Throttled = Throttled::new("lookup failed on every control plane", 5_000);

/// One carrier.
#[derive(Debug)]
pub(crate) struct Carrier {
    pub name: String,
    cfg: CarrierConfig,
    pool: Arc<Pool>,
    pub breaker: Breaker,
    control: Option<Control>,
}

/// Why a send did not go.
#[derive(Debug, Clone)]
pub(crate) struct SendError {
    pub cause: Cause,
    pub detail: String,
}

fn fail(cause: Cause, detail: impl Into<String>) -> SendError {
    SendError {
        cause,
        detail: detail.into(),
    }
}

/// Every carrier of the service.
#[derive(Debug)]
pub(crate) struct Carriers {
    list: Vec<Carrier>,
    lookup_cfg: LookupConfig,
    cache: Sharded<Msisdn, (u64, Arc<LookupInfo>)>,
    metrics: Arc<Metrics>,
}

impl Carriers {
    /// Starts the pools; receipts come out of the returned channel.
    pub(crate) fn start(
        cfg: &VerifierConfig,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) -> (Arc<Self>, mpsc::Receiver<ReceiptEvent>) {
        let (tx, rx) = mpsc::channel(RECEIPT_QUEUE);
        let list = cfg
            .carriers
            .iter()
            .enumerate()
            .map(|(i, c)| Carrier {
                name: c.name.clone(),
                cfg: c.clone(),
                pool: Pool::start(i, c, tx.clone(), stop.clone()),
                breaker: Breaker::new(&c.breaker),
                control: c
                    .control
                    .as_deref()
                    .map(|u| Control::new(u, c.control_token.as_deref(), cfg.lookup.timeout)),
            })
            .collect();
        let carriers = Arc::new(Self {
            list,
            lookup_cfg: cfg.lookup.clone(),
            cache: Sharded::default(),
            metrics,
        });
        (carriers, rx)
    }

    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|c| c.name == name)
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        &self.list[i].name
    }

    /// Submits `text` to `to` on carrier `i`; the message id, or why it did not go.
    pub(crate) async fn send_sms(
        &self,
        i: usize,
        to: Msisdn,
        text: &str,
    ) -> Result<String, SendError> {
        let c = &self.list[i];
        if !c.breaker.allow(now_ms()) {
            return Err(fail(Cause::BreakerOpen, format!("{} breaker open", c.name)));
        }
        let sm = submit_sm(&c.cfg.source, to, text)?;
        let result = match c.pool.submit(sm).await {
            None => Err(fail(
                Cause::BindLost,
                format!("no bind to {} is up", c.name),
            )),
            Some(Ok(r)) if r.status == CommandStatus::EsmeRok => match r.message_id {
                Some(id) => Ok(id),
                None => Err(fail(
                    Cause::SubmitError,
                    "submit_sm_resp without a message id",
                )),
            },
            Some(Ok(r))
                if matches!(
                    r.status,
                    CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful
                ) =>
            {
                Err(fail(Cause::Throttled, format!("{:?}", r.status)))
            }
            Some(Ok(r)) => Err(fail(Cause::SubmitError, format!("{:?}", r.status))),
            Some(Err(ClientError::Timeout { .. })) => {
                Err(fail(Cause::SubmitTimeout, "no submit_sm_resp in time"))
            }
            Some(Err(e)) => Err(fail(Cause::BindLost, e.to_string())),
        };
        match &result {
            Ok(_) => c.breaker.success(),
            // A refused number says nothing about the carrier's health.
            Err(e) if e.cause == Cause::SubmitError => {}
            Err(_) => c.breaker.failure(now_ms()),
        }
        result
    }

    /// Places a voice call through carrier `i`'s control plane; the call id.
    pub(crate) async fn call(
        &self,
        i: usize,
        to: Msisdn,
        from: &str,
        text: &str,
    ) -> Result<String, SendError> {
        let c = &self.list[i];
        let Some(control) = &c.control else {
            return Err(fail(
                Cause::CallFailed,
                format!("{} has no control plane", c.name),
            ));
        };
        if !c.breaker.allow(now_ms()) {
            return Err(fail(Cause::BreakerOpen, format!("{} breaker open", c.name)));
        }
        match control
            .place_call(to, from, text, c.cfg.voice_carrier.as_deref())
            .await
        {
            Ok(id) => {
                c.breaker.success();
                Ok(id)
            }
            Err(e) => {
                c.breaker.failure(now_ms());
                Err(fail(Cause::CallFailed, e))
            }
        }
    }

    /// Where call `id` placed through carrier `i` is.
    pub(crate) async fn call_state(&self, i: usize, id: &str) -> Result<CallState, String> {
        match &self.list[i].control {
            Some(control) => control.call_state(id).await,
            None => Err("no control plane".into()),
        }
    }

    /// What lookup says about `n` (cached); `None` when lookup is off or no control plane
    /// answered (counted).
    pub(crate) async fn lookup(&self, n: Msisdn) -> Option<Arc<LookupInfo>> {
        if !self.lookup_cfg.enabled {
            return None;
        }
        let now = now_ms();
        let ttl = ms(self.lookup_cfg.cache_ttl);
        if let Some((at, info)) = self.cache.shard(&n).get(&n)
            && now.saturating_sub(*at) < ttl
        {
            return Some(Arc::clone(info));
        }
        let info = self.ask(n).await?;
        self.remember(n, now, Arc::clone(&info), ttl);
        Some(info)
    }

    /// What lookup says about `n` now, asked of the control planes whatever the cache holds,
    /// and leaving no answer in the cache: any cached answer for `n` is dropped too.
    ///
    /// For a snapshot that later answers are compared with (a block-list entry's, taken when
    /// the number is listed): a cached answer would be older than the snapshot, and one left
    /// behind by it would serve the next start the snapshot's own state for `cache_ttl`, so a
    /// number recycled in between would read as unchanged.
    pub(crate) async fn lookup_uncached(&self, n: Msisdn) -> Option<Arc<LookupInfo>> {
        if !self.lookup_cfg.enabled {
            return None;
        }
        self.cache.shard(&n).remove(&n);
        self.ask(n).await
    }

    /// Asks the control planes in carrier order until one answers; `None` (counted, logged at
    /// most every 5 s) when none does.
    async fn ask(&self, n: Msisdn) -> Option<Arc<LookupInfo>> {
        let mut last = String::from("no carrier has a control plane");
        for c in &self.list {
            let Some(control) = &c.control else { continue };
            match control.lookup(n).await {
                Ok(info) => return Some(Arc::new(info)),
                Err(e) => last = e,
            }
        }
        self.metrics.overload(Overload::LookupUnavailable);
        LOOKUP_FAILED.warn(&last);
        None
    }

    fn remember(&self, n: Msisdn, now: u64, info: Arc<LookupInfo>, ttl: u64) {
        let per_shard = (self.lookup_cfg.cache_capacity / 64).max(1);
        let mut shard = self.cache.shard(&n);
        if shard.len() >= per_shard {
            // Full: drop what has expired, and if nothing has, any one entry.
            shard.retain(|_, (at, _)| now.saturating_sub(*at) < ttl);
            if shard.len() >= per_shard
                && let Some(k) = shard.keys().next().copied()
            {
                shard.remove(&k);
            }
        }
        shard.insert(n, (now, info));
    }

    /// The open-SMS numbers every control plane publishes.
    pub(crate) async fn open_sms_numbers(&self) -> Result<Vec<Msisdn>, String> {
        let mut all = Vec::new();
        let mut answered = false;
        let mut last = String::from("no carrier has a control plane");
        for c in &self.list {
            let Some(control) = &c.control else { continue };
            match control.open_sms_numbers().await {
                Ok(list) => {
                    answered = true;
                    all.extend(list);
                }
                Err(e) => last = e,
            }
        }
        all.sort_unstable();
        all.dedup();
        if answered { Ok(all) } else { Err(last) }
    }

    /// Breaker state and binds up, per carrier, as gauges.
    pub(crate) fn gauges(&self) -> Vec<Family> {
        let per = |f: &dyn Fn(&Carrier) -> f64| {
            self.list
                .iter()
                .map(|c| (format!("carrier=\"{}\"", c.name), f(c)))
                .collect()
        };
        vec![
            Family::gauge(
                "verifier_breaker_state",
                "Circuit breaker per carrier: 0 closed, 1 half-open, 2 open.",
                per(&|c| c.breaker.state().gauge()),
            ),
            Family::gauge(
                "verifier_binds_up",
                "SMPP binds up per carrier.",
                per(&|c| c.pool.connected() as f64),
            ),
        ]
    }

    /// Each carrier's name, breaker state and binds up.
    pub(crate) fn states(&self) -> Vec<(String, BreakerState, usize)> {
        self.list
            .iter()
            .map(|c| (c.name.clone(), c.breaker.state(), c.pool.connected()))
            .collect()
    }

    /// Unbinds every pool.
    pub(crate) async fn unbind(&self) {
        futures::future::join_all(self.list.iter().map(|c| c.pool.unbind())).await;
    }
}

/// The submit_sm of one code message: alphanumeric or numeric sender, international
/// destination, a final receipt requested, GSM 7-bit when the text allows it (UCS-2
/// otherwise), and `message_payload` for a text too long for one `short_message`.
fn submit_sm(source: &str, to: Msisdn, text: &str) -> Result<SubmitSm, SendError> {
    let encoding = smpp::text::best_encoding(text);
    let bytes =
        smpp::text::encode(text, encoding).map_err(|e| fail(Cause::SubmitError, e.to_string()))?;
    let numeric = source.bytes().all(|b| b.is_ascii_digit() || b == b'+');
    let (ton, npi) = if numeric {
        (Ton::International, Npi::Isdn)
    } else {
        (Ton::Alphanumeric, Npi::Unknown)
    };
    let dest = to.to_string();
    let one_part = if encoding == smpp::text::Encoding::Ucs2 {
        140
    } else {
        160
    };
    let builder = SubmitSm::builder()
        .source_addr_ton(ton)
        .source_addr_npi(npi)
        .source_addr(smpp::pdu::c_string::<21>(smpp::number::normalize(source)))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(smpp::pdu::c_string::<21>(&dest))
        .esm_class(EsmClass::from(0)) // rusmpp's default encodes as 0x08
        .registered_delivery(RegisteredDelivery::from(1))
        .data_coding(DataCoding::from(encoding.data_coding()));
    let sm = if bytes.len() <= one_part {
        let short =
            OctetString::from_vec(bytes).map_err(|e| fail(Cause::SubmitError, e.to_string()))?;
        builder.short_message(short).build()
    } else {
        builder
            .push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
                MessagePayload::new(AnyOctetString::from_vec(bytes)),
            ))
            .build()
    };
    Ok(sm)
}
