//! Latency distributions (fixed, uniform, normal, log-normal, Pareto, empirical) with clamps,
//! and the seeded per-message random streams the behaviour engine draws from.
