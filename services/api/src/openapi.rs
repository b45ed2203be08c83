//! The OpenAPI 3.1 document of the native API, served at `/v1/openapi.json`.
//!
//! Written by hand, next to the routers it describes; an end-to-end test checks that every
//! route is in it.

use serde_json::{json, Value};

fn problem_ref() -> Value {
    json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn errors(codes: &[&str]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|code| {
            let mut response = problem_ref();
            response["description"] = json!(match *code {
                "400" => "Malformed input",
                "401" => "Missing or invalid API key",
                "403" => "The caller's role may not do this",
                "404" => "Unknown id (or another tenant's)",
                "409" => "Illegal state transition or concurrent change",
                "422" => "Input breaks a rule; the problem names the field",
                "503" => "A dependency is unavailable or the read model is behind",
                _ => "Error",
            });
            (code.to_string(), response)
        })
        .collect()
}

fn instance_command(summary: &str, body: Option<Value>) -> Value {
    let mut responses = errors(&["401", "403", "404", "409", "422", "503"]);
    responses.insert(
        "200".into(),
        json!({"description": "Recorded; X-Fleet-Position carries the event's stream position",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InstanceCommandResult"}}}}),
    );
    let mut operation = json!({
        "summary": summary,
        "tags": ["instances"],
        "parameters": [{"$ref": "#/components/parameters/InstanceId"}, {"$ref": "#/components/parameters/IdempotencyKey"}],
        "responses": responses,
    });
    if let Some(schema) = body {
        operation["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    json!({"post": operation})
}

pub fn document() -> Value {
    let string = json!({"type": "string"});
    let read_errors = errors(&["400", "401", "404", "503"]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fleetledger API",
            "version": "1",
            "description": "Event-sourced control plane of a cloud fleet and its billing. Commands are recorded as events in NATS JetStream; queries read PostgreSQL read models. Send a command's X-Fleet-Position with a query to read your write."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/v1/instances": {
                "post": {
                    "summary": "Create (deploy) an instance",
                    "tags": ["instances"],
                    "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateInstance"}}}},
                    "responses": errors(&["400", "401", "403", "409", "422", "503"]).into_iter().chain([(
                        "202".to_string(),
                        json!({"description": "Deployment requested; the instance is deploying",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InstanceCommandResult"}}}})
                    )]).collect::<serde_json::Map<_, _>>()
                },
                "get": {
                    "summary": "List instances",
                    "tags": ["instances"],
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"enum": ["deploying", "running", "stopped", "failed", "deleted"]}},
                        {"name": "cloud_provider", "in": "query", "schema": string},
                        {"name": "region", "in": "query", "schema": string},
                        {"name": "deployment_cell", "in": "query", "schema": string},
                        {"name": "customer_id", "in": "query", "schema": string},
                        {"name": "subscription_id", "in": "query", "schema": string},
                        {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
                        {"name": "page_token", "in": "query", "schema": string},
                        {"$ref": "#/components/parameters/Position"}
                    ],
                    "responses": read_errors.clone().into_iter().chain([(
                        "200".to_string(),
                        json!({"description": "A page of instances in creation order",
                               "content": {"application/json": {"schema": {"type": "object", "properties": {
                                   "items": {"type": "array", "items": {"$ref": "#/components/schemas/Instance"}},
                                   "next_page_token": string}}}}})
                    )]).collect::<serde_json::Map<_, _>>()
                }
            },
            "/v1/instances/{id}": {
                "get": {
                    "summary": "Get an instance from the inventory",
                    "tags": ["instances"],
                    "parameters": [{"$ref": "#/components/parameters/InstanceId"}, {"$ref": "#/components/parameters/Position"}],
                    "responses": read_errors.clone().into_iter().chain([(
                        "200".to_string(),
                        json!({"description": "The instance", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Instance"}}}})
                    )]).collect::<serde_json::Map<_, _>>()
                },
                "delete": instance_command("Delete an instance (any state but deleted)", None)["post"].clone()
            },
            "/v1/instances/{id}/events": {
                "get": {
                    "summary": "The instance's history, read from the event stream",
                    "tags": ["instances"],
                    "parameters": [{"$ref": "#/components/parameters/InstanceId"}],
                    "responses": read_errors.clone().into_iter().chain([(
                        "200".to_string(),
                        json!({"description": "Events in order", "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}}}})
                    )]).collect::<serde_json::Map<_, _>>()
                }
            },
            "/v1/instances/{id}/ready": instance_command("Provisioning succeeded: deploying -> running", None),
            "/v1/instances/{id}/fail": instance_command("Any live state -> failed", Some(json!({"type": "object", "required": ["reason"], "properties": {"reason": string}}))),
            "/v1/instances/{id}/stop": instance_command("running -> stopped", None),
            "/v1/instances/{id}/start": instance_command("stopped -> running", None),
            "/v1/instances/{id}/restart": instance_command("Restart a running instance (recorded)", None),
            "/v1/instances/{id}/failover": instance_command("Fail over a running instance (recorded)", Some(json!({"type": "object", "properties": {"replica_id": string}}))),
            "/v1/instances/{id}/capacity": instance_command("Add or remove replicas; capacity stays at least 1", Some(json!({"type": "object", "required": ["delta"], "properties": {"delta": {"type": "integer"}}}))),
            "/v1/inventory/summary": {
                "get": {
                    "summary": "Instance counts by status, cloud provider, region and deployment cell",
                    "tags": ["inventory"],
                    "parameters": [{"$ref": "#/components/parameters/Position"}],
                    "responses": read_errors.into_iter().chain([(
                        "200".to_string(),
                        json!({"description": "Counts", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InventorySummary"}}}})
                    )]).collect::<serde_json::Map<_, _>>()
                }
            },
            "/healthz": {"get": {"summary": "Alive", "tags": ["operations"], "security": [], "responses": {"200": {"description": "Alive"}}}},
            "/readyz": {"get": {"summary": "NATS, PostgreSQL and projection lag", "tags": ["operations"], "security": [], "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["operations"], "security": [], "responses": {"200": {"description": "OpenMetrics text"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "tags": ["operations"], "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key made with `fleetd apikey create`"}},
            "parameters": {
                "InstanceId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "schema": string,
                    "description": "Retries with the same key get the first response for 24 hours; the same key with another request is a 422"},
                "Position": {"name": "X-Fleet-Position", "in": "header", "schema": {"type": "integer"},
                    "description": "Wait (up to 5 s) until the read model has applied this stream position"}
            },
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": string, "title": string, "status": {"type": "integer"}, "detail": string,
                    "correlation_id": string, "current_state": string,
                    "errors": {"type": "array", "items": {"type": "object", "properties": {"field": string, "reason": string}}}}},
                "CreateInstance": {"type": "object",
                    "required": ["service_id", "plan_id", "cloud_provider", "region", "deployment_cell", "instance_type", "capacity", "environment_type"],
                    "properties": {
                        "service_id": string, "plan_id": string,
                        "cloud_provider": {"enum": ["aws", "azure", "gcp", "oci", "onprem"]},
                        "region": string, "deployment_cell": string, "instance_type": string,
                        "capacity": {"type": "integer", "minimum": 1, "maximum": 10000},
                        "environment_type": {"enum": ["DEV", "QA", "STAGING", "CANARY", "PROD", "PRIVATE"]},
                        "name": string, "customer_id": string, "subscription_id": string}},
                "InstanceCommandResult": {"type": "object", "properties": {
                    "id": string, "status": string, "capacity": {"type": "integer"},
                    "position": {"type": "integer"}, "event_type": string}},
                "Instance": {"type": "object", "properties": {
                    "id": string, "name": string, "service_id": string, "plan_id": string, "cloud_provider": string,
                    "region": string, "deployment_cell": string, "instance_type": string, "environment_type": string,
                    "customer_id": string, "subscription_id": string,
                    "status": {"enum": ["deploying", "running", "stopped", "failed", "deleted"]},
                    "capacity": {"type": "integer"}, "failure_reason": string,
                    "restarts": {"type": "integer"}, "failovers": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
                    "deleted_at": {"type": "string", "format": "date-time"}, "version": {"type": "integer"}}},
                "Event": {"type": "object", "properties": {
                    "sequence": {"type": "integer"}, "recorded_at": {"type": "string", "format": "date-time"},
                    "event_id": string, "event_type": string, "schema_version": {"type": "integer"},
                    "tenant": string, "aggregate_type": string, "aggregate_id": string,
                    "occurred_at": {"type": "string", "format": "date-time"},
                    "actor": {"type": "object"}, "correlation_id": string, "causation_id": string, "payload": {"type": "object"}}},
                "InventorySummary": {"type": "object", "properties": {
                    "total": {"type": "integer"}, "live": {"type": "integer"},
                    "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "by_cloud_provider": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "by_region": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "by_deployment_cell": {"type": "object", "additionalProperties": {"type": "integer"}}}}
            }
        }
    })
}
