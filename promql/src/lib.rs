//! PromQL for Strata (being written).
