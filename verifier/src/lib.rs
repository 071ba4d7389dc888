//! temp
#![allow(dead_code)]
mod carriers;
pub mod config;
mod flow;
mod guard;
mod metrics;
mod otp;
mod support;
