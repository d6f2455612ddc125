//! The destinations resource of the API: re-enabling one disabled for failing
//! (`inbox_core::forwarding::circuit`). Its state and settings are shown by `/api/stats`; like
//! the rest of the API this never sees a destination's URL or secret.

use api_contract::{DestinationDisabled, DestinationEnabled};
use inbox_core::clock::Clock;
use inbox_core::config::Variables;
use inbox_core::events::StoreError;
use inbox_core::forwarding::poke::Poke;
use inbox_core::forwarding::{circuit, ledger, parked, DestinationName};
use inbox_core::http::{json, Request, RequestContext, Response, StatusCode};
use inbox_core::kv::KeyValue;
use inbox_core::problem::{FieldError, Problem, ProblemKind};

use crate::representation;
use crate::service::Api;

impl<K: KeyValue, V: Variables, C: Clock, P: Poke> Api<K, V, C, P> {
    /// `POST /api/destinations/{name}/enable`.
    pub(crate) fn enable_destination(
        &self,
        ctx: &RequestContext,
        request: Request,
    ) -> Result<Response, Problem> {
        self.admit(&request)?;
        let raw = ctx.param("name").unwrap_or_default();
        let unknown = || {
            Problem::of(
                ProblemKind::NotFound,
                format!("no destination {raw} has been configured"),
            )
        };
        let name = DestinationName::parse(raw)
            .map_err(|error| unknown().with_error(FieldError::new("path:name", error.0)))?;
        if !ledger::registered(&self.store)?.contains(&name) {
            return Err(unknown());
        }
        let waiting = parked::waiting(&self.store, &name)?;
        let was = circuit::enable(&self.store, &name).map_err(StoreError::from)?;
        json(
            StatusCode::OK,
            &DestinationEnabled {
                destination: name.as_str().to_owned(),
                was_disabled: was.as_ref().map(|record| DestinationDisabled {
                    waiting,
                    ..representation::disabled(record)
                }),
            },
        )
    }
}
