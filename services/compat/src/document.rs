//! Each dialect's own OpenAPI document, generated from its routes like the native one and
//! served beside them.

use aide::axum::ApiRouter;
use aide::openapi::{Info, OpenApi};
use axum::body::Bytes;
use axum::http::header;
use axum::Router;
use fleet_api::AppState;

/// What a dialect's document says about it.
pub struct About<'a> {
    pub title: &'a str,
    pub version: &'a str,
    pub description: &'a str,
}

/// `routes` nested under `base` and documented, with the document at `document_path`.
pub fn documented(
    about: About<'_>,
    base: &str,
    routes: ApiRouter<AppState>,
    document_path: &str,
) -> Router<AppState> {
    // Schemas are extracted into components already (aide's default). Turning extraction on
    // here again would replace the generator, and with it every schema the dialect's routes
    // registered: the document's references would then point at nothing.
    let mut api = OpenApi {
        info: Info {
            title: about.title.into(),
            version: about.version.into(),
            description: Some(about.description.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let routes = ApiRouter::new().nest(base, routes).finish_api(&mut api);
    fleet_api::docs::declare_path_parameters(&mut api);
    // Written once: the document never changes while the process runs.
    let document = Bytes::from(serde_json::to_vec(&api).expect("the document serialises"));
    Router::new()
        .route(
            document_path,
            axum::routing::get(move || {
                let document = document.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .merge(routes)
}
