//! The WebAssembly component (feature `component`): the WIT world `failover` of
//! `wit/llm-failover.wit`, implemented over the same core as every other host.
//!
//! Built for `wasm32-wasip2` by `scripts/build-component` into
//! `build/component/llm_failover.wasm` (see `docs/COMPONENT.md`). This module only
//! converts between the WIT types and the core's: every decision is the core's.
//! Nothing here panics on input: unknown `other` cases and bad JSON come back as
//! `error` values.

use crate::classify::{self, Classification, FailureKind, Outcome, Scope, TransportFailure};
use crate::config::{Config, ConfigError, RouteError};
use crate::cooldown::{CooldownTable, Entry, ScopeKey, ScopeState, Snapshot};
use crate::provider::Dialect;
use crate::run::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, AttemptRecord, FallbackRun, RunError,
    RunFailure, RunOptions, RunResult, TraceEvent,
};
use std::cell::RefCell;
use std::rc::Rc;

/// The bindings wit-bindgen generates from `wit/`, and the export glue. The glue is
/// the only `unsafe` code of the crate (the canonical ABI's raw pointers), so it is
/// allowed here and nowhere else.
#[allow(unsafe_code)]
mod bindings {
    use super::Component;

    wit_bindgen::generate!({
        path: "wit",
        world: "failover",
    });

    export!(Component);
}

use bindings::exports::llm_failover::core::types as wit;
use bindings::exports::llm_failover::core::{classifier, cooldowns, fallback};

/// The component: its exports are implemented on this type.
struct Component;

// ---------------------------------------------------------------------------
// Errors.

fn error(kind: wit::ErrorKind, message: impl Into<String>) -> wit::Error {
    wit::Error {
        kind,
        message: message.into(),
    }
}

fn unsupported(message: impl Into<String>) -> wit::Error {
    error(wit::ErrorKind::Unsupported, message)
}

fn config_error(e: ConfigError) -> wit::Error {
    let message = e.to_string();
    error(wit::ErrorKind::InvalidConfig(e.path), message)
}

fn route_error(e: RouteError) -> wit::Error {
    let message = e.to_string();
    match e {
        RouteError::Unknown { valid, .. } => error(wit::ErrorKind::UnknownModel(valid), message),
        RouteError::NoConcreteModel { .. } => error(wit::ErrorKind::NoConcreteModel, message),
    }
}

fn run_error(e: RunError) -> wit::Error {
    let message = e.to_string();
    match e {
        RunError::NotInFlight(a) => error(wit::ErrorKind::NotInFlight(a.0), message),
        RunError::Finished => error(wit::ErrorKind::Finished, message),
    }
}

/// Reads a snake_case name (an `other` case) with the core's serde names.
fn by_name<T: serde::de::DeserializeOwned>(what: &str, name: &str) -> Result<T, wit::Error> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| unsupported(format!("unknown {what} `{name}`")))
}

// ---------------------------------------------------------------------------
// Core -> WIT.

fn dialect_to_wit(d: Dialect) -> wit::Dialect {
    match d {
        Dialect::OpenAi => wit::Dialect::Openai,
        Dialect::Azure => wit::Dialect::Azure,
        Dialect::Anthropic => wit::Dialect::Anthropic,
        Dialect::Gemini => wit::Dialect::Gemini,
        Dialect::OpenRouter => wit::Dialect::Openrouter,
        Dialect::Groq => wit::Dialect::Groq,
        Dialect::DeepSeek => wit::Dialect::Deepseek,
        Dialect::Together => wit::Dialect::Together,
        Dialect::Mistral => wit::Dialect::Mistral,
        Dialect::Vllm => wit::Dialect::Vllm,
        Dialect::Ollama => wit::Dialect::Ollama,
        Dialect::OpenAiCompatible => wit::Dialect::OpenaiCompatible,
    }
}

fn kind_to_wit(k: FailureKind) -> wit::FailureKind {
    match k {
        FailureKind::Auth => wit::FailureKind::Auth,
        FailureKind::QuotaExhausted => wit::FailureKind::QuotaExhausted,
        FailureKind::RateLimited => wit::FailureKind::RateLimited,
        FailureKind::Overloaded => wit::FailureKind::Overloaded,
        FailureKind::ServerError => wit::FailureKind::ServerError,
        FailureKind::Timeout => wit::FailureKind::Timeout,
        FailureKind::Connection => wit::FailureKind::Connection,
        FailureKind::ContextLength => wit::FailureKind::ContextLength,
        FailureKind::ContentFiltered => wit::FailureKind::ContentFiltered,
        FailureKind::ModelNotFound => wit::FailureKind::ModelNotFound,
        FailureKind::InvalidRequest => wit::FailureKind::InvalidRequest,
        FailureKind::RequestTooLarge => wit::FailureKind::RequestTooLarge,
        FailureKind::InvalidResponse => wit::FailureKind::InvalidResponse,
        FailureKind::Unknown => wit::FailureKind::Unknown,
    }
}

fn scope_to_wit(s: Scope) -> wit::Scope {
    match s {
        Scope::Key => wit::Scope::Key,
        Scope::KeyModel => wit::Scope::KeyModel,
        Scope::Model => wit::Scope::Model,
        Scope::Endpoint => wit::Scope::Endpoint,
        Scope::Request => wit::Scope::Request,
    }
}

fn classification_to_wit(c: Classification) -> wit::Classification {
    wit::Classification {
        kind: kind_to_wit(c.kind),
        retry_after_ms: c.retry_after_ms,
        scope: scope_to_wit(c.scope),
        reason: c.reason,
        status: c.status,
    }
}

fn entry_to_wit(scope: ScopeKey, e: Entry) -> wit::CooldownEntry {
    wit::CooldownEntry {
        scope: scope.0,
        until: e.until,
        since: e.since,
        streak: e.streak,
        kind: e.kind.map(kind_to_wit),
        reason: e.reason,
    }
}

fn snapshot_to_wit(s: Snapshot) -> wit::Snapshot {
    wit::Snapshot {
        entries: s
            .entries
            .into_iter()
            .map(|(k, e)| entry_to_wit(k, e))
            .collect(),
    }
}

fn scope_state_to_wit(s: ScopeState) -> wit::ScopeState {
    match s {
        ScopeState::Closed => wit::ScopeState::Closed,
        ScopeState::Open { until } => wit::ScopeState::Open(until),
        ScopeState::HalfOpen { probe_until } => wit::ScopeState::HalfOpen(probe_until),
    }
}

fn plan_to_wit(p: AttemptPlan) -> fallback::AttemptPlan {
    fallback::AttemptPlan {
        attempt: p.attempt.0,
        // A chain has at most a few targets; saturate rather than wrap.
        target: u32::try_from(p.target).unwrap_or(u32::MAX),
        provider: p.provider,
        dialect: dialect_to_wit(p.dialect),
        base_url: p.base_url,
        model: p.model,
        key: p.key,
        api_version: p.api_version,
        stream: p.stream,
        header_timeout_ms: p.header_timeout_ms,
        first_token_timeout_ms: p.first_token_timeout_ms,
        idle_timeout_ms: p.idle_timeout_ms,
        deadline: p.deadline,
        probe: p.probe,
    }
}

fn failure_to_wit(f: RunFailure) -> fallback::RunFailure {
    fallback::RunFailure {
        kind: kind_to_wit(f.kind),
        message: f.message,
        http_status: f.http_status,
        propagate: f.propagate.map(|a| a.0),
        after_commit: f.after_commit,
        retry_after_ms: f.retry_after_ms,
    }
}

fn result_to_wit(r: RunResult) -> fallback::RunResult {
    match r {
        RunResult::Success {
            attempt,
            provider,
            model,
        } => fallback::RunResult::Success(fallback::RunSuccess {
            attempt: attempt.0,
            provider,
            model,
        }),
        RunResult::Failed(f) => fallback::RunResult::Failed(failure_to_wit(f)),
    }
}

fn action_to_wit(a: Action) -> fallback::Action {
    match a {
        Action::Send(plan) => fallback::Action::Send(plan_to_wit(plan)),
        Action::Wait { until } => fallback::Action::Wait(until),
        Action::Finished(r) => fallback::Action::Finished(result_to_wit(r)),
    }
}

fn event_to_wit(e: TraceEvent) -> fallback::TraceEvent {
    use fallback::TraceEvent as W;
    match e {
        TraceEvent::Skip {
            at,
            provider,
            model,
            key,
            why,
        } => W::Skip(fallback::SkipEvent {
            at,
            provider,
            model,
            key,
            why,
        }),
        TraceEvent::Send {
            at,
            attempt,
            provider,
            model,
            key,
            probe,
        } => W::Send(fallback::SendEvent {
            at,
            attempt: attempt.0,
            provider,
            model,
            key,
            probe,
        }),
        TraceEvent::Committed { at, attempt } => W::Committed(fallback::CommittedEvent {
            at,
            attempt: attempt.0,
        }),
        TraceEvent::Failure {
            at,
            attempt,
            kind,
            scope,
            status,
            retry_after_ms,
            reason,
        } => W::Failure(fallback::FailureEvent {
            at,
            attempt: attempt.0,
            kind: kind_to_wit(kind),
            scope: scope_to_wit(scope),
            status,
            retry_after_ms,
            reason,
        }),
        TraceEvent::Retry {
            at,
            attempt,
            until,
            why,
        } => W::Retry(fallback::RetryEvent {
            at,
            attempt: attempt.0,
            until,
            why,
        }),
        TraceEvent::CooledDown {
            at,
            scope,
            until,
            kind,
        } => W::CooledDown(fallback::CooledDownEvent {
            at,
            scope,
            until,
            kind: kind_to_wit(kind),
        }),
        TraceEvent::Wait { at, until, why } => W::Wait(fallback::WaitEvent { at, until, why }),
        TraceEvent::Success {
            at,
            attempt,
            provider,
            model,
        } => W::Success(fallback::SuccessEvent {
            at,
            attempt: attempt.0,
            provider,
            model,
        }),
        TraceEvent::Finished {
            at,
            result,
            kind,
            message,
        } => W::Finished(fallback::FinishedEvent {
            at,
            result,
            kind: kind.map(kind_to_wit),
            message,
        }),
    }
}

fn record_to_wit(r: AttemptRecord) -> fallback::AttemptRecord {
    fallback::AttemptRecord {
        attempt: r.attempt.0,
        provider: r.provider,
        model: r.model,
        key: r.key,
        started_at: r.started_at,
        ended_at: r.ended_at,
        kind: r.kind.map(kind_to_wit),
        status: r.status,
    }
}

// ---------------------------------------------------------------------------
// WIT -> core.

fn dialect_from_wit(d: wit::Dialect) -> Result<Dialect, wit::Error> {
    Ok(match d {
        wit::Dialect::Openai => Dialect::OpenAi,
        wit::Dialect::Azure => Dialect::Azure,
        wit::Dialect::Anthropic => Dialect::Anthropic,
        wit::Dialect::Gemini => Dialect::Gemini,
        wit::Dialect::Openrouter => Dialect::OpenRouter,
        wit::Dialect::Groq => Dialect::Groq,
        wit::Dialect::Deepseek => Dialect::DeepSeek,
        wit::Dialect::Together => Dialect::Together,
        wit::Dialect::Mistral => Dialect::Mistral,
        wit::Dialect::Vllm => Dialect::Vllm,
        wit::Dialect::Ollama => Dialect::Ollama,
        wit::Dialect::OpenaiCompatible => Dialect::OpenAiCompatible,
        wit::Dialect::Other(name) => Dialect::from_name(&name)
            .ok_or_else(|| unsupported(format!("unknown dialect `{name}`")))?,
    })
}

fn kind_from_wit(k: wit::FailureKind) -> Result<FailureKind, wit::Error> {
    Ok(match k {
        wit::FailureKind::Auth => FailureKind::Auth,
        wit::FailureKind::QuotaExhausted => FailureKind::QuotaExhausted,
        wit::FailureKind::RateLimited => FailureKind::RateLimited,
        wit::FailureKind::Overloaded => FailureKind::Overloaded,
        wit::FailureKind::ServerError => FailureKind::ServerError,
        wit::FailureKind::Timeout => FailureKind::Timeout,
        wit::FailureKind::Connection => FailureKind::Connection,
        wit::FailureKind::ContextLength => FailureKind::ContextLength,
        wit::FailureKind::ContentFiltered => FailureKind::ContentFiltered,
        wit::FailureKind::ModelNotFound => FailureKind::ModelNotFound,
        wit::FailureKind::InvalidRequest => FailureKind::InvalidRequest,
        wit::FailureKind::RequestTooLarge => FailureKind::RequestTooLarge,
        wit::FailureKind::InvalidResponse => FailureKind::InvalidResponse,
        wit::FailureKind::Unknown => FailureKind::Unknown,
        wit::FailureKind::Other(name) => by_name("failure kind", &name)?,
    })
}

fn transport_from_wit(t: wit::TransportFailure) -> Result<TransportFailure, wit::Error> {
    Ok(match t {
        wit::TransportFailure::ConnectionRefused => TransportFailure::ConnectionRefused,
        wit::TransportFailure::Dns => TransportFailure::Dns,
        wit::TransportFailure::ResetBeforeHeaders => TransportFailure::ResetBeforeHeaders,
        wit::TransportFailure::Tls => TransportFailure::Tls,
        wit::TransportFailure::HeaderTimeout => TransportFailure::HeaderTimeout,
        wit::TransportFailure::FirstTokenTimeout => TransportFailure::FirstTokenTimeout,
        wit::TransportFailure::StreamIdleTimeout => TransportFailure::StreamIdleTimeout,
        wit::TransportFailure::StreamEndedEarly => TransportFailure::StreamEndedEarly,
        wit::TransportFailure::Other(name) => by_name("transport failure", &name)?,
    })
}

fn outcome_from_wit(o: wit::Outcome) -> Result<Outcome, wit::Error> {
    Ok(match o {
        wit::Outcome::Http(r) => Outcome::Http {
            status: r.status,
            headers: r.headers,
            body: r.body,
        },
        wit::Outcome::Transport(t) => Outcome::Transport(transport_from_wit(t)?),
        wit::Outcome::StreamError(data) => Outcome::StreamError { data },
        wit::Outcome::InvalidSuccess(body) => Outcome::InvalidSuccess { body },
        wit::Outcome::Other(name) => return Err(unsupported(format!("unknown outcome `{name}`"))),
    })
}

fn attempt_outcome_from_wit(o: fallback::AttemptOutcome) -> Result<AttemptOutcome, wit::Error> {
    Ok(match o {
        fallback::AttemptOutcome::Success => AttemptOutcome::Success,
        fallback::AttemptOutcome::Committed => AttemptOutcome::Committed,
        fallback::AttemptOutcome::Failure(o) => AttemptOutcome::Failure(outcome_from_wit(o)?),
        fallback::AttemptOutcome::Other(name) => {
            return Err(unsupported(format!("unknown attempt outcome `{name}`")))
        }
    })
}

fn snapshot_from_wit(s: wit::Snapshot) -> Result<Snapshot, wit::Error> {
    let mut out = Snapshot::default();
    for e in s.entries {
        let entry = Entry {
            until: e.until,
            since: e.since,
            streak: e.streak,
            kind: e.kind.map(kind_from_wit).transpose()?,
            reason: e.reason,
        };
        // A scope listed twice keeps the greater entry, as a merge would.
        let key = ScopeKey(e.scope);
        if entry.supersedes(out.entries.get(&key)) {
            out.entries.insert(key, entry);
        }
    }
    Ok(out)
}

fn options_from_wit(o: fallback::RunOptions) -> RunOptions {
    RunOptions {
        now: o.now,
        seed: o.seed,
        run_id: o.run_id,
        stream: o.stream,
    }
}

// ---------------------------------------------------------------------------
// Exports.

impl classifier::Guest for Component {
    fn classify(
        dialect: wit::Dialect,
        outcome: wit::Outcome,
        now: wit::Timestamp,
    ) -> Result<wit::Classification, wit::Error> {
        let dialect = dialect_from_wit(dialect)?;
        let outcome = outcome_from_wit(outcome)?;
        Ok(classification_to_wit(classify::classify(
            dialect, &outcome, now,
        )))
    }

    fn inspect_completion(
        dialect: wit::Dialect,
        body: String,
        now: wit::Timestamp,
    ) -> Result<Option<wit::Classification>, wit::Error> {
        let dialect = dialect_from_wit(dialect)?;
        Ok(classify::inspect_completion(dialect, &body, now).map(classification_to_wit))
    }
}

impl cooldowns::Guest for Component {
    fn join(a: wit::Snapshot, b: wit::Snapshot) -> Result<wit::Snapshot, wit::Error> {
        let mut a = snapshot_from_wit(a)?;
        a.join(&snapshot_from_wit(b)?);
        Ok(snapshot_to_wit(a))
    }

    fn to_json(snapshot: wit::Snapshot) -> Result<String, wit::Error> {
        serde_json::to_string(&snapshot_from_wit(snapshot)?)
            .map_err(|e| error(wit::ErrorKind::Other("json".into()), e.to_string()))
    }

    fn from_json(json: String) -> Result<wit::Snapshot, wit::Error> {
        serde_json::from_str::<Snapshot>(&json)
            .map(snapshot_to_wit)
            .map_err(|e| unsupported(format!("not a cooldown snapshot: {e}")))
    }
}

/// The table a gateway's runs share.
type SharedTable = Rc<RefCell<CooldownTable>>;

/// `resource gateway`: a validated config and its cooldown table.
pub struct Gateway {
    config: Config,
    table: SharedTable,
}

/// `resource fallback-run`: one run, and the table it uses.
pub struct Run {
    run: RefCell<FallbackRun>,
    table: SharedTable,
}

impl Run {
    fn start(
        config: &Config,
        table: SharedTable,
        model: &str,
        options: RunOptions,
    ) -> Result<Run, wit::Error> {
        let route = config.route(model).map_err(route_error)?;
        Ok(Run {
            run: RefCell::new(FallbackRun::new(route, options)),
            table,
        })
    }
}

impl fallback::Guest for Component {
    type Gateway = Gateway;
    type FallbackRun = Run;
}

impl fallback::GuestGateway for Gateway {
    fn create(config_json: String) -> Result<fallback::Gateway, wit::Error> {
        let config = Config::from_json(&config_json).map_err(config_error)?;
        let table = Rc::new(RefCell::new(CooldownTable::new(config.cooldown)));
        Ok(fallback::Gateway::new(Gateway { config, table }))
    }

    fn model_names(&self) -> Vec<String> {
        self.config.model_names()
    }

    fn start(
        &self,
        model: String,
        options: fallback::RunOptions,
    ) -> Result<fallback::FallbackRun, wit::Error> {
        let run = Run::start(
            &self.config,
            self.table.clone(),
            &model,
            options_from_wit(options),
        )?;
        Ok(fallback::FallbackRun::new(run))
    }

    fn snapshot(&self, now: wit::Timestamp) -> wit::Snapshot {
        snapshot_to_wit(self.table.borrow().snapshot(now))
    }

    fn merge(&self, snapshot: wit::Snapshot) -> Result<bool, wit::Error> {
        let snapshot = snapshot_from_wit(snapshot)?;
        Ok(self.table.borrow_mut().merge(&snapshot))
    }

    fn take_dirty(&self) -> bool {
        self.table.borrow_mut().take_dirty()
    }

    fn open_scopes(&self, now: wit::Timestamp) -> Vec<fallback::ScopeStatus> {
        self.table
            .borrow()
            .open_scopes(now)
            .into_iter()
            .map(|(scope, state, entry)| fallback::ScopeStatus {
                state: scope_state_to_wit(state),
                entry: entry_to_wit(scope, entry),
            })
            .collect()
    }

    fn prune(&self, now: wit::Timestamp) {
        self.table.borrow_mut().prune(now);
    }
}

impl fallback::GuestFallbackRun for Run {
    fn create(
        config_json: String,
        cooldowns: wit::Snapshot,
        model: String,
        options: fallback::RunOptions,
    ) -> Result<fallback::FallbackRun, wit::Error> {
        let config = Config::from_json(&config_json).map_err(config_error)?;
        let mut table = CooldownTable::new(config.cooldown);
        table.merge(&snapshot_from_wit(cooldowns)?);
        let run = Run::start(
            &config,
            Rc::new(RefCell::new(table)),
            &model,
            options_from_wit(options),
        )?;
        Ok(fallback::FallbackRun::new(run))
    }

    fn poll_action(&self, now: wit::Timestamp) -> fallback::Action {
        let action = self
            .run
            .borrow_mut()
            .poll_action(now, &mut self.table.borrow_mut());
        action_to_wit(action)
    }

    fn handle_outcome(
        &self,
        now: wit::Timestamp,
        attempt: wit::AttemptId,
        outcome: fallback::AttemptOutcome,
    ) -> Result<(), wit::Error> {
        let outcome = attempt_outcome_from_wit(outcome)?;
        self.run
            .borrow_mut()
            .handle_outcome(
                now,
                &mut self.table.borrow_mut(),
                AttemptId(attempt),
                outcome,
            )
            .map_err(run_error)
    }

    fn trace(&self) -> Vec<fallback::TraceEvent> {
        self.run
            .borrow()
            .trace()
            .iter()
            .cloned()
            .map(event_to_wit)
            .collect()
    }

    fn attempts(&self) -> Vec<fallback::AttemptRecord> {
        self.run
            .borrow()
            .attempts()
            .iter()
            .cloned()
            .map(record_to_wit)
            .collect()
    }

    fn final_result(&self) -> Option<fallback::RunResult> {
        self.run.borrow().result().cloned().map(result_to_wit)
    }

    fn last_failure(&self) -> Option<fallback::LastFailure> {
        self.run
            .borrow()
            .last_failure()
            .cloned()
            .map(|(attempt, c)| fallback::LastFailure {
                attempt: attempt.0,
                classification: classification_to_wit(c),
            })
    }

    fn deadline(&self) -> wit::Timestamp {
        self.run.borrow().deadline()
    }

    fn is_pinned(&self) -> bool {
        self.run.borrow().is_pinned()
    }

    fn chain_name(&self) -> String {
        self.run.borrow().chain().name.clone()
    }

    fn snapshot(&self, now: wit::Timestamp) -> wit::Snapshot {
        snapshot_to_wit(self.table.borrow().snapshot(now))
    }
}
