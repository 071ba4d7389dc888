//! Token-bucket throttling per account and per carrier.
