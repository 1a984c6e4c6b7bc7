//! What evaluation produces.

use strata_engine::{Labels, Sample};

/// One series of an instant-vector result, with a value (or none) at every
/// step of the query.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Prometheus' delayed name removal: `__name__` is dropped at the end of
    /// evaluation rather than where the function or operator ran.
    pub drop_name: bool,
    /// One entry per query step.
    pub points: Vec<Option<f64>>,
}

/// One series of a range-vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples, oldest first.
    pub samples: Vec<Sample>,
}

/// The value of an expression over all steps of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number per step.
    Scalar(Vec<f64>),
    /// Series with a value per step.
    Vector(Vec<StepSeries>),
    /// A range vector (only as the result of an instant query).
    Matrix(Vec<RangeSeries>),
    /// A string.
    String(String),
}
