//! Errors as the browser package's JavaScript layer receives them: plain objects
//! `{class, kind, message, status, type, code, param, retryAfterMs, target,
//! attempts, trace}`, from which `js/index.js` makes an `Error` subclass by
//! `class`. Built here, once, from what the session answered.

use super::ApiError;
use crate::failure::FailureKind;
use crate::run::{AttemptRecord, FallbackRun, TraceEvent};
use crate::session::ClientResponse;
use serde::Serialize;
use serde_json::Value;

/// Which `Error` subclass the JS layer throws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// `ConfigError`: the config or the options are invalid.
    Config,
    /// `RequestError`: the request is invalid (refused before any upstream call, or
    /// an upstream's request error passed on as it came).
    Request,
    /// `UpstreamError`: no target could answer.
    Upstream,
    /// `StreamError`: the stream failed after it started and nothing could finish it.
    Stream,
    /// `AbortError`: the caller's signal fired.
    Aborted,
    /// `FailoverError`: a bug.
    #[default]
    Internal,
}

/// One error for the JS layer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    /// The subclass.
    pub class: ErrorClass,
    /// A failure kind, or `invalid_config`, `aborted`, …
    pub kind: String,
    /// What happened (keys redacted).
    pub message: String,
    /// The HTTP status the Worker answers with.
    pub status: Option<u16>,
    /// OpenAI's `error.type`.
    #[serde(rename = "type")]
    pub error_type: Option<String>,
    /// OpenAI's `error.code`.
    pub code: Option<String>,
    /// OpenAI's `error.param`.
    pub param: Option<String>,
    /// When to retry.
    pub retry_after_ms: Option<u64>,
    /// `provider/model` of the target that was answering (stream errors).
    pub target: Option<String>,
    /// The attempts made.
    pub attempts: Option<Vec<AttemptRecord>>,
    /// The decision trace.
    pub trace: Option<Vec<TraceEvent>>,
}

impl ErrorReport {
    /// An error of `class` with `kind` and `message`.
    pub fn new(class: ErrorClass, kind: &str, message: impl Into<String>) -> ErrorReport {
        ErrorReport {
            class,
            kind: kind.to_string(),
            message: message.into(),
            ..ErrorReport::default()
        }
    }

    /// A request refused before any upstream call.
    pub fn from_api(class: ErrorClass, e: &ApiError) -> ErrorReport {
        ErrorReport {
            class,
            kind: e.code.clone().unwrap_or_else(|| "invalid_request".into()),
            message: e.message.clone(),
            status: Some(e.status),
            error_type: Some(e.kind.to_string()),
            code: e.code.clone(),
            param: e.param.clone(),
            ..ErrorReport::default()
        }
    }

    /// A failed run's response: the same status and body the Worker answers.
    pub fn from_response(r: &ClientResponse) -> ErrorReport {
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let err = &body["error"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        let (kind, code, message, retry) = match &r.failure {
            Some(f) => (f.kind, f.code(), f.message.clone(), f.retry_after_ms),
            None => (FailureKind::Unknown, "unknown", String::new(), None),
        };
        ErrorReport {
            class: if kind.is_request_error() {
                ErrorClass::Request
            } else {
                ErrorClass::Upstream
            },
            kind: kind.as_str().to_string(),
            message: text(&err["message"])
                .or_else(|| text(&body["message"]))
                .unwrap_or(message),
            status: Some(r.status),
            error_type: text(&err["type"]),
            code: text(&err["code"]).or_else(|| Some(code.to_string())),
            param: text(&err["param"]),
            retry_after_ms: retry,
            ..ErrorReport::default()
        }
    }

    /// With the run's attempts and trace.
    pub fn with_run(mut self, run: &FallbackRun) -> ErrorReport {
        self.attempts = Some(run.attempts().to_vec());
        self.trace = Some(run.trace().to_vec());
        self
    }

    /// As JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"class":"internal","kind":"internal","message":"unserialisable error"}"#.into()
        })
    }
}
