//! temp
#![allow(dead_code)]
mod carriers;
pub mod config;
mod metrics;
mod otp;
mod support;
