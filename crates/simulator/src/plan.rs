//! The number plan: ranges of numbers with their country, network, line type, flags and prices.
