//! The native API's OpenAPI 3.1 document, generated from its routers and the types of their
//! inputs and outputs (aide, on the schemars derives the event catalog uses too). Nothing here
//! lists an operation: each extractor says what it reads from a request, each answer what it
//! sends back, and each route its summary where it is declared.
//!
//! Every route of `/v1` is added through [`aide::axum::ApiRouter::api_route`], so a route
//! cannot exist without its documentation; the end-to-end test reads the document and calls
//! every operation in it.

use aide::generate::GenContext;
use aide::openapi::{
    MediaType, OpenApi, Operation, Parameter, ReferenceOr, RequestBody, Response, SchemaObject,
    StatusCode,
};
use aide::transform::TransformOperation;
use aide::{OperationInput, OperationOutput};
use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, OptionalJson, ReadPosition};
use crate::routes::Issuer;

/// The summary of an operation, for the `_with` routing functions.
pub fn summary(text: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    move |op| op.summary(text)
}

pub fn media(content_type: &str, schema: schemars::Schema) -> (String, MediaType) {
    (
        content_type.to_owned(),
        MediaType {
            schema: Some(SchemaObject {
                json_schema: schema,
                example: None,
                external_docs: None,
            }),
            ..Default::default()
        },
    )
}

/// A parameter written as the document writes it.
fn parameter(value: Value) -> Parameter {
    serde_json::from_value(value).expect("a well-formed parameter")
}

fn add_parameter(operation: &mut Operation, value: Value) {
    let parameter = parameter(value);
    let name = parameter.parameter_data_ref().name.clone();
    let exists = operation.parameters.iter().any(|p| match p {
        ReferenceOr::Item(p) => p.parameter_data_ref().name == name,
        ReferenceOr::Reference { .. } => false,
    });
    if !exists {
        operation.parameters.push(ReferenceOr::Item(parameter));
    }
}

fn require_key(operation: &mut Operation) {
    let bearer: aide::openapi::SecurityRequirement =
        [("bearer".to_owned(), Vec::new())].into_iter().collect();
    if !operation.security.contains(&bearer) {
        operation.security.push(bearer);
    }
}

impl OperationInput for Caller {
    fn operation_input(_: &mut GenContext, operation: &mut Operation) {
        require_key(operation);
    }
}

impl OperationInput for Issuer {
    fn operation_input(_: &mut GenContext, operation: &mut Operation) {
        require_key(operation);
        add_parameter(
            operation,
            json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "A retry with the same key gets the first response again for 24 hours and changes nothing; the same key with another request is a 422.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255}
            }),
        );
        add_parameter(
            operation,
            json!({
                "name": "X-Correlation-Id", "in": "header", "required": false,
                "description": "Recorded on every event the request causes, and echoed on the response.",
                "schema": {"type": "string", "maxLength": 128}
            }),
        );
    }
}

impl OperationInput for ReadPosition {
    fn operation_input(_: &mut GenContext, operation: &mut Operation) {
        add_parameter(
            operation,
            json!({
                "name": "X-Fleet-Position", "in": "header", "required": false,
                "description": "Read your write: wait (up to FLEET_READ_WAIT_MS) until the read model has applied this stream position; past the stream's end it is a 400, not reached in time a 503.",
                "schema": {"type": "integer", "minimum": 0}
            }),
        );
    }
}

fn json_body<T: JsonSchema>(ctx: &mut GenContext, operation: &mut Operation, required: bool) {
    let schema = ctx.schema.subschema_for::<T>();
    aide::operation::set_body(
        ctx,
        operation,
        RequestBody {
            description: None,
            content: [media("application/json", schema)].into_iter().collect(),
            required,
            extensions: Default::default(),
        },
    );
}

impl<T: JsonSchema> OperationInput for ApiJson<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        json_body::<T>(ctx, operation, true);
    }
}

impl<T: JsonSchema> OperationInput for OptionalJson<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        json_body::<T>(ctx, operation, false);
    }
}

impl<T: JsonSchema> OperationInput for ApiQuery<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let schema = ctx.schema.subschema_for::<T>();
        let parameters = aide::operation::parameters_from_schema(
            ctx,
            schema,
            aide::operation::ParamLocation::Query,
        );
        aide::operation::add_parameters(ctx, operation, parameters);
    }
}

/// What each failure status means, across the API.
const FAILURES: [(u16, &str); 8] = [
    (400, "Malformed input: the problem names the field"),
    (401, "Missing or invalid API key"),
    (403, "The caller's role may not do this"),
    (404, "Unknown id (or another tenant's)"),
    (
        409,
        "Illegal state transition, a reached limit, or a concurrent change",
    ),
    (413, "The body is larger than the limit"),
    (
        422,
        "Input breaks a rule: the problem names the field and the reason",
    ),
    (
        503,
        "A dependency is unavailable or the read model is behind: retry after Retry-After",
    ),
];

impl OperationOutput for ApiError {
    type Inner = Problem;

    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<Response> {
        let schema = ctx.schema.subschema_for::<Problem>();
        Some(Response {
            description: "A problem (RFC 9457)".into(),
            content: [media("application/problem+json", schema)]
                .into_iter()
                .collect(),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        let Some(problem) = Self::operation_response(ctx, operation) else {
            return Vec::new();
        };
        FAILURES
            .iter()
            .map(|(code, description)| {
                (
                    Some(StatusCode::Code(*code)),
                    Response {
                        description: (*description).into(),
                        ..problem.clone()
                    },
                )
            })
            .collect()
    }
}

/// A success response of `status` with the given content types, each with its schema.
pub fn response(
    status: u16,
    description: &str,
    content: Vec<(&str, schemars::Schema)>,
    headers: &[(&str, &str, Value)],
) -> Vec<(Option<StatusCode>, Response)> {
    let headers = headers
        .iter()
        .map(|(name, description, schema)| {
            let header: aide::openapi::Header = serde_json::from_value(json!({
                "description": description, "schema": schema
            }))
            .expect("a well-formed header");
            (name.to_string(), ReferenceOr::Item(header))
        })
        .collect();
    vec![(
        Some(StatusCode::Code(status)),
        Response {
            description: description.into(),
            content: content
                .into_iter()
                .map(|(content_type, schema)| media(content_type, schema))
                .collect(),
            headers,
            ..Default::default()
        },
    )]
}

/// Gives every path parameter of the document's templates (`{id}`) its declaration, for the
/// handlers that take them as plain strings.
pub fn declare_path_parameters(api: &mut OpenApi) {
    let Some(paths) = api.paths.as_mut() else {
        return;
    };
    for (path, item) in paths.paths.iter_mut() {
        let names: Vec<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
            item.head.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            for name in &names {
                add_parameter(
                    operation,
                    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
                );
            }
        }
    }
}

/// A body that is not a JSON document: its media types, for the document.
pub trait Media {
    const TYPES: &'static [&'static str];
    const DESCRIPTION: &'static str;

    /// The schema of the body, or of each event's `data` for a stream of events.
    fn schema(_: &mut GenContext) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

/// A response of a [`Media`] kind, built by the handler (a stream, a text).
pub struct Served<M>(pub axum::response::Response, std::marker::PhantomData<M>);

impl<M> Served<M> {
    pub fn new(response: axum::response::Response) -> Self {
        Self(response, std::marker::PhantomData)
    }
}

impl<M> axum::response::IntoResponse for Served<M> {
    fn into_response(self) -> axum::response::Response {
        self.0
    }
}

impl<M: Media> OperationOutput for Served<M> {
    type Inner = String;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<Response> {
        Self::inferred_responses(ctx, operation)
            .into_iter()
            .next()
            .map(|(_, r)| r)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        _: &mut Operation,
    ) -> Vec<(Option<StatusCode>, Response)> {
        let schema = M::schema(ctx);
        response(
            200,
            M::DESCRIPTION,
            M::TYPES.iter().map(|t| (*t, schema.clone())).collect(),
            &[],
        )
    }
}

/// CSV (RFC 4180), streamed.
pub struct Csv;

impl Media for Csv {
    const TYPES: &'static [&'static str] = &["text/csv; charset=utf-8"];
    const DESCRIPTION: &'static str = "CSV with a header row, streamed";
}

/// CSV or one JSON document a line, as `format` asks, streamed.
pub struct CsvOrJsonLines;

impl Media for CsvOrJsonLines {
    const TYPES: &'static [&'static str] = &["text/csv; charset=utf-8", "application/x-ndjson"];
    const DESCRIPTION: &'static str = "CSV (format=csv) or JSON lines (format=jsonl), streamed";
}

/// Server-sent events.
pub struct EventStream;

impl Media for EventStream {
    const TYPES: &'static [&'static str] = &["text/event-stream"];
    const DESCRIPTION: &'static str =
        "Server-sent events: each `id` is the event's stream position, `event` its type, `data` the envelope";

    /// Each item of the stream (as OpenAPI 3.2's `itemSchema` reads one): its `id`, `event`
    /// and `data`, the envelope as JSON.
    fn schema(ctx: &mut GenContext) -> schemars::Schema {
        let envelope = ctx.schema.subschema_for::<fleet_events::EventEnvelope>();
        schemars::json_schema!({
            "type": "object",
            "required": ["data"],
            "properties": {
                "id": {"type": "string", "description": "The event's stream position"},
                "event": {"type": "string", "description": "The event's type"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": envelope,
                    "description": "The envelope, as JSON"
                }
            }
        })
    }
}

/// Prometheus metrics in the OpenMetrics text format.
pub struct OpenMetrics;

impl Media for OpenMetrics {
    const TYPES: &'static [&'static str] =
        &["application/openmetrics-text; version=1.0.0; charset=utf-8"];
    const DESCRIPTION: &'static str = "Metrics in the OpenMetrics text format";
}

/// The document's frame: what it is, and how callers authenticate.
pub fn base_document() -> OpenApi {
    let bearer = serde_json::from_value(json!({
        "type": "http", "scheme": "bearer",
        "description": "An API key made with `fleetd apikey create`"
    }))
    .expect("a well-formed security scheme");
    OpenApi {
        info: aide::openapi::Info {
            title: "Fleetledger API".into(),
            version: "1".into(),
            description: Some(
                "Event-sourced control plane of a cloud fleet and its billing. Commands are recorded as events in NATS JetStream; queries read PostgreSQL read models. Send a command's X-Fleet-Position with a query to read your write.".into(),
            ),
            ..Default::default()
        },
        components: Some(aide::openapi::Components {
            security_schemes: [("bearer".to_owned(), ReferenceOr::Item(bearer))]
                .into_iter()
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
