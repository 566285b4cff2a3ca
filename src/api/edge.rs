//! The HTTP edge's rules, host-independent: which endpoint a request is, whether
//! it may use it, which CORS headers it gets, and the one log line per request.

use super::{authorized, ApiError, ClientApi};
use crate::redact::Redactor;
use crate::run::{FallbackRun, RunResult};
use serde_json::json;

/// What a client may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST` of a client API: chat completions, messages, responses, embeddings.
    Client(ClientApi),
    /// `GET /v1/models`.
    Models,
    /// `GET /v1/status`.
    Status,
    /// `GET /health` (no token needed).
    Health,
    /// `OPTIONS *` (CORS preflight).
    Preflight,
}

impl Endpoint {
    /// The endpoint needs the gateway token.
    pub fn needs_token(self) -> bool {
        !matches!(self, Endpoint::Health | Endpoint::Preflight)
    }
}

const ROUTES: [(&str, &str, Endpoint); 7] = [
    (
        "POST",
        "/v1/chat/completions",
        Endpoint::Client(ClientApi::Chat),
    ),
    (
        "POST",
        "/v1/messages",
        Endpoint::Client(ClientApi::Messages),
    ),
    (
        "POST",
        "/v1/responses",
        Endpoint::Client(ClientApi::Responses),
    ),
    (
        "POST",
        "/v1/embeddings",
        Endpoint::Client(ClientApi::Embeddings),
    ),
    ("GET", "/v1/models", Endpoint::Models),
    ("GET", "/v1/status", Endpoint::Status),
    ("GET", "/health", Endpoint::Health),
];

/// The endpoint of `method path`, or the 404 / 405 to answer.
pub fn endpoint(method: &str, path: &str) -> Result<Endpoint, ApiError> {
    if method.eq_ignore_ascii_case("OPTIONS") {
        return Ok(Endpoint::Preflight);
    }
    let mut path_known = false;
    for (m, p, e) in ROUTES {
        if p == path {
            if m.eq_ignore_ascii_case(method) {
                return Ok(e);
            }
            path_known = true;
        }
    }
    if path_known {
        return Err(ApiError::new(
            405,
            "invalid_request_error",
            format!("method {method} is not allowed on {path}"),
        ));
    }
    let api: Vec<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    Err(ApiError::new(
        404,
        "invalid_request_error",
        format!("no route for {path}; the API is {}", api.join(", ")),
    )
    .code("not_found"))
}

/// Gateway auth. `tokens` is the comma-separated list the operator set (empty:
/// none); `allow_unauthenticated` is the operator's explicit opt-out.
pub fn check_token(
    authorization: Option<&str>,
    x_api_key: Option<&str>,
    tokens: &str,
    allow_unauthenticated: bool,
) -> Result<(), ApiError> {
    let tokens: Vec<&str> = tokens
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        if allow_unauthenticated {
            return Ok(());
        }
        return Err(ApiError::new(
            500,
            "server_error",
            "gateway has no GATEWAY_TOKENS secret; set one (or ALLOW_UNAUTHENTICATED=true for local development)",
        )
        .code("auth_not_configured"));
    }
    if authorized(authorization, x_api_key, &tokens) {
        Ok(())
    } else {
        Err(ApiError::new(
            401,
            "authentication_error",
            "missing or invalid gateway token: send `Authorization: Bearer <token>` (or `x-api-key: <token>`)",
        )
        .code("invalid_api_key"))
    }
}

/// The CORS headers for a request from `origin` when `allowed` is `*` or a
/// comma-separated list of origins (none for an origin not on the list).
pub fn cors_headers(origin: Option<&str>, allowed: &str) -> Vec<(&'static str, String)> {
    let allow = if allowed.trim() == "*" {
        Some("*".to_string())
    } else {
        origin
            .filter(|o| allowed.split(',').any(|a| a.trim() == *o))
            .map(str::to_string)
    };
    let Some(allow) = allow else {
        return Vec::new();
    };
    vec![
        ("access-control-allow-origin", allow),
        ("vary", "origin".into()),
        ("access-control-allow-methods", "GET, POST, OPTIONS".into()),
        (
            "access-control-allow-headers",
            "authorization, content-type, x-api-key, anthropic-version, anthropic-beta, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout".into(),
        ),
        (
            "access-control-expose-headers",
            "x-llm-failover-target, x-llm-failover-attempts, retry-after".into(),
        ),
        ("access-control-max-age", "600".into()),
    ]
}

/// How loud a request's log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogLevel {
    /// Something failed (an attempt, or the request): always logged.
    Warn,
    /// A plain success: logged at `LOG_LEVEL` `info` or `debug`.
    Info,
}

/// The one log line of a request: JSON with the chain, the attempts and the
/// result (and the trace when something failed, or at `debug`), keys redacted.
/// `None` for a plain success below `info`.
pub fn request_log(
    run: &FallbackRun,
    redactor: &Redactor,
    log_level: &str,
) -> Option<(LogLevel, String)> {
    let failed = run.attempts().iter().any(|a| a.kind.is_some())
        || !matches!(run.result(), Some(RunResult::Success { .. }));
    let verbose = matches!(log_level, "info" | "debug");
    if !failed && !verbose {
        return None;
    }
    let mut line = json!({
        "llm_failover": "request",
        "chain": run.chain().name,
        "attempts": super::attempts_header(run.attempts()),
        "result": run.result(),
    });
    if failed || log_level == "debug" {
        line["trace"] = serde_json::to_value(run.trace()).unwrap_or_default();
    }
    let level = if failed {
        LogLevel::Warn
    } else {
        LogLevel::Info
    };
    Some((level, redactor.redact(&line.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn routes_methods_and_unknown_paths() {
        assert_eq!(
            endpoint("POST", "/v1/chat/completions"),
            Ok(Endpoint::Client(ClientApi::Chat))
        );
        assert_eq!(
            endpoint("POST", "/v1/messages"),
            Ok(Endpoint::Client(ClientApi::Messages))
        );
        assert_eq!(endpoint("get", "/v1/models"), Ok(Endpoint::Models));
        assert_eq!(endpoint("OPTIONS", "/anything"), Ok(Endpoint::Preflight));
        assert_eq!(
            endpoint("GET", "/v1/chat/completions").unwrap_err().status,
            405
        );
        let e = endpoint("GET", "/v2/x").unwrap_err();
        assert_eq!((e.status, e.code.as_deref()), (404, Some("not_found")));
        assert!(e.message.contains("POST /v1/chat/completions"));
        assert!(Endpoint::Models.needs_token() && !Endpoint::Health.needs_token());
    }

    #[test]
    fn tokens_in_any_scheme_case_or_x_api_key() {
        assert!(check_token(Some("BEARER t1"), None, "t0, t1", false).is_ok());
        assert!(check_token(None, Some("t0"), "t0", false).is_ok());
        assert_eq!(
            check_token(Some("Bearer x"), None, "t0", false)
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(check_token(None, None, "", false).unwrap_err().status, 500);
        assert!(check_token(None, None, " , ", true).is_ok());
    }

    #[test]
    fn cors_for_listed_origins_only() {
        assert_eq!(cors_headers(None, "*")[0].1, "*");
        assert!(cors_headers(Some("https://a.test"), "https://b.test").is_empty());
        assert_eq!(
            cors_headers(Some("https://a.test"), "https://b.test, https://a.test")[0].1,
            "https://a.test"
        );
    }
}
