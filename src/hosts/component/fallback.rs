//! The `classifier`, `cooldowns` and `fallback` exports: the classifier, snapshot
//! joins, and the `gateway` / `fallback-run` resources over the core's
//! [`FallbackRun`] and [`CooldownTable`].

use super::bindings::exports::llm_failover::core::{classifier, cooldowns, fallback as wf};
use super::convert::*;
use super::trace::{event_to_wit, record_to_wit};
use super::{config_error, error, route_error, run_error, unsupported, wit, Component};
use crate::classify;
use crate::config::Config;
use crate::cooldown::{CooldownTable, Snapshot};
use crate::run::{AttemptId, FallbackRun, RunOptions};
use std::cell::RefCell;
use std::rc::Rc;

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

/// The table a gateway's runs and sessions share.
pub(super) type SharedTable = Rc<RefCell<CooldownTable>>;

/// `resource gateway`: a validated config and its cooldown table.
pub struct Gateway {
    pub(super) config: Config,
    pub(super) table: SharedTable,
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
    ) -> Result<wf::FallbackRun, wit::Error> {
        let route = config.route(model).map_err(route_error)?;
        Ok(wf::FallbackRun::new(Run {
            run: RefCell::new(FallbackRun::new(route, options)),
            table,
        }))
    }

    /// Calls `f` on the run and the table.
    fn with<R>(&self, f: impl FnOnce(&mut FallbackRun, &mut CooldownTable) -> R) -> R {
        f(&mut self.run.borrow_mut(), &mut self.table.borrow_mut())
    }
}

impl wf::Guest for Component {
    type Gateway = Gateway;
    type FallbackRun = Run;
}

impl wf::GuestGateway for Gateway {
    fn create(config_json: String) -> Result<wf::Gateway, wit::Error> {
        let config = Config::from_json(&config_json).map_err(config_error)?;
        let table = Rc::new(RefCell::new(CooldownTable::new(config.cooldown)));
        Ok(wf::Gateway::new(Gateway { config, table }))
    }

    fn model_names(&self) -> Vec<String> {
        self.config.model_names()
    }

    fn start(&self, model: String, options: wf::RunOptions) -> Result<wf::FallbackRun, wit::Error> {
        let options = options_from_wit(options);
        Run::start(&self.config, self.table.clone(), &model, options)
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

    fn open_scopes(&self, now: wit::Timestamp) -> Vec<wf::ScopeStatus> {
        self.table
            .borrow()
            .open_scopes(now)
            .into_iter()
            .map(|(scope, state, entry)| wf::ScopeStatus {
                state: scope_state_to_wit(state),
                entry: entry_to_wit(scope, entry),
            })
            .collect()
    }

    fn prune(&self, now: wit::Timestamp) {
        self.table.borrow_mut().prune(now);
    }
}

impl wf::GuestFallbackRun for Run {
    fn create(
        config_json: String,
        cooldowns: wit::Snapshot,
        model: String,
        options: wf::RunOptions,
    ) -> Result<wf::FallbackRun, wit::Error> {
        let config = Config::from_json(&config_json).map_err(config_error)?;
        let mut table = CooldownTable::new(config.cooldown);
        table.merge(&snapshot_from_wit(cooldowns)?);
        let table = Rc::new(RefCell::new(table));
        Run::start(&config, table, &model, options_from_wit(options))
    }

    fn poll_action(&self, now: wit::Timestamp) -> wf::Action {
        action_to_wit(self.with(|run, table| run.poll_action(now, table)))
    }

    fn handle_outcome(
        &self,
        now: wit::Timestamp,
        attempt: wit::AttemptId,
        outcome: wf::AttemptOutcome,
    ) -> Result<(), wit::Error> {
        let outcome = attempt_outcome_from_wit(outcome)?;
        self.with(|run, table| run.handle_outcome(now, table, AttemptId(attempt), outcome))
            .map_err(run_error)
    }

    fn cancel(&self, now: wit::Timestamp) {
        self.with(|run, table| run.cancel(now, table));
    }

    fn forbid_continuation(&self) {
        self.run.borrow_mut().forbid_continuation();
    }

    fn is_committed(&self) -> bool {
        self.run.borrow().is_committed()
    }

    fn trace(&self) -> Vec<wf::TraceEvent> {
        list(self.run.borrow().trace(), event_to_wit)
    }

    fn attempts(&self) -> Vec<wf::AttemptRecord> {
        list(self.run.borrow().attempts(), record_to_wit)
    }

    fn final_result(&self) -> Option<wf::RunResult> {
        self.run.borrow().result().cloned().map(result_to_wit)
    }

    fn last_failure(&self) -> Option<wf::LastFailure> {
        let run = self.run.borrow();
        let (attempt, c) = run.last_failure()?.clone();
        Some(wf::LastFailure {
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
