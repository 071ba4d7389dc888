//! Reading the virtual handsets: what reached each phone (the code) and the carrier's delivery
//! receipts, from carrier-sim's in-process feed (embedded) or its WebSocket event stream
//! (`GET /v1/events`, external), both giving the same [`Event`]s; and reading a code off a
//! message ([`code_in`]).
//!
//! A stream that falls behind is told how many events it missed (`lagged`): those deliveries
//! are lost to the run, which counts them and says so, rather than waiting on them forever.

use std::sync::Arc;

use futures::StreamExt;
use simulator::{Event, EventFilter, EventKind, Subscription};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The event types a run reads: what reached the phones, the receipts, and what the carrier
/// billed (accepted messages and ended calls, with their price).
pub const TYPES: &str = "handset_delivered,receipt_sent,message_accepted,call";

/// A stream of handset deliveries and receipts.
#[derive(Debug)]
pub enum Handsets {
    /// The embedded carrier's in-process feed.
    Feed(Subscription),
    /// A running carrier-sim's WebSocket stream.
    Socket(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
}

/// The filter of the stream: deliveries, receipts and billing, every number.
pub fn filter() -> EventFilter {
    EventFilter {
        prefixes: Vec::new(),
        types: TYPES.split(',').map(str::to_string).collect(),
        carrier: None,
    }
}

/// Why the stream could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {message}")]
pub struct StreamError {
    /// The URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

impl Handsets {
    /// Subscribes to a running carrier-sim's event stream; once this returns, every event the
    /// carrier publishes is on the stream.
    pub async fn connect(control: &str, token: Option<&str>) -> Result<Self, StreamError> {
        let base = control.trim_end_matches('/');
        let url = if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}/v1/events?type={TYPES}")
        } else {
            return Err(StreamError {
                url: base.to_string(),
                message: "the event stream is read over ws:// from an http:// control plane".into(),
            });
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| StreamError {
                url: url.clone(),
                message: e.to_string(),
            })?;
        if let Some(t) = token {
            let value = super::control::bearer(t).map_err(|message| StreamError {
                url: url.clone(),
                message,
            })?;
            let value =
                tokio_tungstenite::tungstenite::http::HeaderValue::from_bytes(value.as_bytes())
                    .map_err(|e| StreamError {
                        url: url.clone(),
                        message: e.to_string(),
                    })?;
            request.headers_mut().insert("authorization", value);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| StreamError {
                url: url.clone(),
                message: e.to_string(),
            })?;
        Ok(Handsets::Socket(Box::new(ws)))
    }

    /// The next event, or `None` when the stream has ended. A message that is not an event is
    /// skipped (and counted by the caller as nothing: the carrier only sends events).
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        match self {
            Handsets::Feed(s) => s.next_shared().await,
            Handsets::Socket(ws) => loop {
                match ws.next().await? {
                    Ok(Message::Text(t)) => match serde_json::from_str::<Event>(&t) {
                        Ok(e) => return Some(Arc::new(e)),
                        // The carrier only sends events; anything else is not ours to read.
                        Err(_) => continue,
                    },
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => continue,
                }
            },
        }
    }
}

/// What the run needs of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen<'a> {
    /// A message or call reached a phone.
    Delivered {
        /// The number, as digits.
        to: u64,
        /// Message or call id.
        message_id: &'a str,
        /// `sms` or `voice`.
        channel: &'static str,
        /// The carrier that delivered it.
        carrier: Option<&'a str>,
        /// What the phone shows.
        text: &'a str,
    },
    /// The carrier sent a delivery receipt.
    Receipt {
        /// The message it is for.
        message_id: &'a str,
        /// Its `stat:`.
        stat: &'a str,
        /// A deliberate duplicate.
        duplicate: bool,
    },
    /// The carrier billed a message submitted to `to`, or a call to it that ended (`call`).
    Billed {
        /// The number, as digits.
        to: u64,
        /// What it was billed, in the plan's currency.
        price: f64,
        /// A call (else a message).
        call: bool,
    },
    /// The stream missed this many events.
    Lagged(u64),
    /// Anything else.
    Other,
}

/// Reads an event.
pub fn seen(e: &Event) -> Seen<'_> {
    match &e.kind {
        EventKind::HandsetDelivered {
            message_id,
            to,
            channel,
            text,
            ..
        } => {
            let digits = smpp::number::normalize(to);
            match digits.parse::<u64>() {
                Ok(to) => Seen::Delivered {
                    to,
                    message_id,
                    channel: match channel {
                        simulator::Channel::Sms => "sms",
                        simulator::Channel::Voice => "voice",
                    },
                    carrier: e.carrier.as_deref(),
                    text,
                },
                Err(_) => Seen::Other,
            }
        }
        EventKind::ReceiptSent {
            message_id,
            stat,
            duplicate,
            ..
        } => Seen::Receipt {
            message_id,
            stat,
            duplicate: *duplicate,
        },
        EventKind::MessageAccepted { to, price, .. } => billed(to, *price, false),
        EventKind::Call {
            to,
            price: Some(price),
            ..
        } => billed(to, *price, true),
        EventKind::Lagged { missed } => Seen::Lagged(*missed),
        _ => Seen::Other,
    }
}

fn billed(to: &str, price: f64, call: bool) -> Seen<'_> {
    match smpp::number::normalize(to).parse::<u64>() {
        Ok(to) => Seen::Billed { to, price, call },
        Err(_) => Seen::Other,
    }
}

/// The code in a message: the first group of `min..=max` digits, written together (`123456 is
/// your code`) or spaced one by one as a voice call reads them (`1 2 3 4 5 6`).
pub fn code_in(text: &str, min: usize, max: usize) -> Option<String> {
    let mut spaced = String::new();
    for token in text.split_whitespace() {
        let word = token.trim_end_matches(|c: char| c.is_ascii_punctuation());
        let ends = word.len() != token.len();
        let digits = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
        if digits && word.len() == 1 {
            spaced.push_str(word);
            if ends {
                // `... 5 6.`: the spoken code ends at the punctuation.
                if (min..=max).contains(&spaced.len()) {
                    return Some(spaced);
                }
                spaced.clear();
            }
            continue;
        }
        if (min..=max).contains(&spaced.len()) {
            return Some(spaced);
        }
        spaced.clear();
        // A leading code may be glued to punctuation (`123456,`); take the digits up front.
        let lead: String = token.chars().take_while(char::is_ascii_digit).collect();
        if lead.len() == word.len() && (min..=max).contains(&lead.len()) {
            return Some(lead);
        }
    }
    (min..=max).contains(&spaced.len()).then_some(spaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_a_phone_shows_them() {
        let c = |t: &str| code_in(t, 4, 10);
        assert_eq!(
            c("123456 is your Testbed verification code. It expires in 5 minutes."),
            Some("123456".into())
        );
        assert_eq!(
            c("Your Testbed verification code is: 1 2 3 4 5 6. Again: 1 2 3 4 5 6."),
            Some("123456".into())
        );
        assert_eq!(
            c("123456 is your Acme code to approve €10.00 to Shop. Do not share it."),
            Some("123456".into())
        );
        assert_eq!(c("Your code: 4821."), Some("4821".into()));
        assert_eq!(c("Hi 12 and 3 but no code"), None);
        assert_eq!(c("Code 12345678901 is too long"), None);
        assert_eq!(c("1 2 3"), None);
    }
}
