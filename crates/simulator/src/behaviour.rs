//! Behaviour configuration: what a carrier, account or number range does to messages and calls.
