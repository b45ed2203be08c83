//! One way to expose an aggregate's commands over HTTP.
//!
//! An aggregate that the native API exposes says, once, who may command it, where its
//! resources live and what a command answers ([`Exposed`]). A route is then one line: the
//! path, a summary, and how the request becomes the command ([`action`], [`action_with`],
//! [`removal`]). Every command answers a [`Reply`]: the aggregate as the command left it and
//! the event's stream position.

use aide::axum::routing::ApiMethodRouter;
use aide::axum::routing::{delete_with, post_with};
use aide::generate::GenContext;
use aide::openapi::{Operation, Response, StatusCode as ApiStatus};
use aide::OperationOutput;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use fleet_app::command_bus::Executed;
use fleet_domain::Aggregate;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use crate::auth::Permission;
use crate::docs;
use crate::extract::{ApiJson, OptionalJson, POSITION_HEADER};
use crate::idempotency::SecretFields;
use crate::routes::{parse_id, run, Issuer, Target};
use crate::{ApiError, AppState};

/// A command's answer: status `STATUS` with `body`, `X-Fleet-Position` (send it with a query to
/// read your write) and, for a creation, `Location`.
pub struct Reply<T, const STATUS: u16 = 200> {
    pub position: u64,
    pub location: Option<String>,
    pub body: T,
    /// Fields of `body` shown to this response only, never saved for a replay.
    pub secrets: Option<&'static [&'static str]>,
}

/// A creation, accepted: the resource exists from this position on.
pub type Accepted<T> = Reply<T, 202>;
/// A creation of a resource that is complete at once.
pub type Created<T> = Reply<T, 201>;

impl<T, const STATUS: u16> Reply<T, STATUS> {
    pub fn new(position: u64, body: T) -> Self {
        Self {
            position,
            location: None,
            body,
            secrets: None,
        }
    }

    pub fn at(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }

    pub fn with_secrets(mut self, fields: &'static [&'static str]) -> Self {
        self.secrets = Some(fields);
        self
    }
}

impl<T: Serialize, const STATUS: u16> IntoResponse for Reply<T, STATUS> {
    fn into_response(self) -> axum::response::Response {
        let status = StatusCode::from_u16(STATUS).unwrap_or(StatusCode::OK);
        let mut response = (status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(POSITION_HEADER, HeaderValue::from(self.position));
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let Some(fields) = self.secrets {
            response.extensions_mut().insert(SecretFields(fields));
        }
        response
    }
}

impl<T: JsonSchema, const STATUS: u16> OperationOutput for Reply<T, STATUS> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<Response> {
        Self::inferred_responses(ctx, operation)
            .into_iter()
            .next()
            .map(|(_, r)| r)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        _: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, Response)> {
        let schema = ctx.schema.subschema_for::<T>();
        let mut headers = vec![(
            "X-Fleet-Position",
            "The stream position of the command's event",
            json!({"type": "integer"}),
        )];
        if STATUS == 201 || STATUS == 202 {
            headers.push(("Location", "The new resource", json!({"type": "string"})));
        }
        docs::response(
            STATUS,
            "The resource as the command left it",
            vec![("application/json", schema)],
            &headers,
        )
    }
}

/// An aggregate whose commands the native API exposes.
pub trait Exposed: Aggregate {
    /// What a command answers: the aggregate as the command left it.
    type View: Serialize + JsonSchema + Send + 'static;
    /// Who may command it.
    const PERMISSION: Permission;
    /// Where its resources live (`/v1/instances`).
    const COLLECTION: &'static str;

    fn view(executed: Executed<Self>) -> Self::View;
}

/// The answer to a command on `A`; a creation also says where the resource is.
pub fn reply<A: Exposed, const STATUS: u16>(executed: Executed<A>) -> Reply<A::View, STATUS> {
    let position = executed.event.sequence;
    let id = executed.event.event.aggregate_id.clone();
    let reply = Reply::new(position, A::view(executed));
    if STATUS == 201 || STATUS == 202 {
        reply.at(format!("{}/{id}", A::COLLECTION))
    } else {
        reply
    }
}

/// Runs `command` on the `A` whose id is the path segment `id`, for the caller.
pub async fn command<A: Exposed>(
    state: &AppState,
    issuer: &Issuer,
    id: &str,
    command: A::Command,
) -> Result<Reply<A::View>, ApiError> {
    let id = parse_id(A::TYPE, id)?;
    let executed = run::<A>(state, issuer, A::PERMISSION, id, Target::Existing, command).await?;
    Ok(reply(executed))
}

/// `POST …/{id}/<action>`: a command that takes no body.
pub fn action<A: Exposed>(
    summary: &'static str,
    make: fn() -> A::Command,
) -> ApiMethodRouter<AppState> {
    post_with(
        move |State(state): State<AppState>, issuer: Issuer, Path(id): Path<String>| async move {
            command::<A>(&state, &issuer, &id, make()).await
        },
        docs::summary(summary),
    )
}

/// `DELETE …/{id}`: a command that takes no body.
pub fn removal<A: Exposed>(
    summary: &'static str,
    make: fn() -> A::Command,
) -> ApiMethodRouter<AppState> {
    delete_with(
        move |State(state): State<AppState>, issuer: Issuer, Path(id): Path<String>| async move {
            command::<A>(&state, &issuer, &id, make()).await
        },
        docs::summary(summary),
    )
}

/// `POST …/{id}/<action>` whose JSON body becomes the command.
pub fn action_with<A: Exposed, B: DeserializeOwned + JsonSchema + Send + 'static>(
    summary: &'static str,
    make: fn(B) -> Result<A::Command, ApiError>,
) -> ApiMethodRouter<AppState> {
    post_with(
        move |State(state): State<AppState>,
              issuer: Issuer,
              Path(id): Path<String>,
              ApiJson(body): ApiJson<B>| async move {
            command::<A>(&state, &issuer, &id, make(body)?).await
        },
        docs::summary(summary),
    )
}

/// `POST …/{id}/<action>` whose body, which may be left out, becomes the command.
pub fn action_with_optional<
    A: Exposed,
    B: DeserializeOwned + Default + JsonSchema + Send + 'static,
>(
    summary: &'static str,
    make: fn(B) -> Result<A::Command, ApiError>,
) -> ApiMethodRouter<AppState> {
    post_with(
        move |State(state): State<AppState>,
              issuer: Issuer,
              Path(id): Path<String>,
              OptionalJson(body): OptionalJson<B>| async move {
            command::<A>(&state, &issuer, &id, make(body)?).await
        },
        docs::summary(summary),
    )
}
