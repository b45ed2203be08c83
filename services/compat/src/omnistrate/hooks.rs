//! Inbound webhooks (webhooks-api): `POST /hooks/{id}`, without a bearer token. The producer
//! `id` is one configured with its tenant and shared secret (`FLEET_INBOUND_HOOKS`); the body
//! is signed with it (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`). A good delivery is
//! recorded as a `WebhookReceived` event, once however often it is sent; a missing or wrong
//! signature is a 401 and records nothing.

use aide::axum::routing::post_with;
use aide::axum::ApiRouter;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use fleet_api::AppState;
use fleet_app::inbound_hooks::HookError;
use serde::Deserialize;

use super::{Done, GoaError};

pub const SIGNATURE: &str = "x-hub-signature-256";
pub const DELIVERY: &str = "x-webhook-id";

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().api_route(
        "/hooks/{id}",
        post_with(receive, super::operation("webhooks-api", "ReceiveWebhook")),
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct HookPath {
    /// The producer.
    id: String,
}

async fn receive(
    State(state): State<AppState>,
    Path(path): Path<HookPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Done, GoaError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match fleet_app::inbound_hooks::receive(
        &state,
        &path.id,
        header(SIGNATURE),
        header(DELIVERY),
        &body,
    )
    .await
    {
        Ok(()) => Ok(Done),
        Err(HookError::UnknownProducer) => Err(GoaError::not_found("webhook", &path.id)),
        Err(HookError::BadSignature) => Err(GoaError::Unauthorized(
            "the signature is missing or does not match the body".into(),
        )),
        Err(HookError::App(e)) => Err(e.into()),
    }
}
