//! `/docs`: a browsable reference for every OpenAPI document fleetd serves (the native one
//! and each dialect's), with Swagger UI. Its assets are vendored in `services/api/assets`
//! (from the npm package `swagger-ui-dist`, refreshed by `make docs-assets`) and compiled into
//! the binary, so the reference works offline; the pages' Content-Security-Policy lets them
//! load nothing from anywhere else.

use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::static_files::{self, asset, Asset, CSS, JS, TEXT};
use crate::error::ApiError;
use crate::AppState;

/// Every document, by the name its page has: (name, title, document path, how to sign in).
pub const DOCUMENTS: [(&str, &str, &str, &str); 6] = [
    (
        "native",
        "Fleetledger (native)",
        "/v1/openapi.json",
        "Authorization: Bearer <API key>",
    ),
    (
        "waldur",
        "Waldur MasterMind",
        "/api/openapi.json",
        "Authorization: Token <API key>",
    ),
    (
        "omnistrate",
        "Omnistrate Fleet",
        "/2022-09-01-00/fleet/openapi.json",
        "Authorization: Bearer <API key>",
    ),
    (
        "ormuco",
        "Ormuco Reseller Billing",
        "/reseller/billing/v1/openapi.json",
        "X-Reseller-Api-Key: <API key>",
    ),
    (
        "astra",
        "Astra DevOps",
        "/accounts/openapi.json",
        "Authorization: Bearer <API key>",
    ),
    (
        "cloudcockpit",
        "CloudCockpit",
        "/v1/Customers/openapi.json",
        "Authorization: Bearer <JWT> and X-Tenant: <portal domain>",
    ),
];

const ASSETS: [Asset; 5] = [
    asset!(
        "swagger-ui-bundle.js",
        JS,
        "swagger-ui/swagger-ui-bundle.js"
    ),
    asset!("swagger-ui.css", CSS, "swagger-ui/swagger-ui.css"),
    asset!("reference.js", JS, "reference.js"),
    asset!("LICENSE", TEXT, "swagger-ui/LICENSE"),
    asset!("NOTICE", TEXT, "swagger-ui/NOTICE"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs", get(index))
        .route("/docs/", get(index))
        .route("/docs/assets/{file}", get(asset))
        .route("/docs/{name}", get(document_page))
}

async fn index() -> Response {
    let items: String = DOCUMENTS
        .iter()
        .map(|(name, title, path, sign_in)| {
            format!(
                "<li><a href=\"/docs/{name}\">{title}</a> \
                 <span class=\"path\"><a href=\"{path}\">{path}</a></span> \
                 <span class=\"auth\">{}</span></li>",
                escape(sign_in)
            )
        })
        .collect();
    page(
        "Fleetledger API reference",
        &format!(
            "<main class=\"index\"><h1>Fleetledger API reference</h1>\
             <p>Each API fleetd serves, with the document it is generated from.</p>\
             <ul>{items}</ul>\
             <p class=\"legal\">Rendered with Swagger UI (<a href=\"/docs/assets/LICENSE\">Apache \
             License 2.0</a>, <a href=\"/docs/assets/NOTICE\">notice</a>).</p></main>"
        ),
    )
}

async fn document_page(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, title, path, _) = DOCUMENTS
        .iter()
        .find(|(known, ..)| *known == name)
        .ok_or_else(|| {
            let names: Vec<_> = DOCUMENTS.iter().map(|(n, ..)| *n).collect();
            ApiError::NotFound(format!(
                "no API reference named {name:?}; one of: {}",
                names.join(", ")
            ))
        })?;
    Ok(page(
        &format!("{title}: API reference"),
        &format!(
            "<nav><a href=\"/docs\">All APIs</a></nav>\
             <div id=\"reference\" data-document=\"{path}\" aria-label=\"{title} API reference\"></div>\
             <script src=\"/docs/assets/swagger-ui-bundle.js\"></script>\
             <script src=\"/docs/assets/reference.js\"></script>"
        ),
    ))
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    static_files::serve(&ASSETS, &file)
}

fn page(title: &str, body: &str) -> Response {
    static_files::page(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/docs/assets/swagger-ui.css\">\
         <style>body{{margin:0;font-family:sans-serif}}nav,main.index{{padding:1rem 2rem}}\
         main.index li{{margin:.6rem 0}}.path,.auth{{color:#555;margin-left:.8rem;font-size:.9em}}\
         </style></head><body>{body}</body></html>",
        escape(title)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
