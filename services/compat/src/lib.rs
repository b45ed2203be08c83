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

/// Entry points of the fuzz targets (`fuzz/`): the dialects' query grammars, from raw text.
/// Not an API: nothing else calls them.
#[doc(hidden)]
pub mod fuzzing {
    use crate::waldur::params::{project_fields, Params};

    /// Astra's list query (`filter`, `orderBy`, `limit`, `skip`, `continue`) over a
    /// subscription's fields: whether it is taken.
    pub fn astra_listing(query: &str) -> bool {
        const FIELDS: [&str; 4] = ["id", "name", "state", "metadata.creationTimestamp"];
        crate::astra::collection::Listing::read(query, &|f| FIELDS.contains(&f)).is_ok()
    }

    /// Waldur's list query: paging against `total` rows, `o=` keys, booleans, UUIDs, dates and
    /// the `field=` projection of a row.
    pub fn waldur_query(query: &str, total: i64) {
        let q = Params::<()>::from_query(query);
        if let Ok(page) = q.page() {
            let _ = page.offset(total);
        }
        let _ = (q.all("o"), q.flag("is_active"), q.uuid("customer_uuid"));
        let _ = (
            q.uuids("project_uuid"),
            q.integer("limit"),
            q.since("created"),
        );
        let row = serde_json::json!({"uuid": "x", "name": "n", "state": "OK"});
        let _ = project_fields(row, &q.all("field"));
    }
}
