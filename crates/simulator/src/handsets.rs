//! Virtual handsets: a bounded inbox per number that received something.
