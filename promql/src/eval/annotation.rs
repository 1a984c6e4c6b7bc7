//! Warnings and infos a query reports alongside its result, as Prometheus'
//! annotations (`PromQL warning: ...`, `PromQL info: ...`).

use std::fmt;

/// How serious an annotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationKind {
    /// The result may be wrong or meaningless.
    Warning,
    /// Worth knowing; the result is as asked.
    Info,
}

/// One annotation, worded as Prometheus words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Warning or info.
    pub kind: AnnotationKind,
    /// The message, without the `PromQL warning: ` prefix.
    pub message: String,
    /// Where the expression it is about starts in the query.
    pub position: Option<crate::Position>,
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            AnnotationKind::Warning => write!(f, "PromQL warning: {}", self.message)?,
            AnnotationKind::Info => write!(f, "PromQL info: {}", self.message)?,
        }
        match self.position {
            Some(p) => write!(f, " ({p})"),
            None => Ok(()),
        }
    }
}

/// Go's `%g` for the numbers annotation texts quote.
pub(crate) fn go_g(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}
