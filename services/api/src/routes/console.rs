//! `/console`: the operator console, a page of plain JavaScript (no build step) with Chart.js
//! vendored from npm (`make docs-assets`), compiled in. It calls only the public API, with the
//! key the user enters, so it can do nothing that key could not.

use axum::extract::Path;
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::static_files::{self, asset, Asset, CSS, JS, TEXT};
use crate::error::ApiError;
use crate::AppState;

const ASSETS: [Asset; 4] = [
    asset!("console.js", JS, "console/console.js"),
    asset!("console.css", CSS, "console/console.css"),
    asset!("chart.umd.min.js", JS, "console/chart.umd.min.js"),
    asset!("chart.js-LICENSE.md", TEXT, "console/chart.js-LICENSE.md"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(index))
        .route(
            "/console/",
            get(|| async { Redirect::permanent("/console") }),
        )
        .route("/console/assets/{file}", get(asset))
}

async fn index() -> Response {
    static_files::page(include_str!("../../assets/console/index.html"))
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    static_files::serve(&ASSETS, &file)
}
