//! The event stream: bounded fan-out of carrier events to WebSocket subscribers.
