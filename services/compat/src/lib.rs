//! The source systems' APIs, each in its own dialect: its paths, auth header, field names,
//! error bodies and paging, translated onto the same application functions as the native API
//! (never onto its handlers), so that each system's existing clients work unchanged.
//!
//! - [`omnistrate`]: Omnistrate's Fleet API (000) at `/2022-09-01-00/fleet`.
//! - [`waldur`]: Waldur's marketplace provider resources, orders and component usages (002).

pub mod answer;
pub mod astra;
pub mod cloudcockpit;
pub mod document;
pub mod extract;
pub mod json;
pub mod number;
pub mod omnistrate;
pub mod ormuco;
pub mod waldur;

use std::sync::Arc;

use axum::Router;
use fleet_api::AppState;

/// Every dialect's routes, to serve beside the native API; `cockpit` says who may call
/// CloudCockpit's.
pub fn router(state: AppState, cockpit: Arc<cloudcockpit::Access>) -> Router<AppState> {
    waldur::router(state.clone())
        .merge(omnistrate::router(state.clone()))
        .merge(ormuco::router(state.clone()))
        .merge(astra::router(state.clone()))
        .merge(cloudcockpit::router(state, cockpit))
}
