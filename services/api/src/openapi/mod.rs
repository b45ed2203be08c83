//! The OpenAPI 3.1 document of the native API, served at `/v1/openapi.json`.
//!
//! Written next to the routers it describes, one line per operation; an end-to-end test checks
//! that every route is in it.

use serde_json::{json, Map, Value};

mod billing;

fn string() -> Value {
    json!({"type": "string"})
}

fn integer() -> Value {
    json!({"type": "integer"})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn object(required: &[&str], properties: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    json!({"type": "object", "required": required, "properties": properties})
}

/// A schema whose properties are all strings, but for the typed ones given.
fn strings(names: &[&str], typed: &[(&str, Value)]) -> Value {
    let mut properties: Vec<(&str, Value)> = names.iter().map(|n| (*n, string())).collect();
    properties.extend(typed.iter().cloned());
    object(&[], &properties)
}

fn page_of(name: &str) -> Value {
    object(
        &["items"],
        &[
            ("items", json!({"type": "array", "items": schema_ref(name)})),
            ("next_page_token", string()),
        ],
    )
}

fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "schema": schema})
}

fn paging() -> Vec<Value> {
    vec![
        query(
            "page_size",
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
        ),
        query("page_token", string()),
    ]
}

fn error_description(code: &str) -> &'static str {
    match code {
        "400" => "Malformed input",
        "401" => "Missing or invalid API key",
        "403" => "The caller's role may not do this",
        "404" => "Unknown id (or another tenant's)",
        "409" => "Illegal state transition or a rule another resource enforces",
        "422" => "Input breaks a rule; the problem names the field",
        _ => "A dependency is unavailable or the read model is behind",
    }
}

/// One operation: method, path, summary, tag, request body, success code and schema.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Option<Value>,
    status: &'static str,
    response: Value,
    parameters: Vec<Value>,
}

fn command(
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Option<Value>,
    result: &str,
) -> Op {
    Op {
        method: "post",
        path,
        summary,
        tag,
        body,
        status: "200",
        response: schema_ref(result),
        parameters: vec![json!({"$ref": "#/components/parameters/IdempotencyKey"})],
    }
}

fn create(
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Value,
    result: &str,
) -> Op {
    Op {
        status: "202",
        ..command(path, summary, tag, Some(body), result)
    }
}

fn read(
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    response: Value,
    mut parameters: Vec<Value>,
) -> Op {
    parameters.push(json!({"$ref": "#/components/parameters/Position"}));
    Op {
        method: "get",
        path,
        summary,
        tag,
        body: None,
        status: "200",
        response,
        parameters,
    }
}

fn with_method(op: Op, method: &'static str) -> Op {
    Op { method, ..op }
}

fn operations() -> Vec<Op> {
    let reason = object(&[], &[("reason", string())]);
    let history = |path, tag| {
        read(
            path,
            "History, read from the event stream",
            tag,
            schema_ref("History"),
            vec![],
        )
    };
    vec![
        // Instances
        create(
            "/v1/instances",
            "Create (deploy) an instance under an active subscription",
            "instances",
            schema_ref("CreateInstance"),
            "InstanceCommandResult",
        ),
        read(
            "/v1/instances",
            "List instances",
            "instances",
            page_of("Instance"),
            [
                vec![
                    query(
                        "status",
                        json!({"enum": ["deploying", "running", "stopped", "failed", "deleted"]}),
                    ),
                    query("cloud_provider", string()),
                    query("region", string()),
                    query("deployment_cell", string()),
                    query("customer_id", string()),
                    query("subscription_id", string()),
                ],
                paging(),
            ]
            .concat(),
        ),
        read(
            "/v1/instances/{id}",
            "Get an instance from the inventory",
            "instances",
            schema_ref("Instance"),
            vec![],
        ),
        with_method(
            command(
                "/v1/instances/{id}",
                "Delete an instance (any state but deleted)",
                "instances",
                None,
                "InstanceCommandResult",
            ),
            "delete",
        ),
        history("/v1/instances/{id}/events", "instances"),
        command(
            "/v1/instances/{id}/ready",
            "Provisioning succeeded: deploying -> running",
            "instances",
            None,
            "InstanceCommandResult",
        ),
        command(
            "/v1/instances/{id}/fail",
            "Any live state -> failed",
            "instances",
            Some(object(&["reason"], &[("reason", string())])),
            "InstanceCommandResult",
        ),
        command(
            "/v1/instances/{id}/stop",
            "running -> stopped",
            "instances",
            None,
            "InstanceCommandResult",
        ),
        command(
            "/v1/instances/{id}/start",
            "stopped -> running",
            "instances",
            None,
            "InstanceCommandResult",
        ),
        command(
            "/v1/instances/{id}/restart",
            "Restart a running instance (recorded)",
            "instances",
            None,
            "InstanceCommandResult",
        ),
        command(
            "/v1/instances/{id}/failover",
            "Fail over a running instance (recorded)",
            "instances",
            Some(object(&[], &[("replica_id", string())])),
            "InstanceCommandResult",
        ),
        command(
            "/v1/instances/{id}/capacity",
            "Add or remove replicas; capacity stays at least 1",
            "instances",
            Some(object(&["delta"], &[("delta", integer())])),
            "InstanceCommandResult",
        ),
        read(
            "/v1/inventory/summary",
            "Counts of instances and subscriptions",
            "inventory",
            schema_ref("InventorySummary"),
            vec![],
        ),
        // Customers
        create(
            "/v1/customers",
            "Create a customer",
            "customers",
            schema_ref("CustomerInput"),
            "CommandResult",
        ),
        read(
            "/v1/customers",
            "List customers",
            "customers",
            page_of("Customer"),
            [
                vec![
                    query("search", string()),
                    query("country", string()),
                    query(
                        "include_deleted",
                        json!({"type": "boolean", "default": true}),
                    ),
                ],
                paging(),
            ]
            .concat(),
        ),
        read(
            "/v1/customers/{id}",
            "Get a customer",
            "customers",
            schema_ref("Customer"),
            vec![],
        ),
        with_method(
            command(
                "/v1/customers/{id}",
                "Change a customer's details",
                "customers",
                Some(schema_ref("CustomerInput")),
                "CommandResult",
            ),
            "patch",
        ),
        with_method(
            command(
                "/v1/customers/{id}",
                "Delete a customer; 409 while it has live subscriptions or reseller relationships",
                "customers",
                None,
                "CommandResult",
            ),
            "delete",
        ),
        history("/v1/customers/{id}/events", "customers"),
        Op {
            status: "201",
            ..command(
                "/v1/customers/{id}/reseller-relationships",
                "Add a reseller relationship",
                "customers",
                Some(object(
                    &["provider_instance_id"],
                    &[
                        ("provider_instance_id", string()),
                        ("reseller_id", string()),
                    ],
                )),
                "Relationship",
            )
        },
        read(
            "/v1/customers/{id}/reseller-relationships",
            "List reseller relationships",
            "customers",
            json!({"type": "object", "properties": {"items": {"type": "array", "items": schema_ref("Relationship")}}}),
            vec![],
        ),
        with_method(
            command(
                "/v1/customers/{id}/reseller-relationships/{relationship_id}",
                "Remove a reseller relationship",
                "customers",
                None,
                "CommandResult",
            ),
            "delete",
        ),
        with_method(
            command(
                "/v1/customers/{id}/licenses",
                "Record a provider instance's license counts for a SKU",
                "customers",
                Some(schema_ref("License")),
                "CommandResult",
            ),
            "put",
        ),
        read(
            "/v1/customers/{id}/licenses",
            "List licenses",
            "customers",
            json!({"type": "object", "properties": {"items": {"type": "array", "items": schema_ref("License")}}}),
            vec![query("provider_instance_id", string())],
        ),
        // Users
        create(
            "/v1/customers/{id}/users",
            "Create a user of a customer",
            "users",
            object(
                &["email", "name"],
                &[
                    ("email", string()),
                    ("name", string()),
                    (
                        "role",
                        json!({"enum": ["root", "editor", "reader"], "default": "reader"}),
                    ),
                ],
            ),
            "CommandResult",
        ),
        read(
            "/v1/customers/{id}/users",
            "List a customer's users",
            "users",
            page_of("User"),
            [
                vec![query(
                    "status",
                    json!({"enum": ["active", "suspended", "deleted"]}),
                )],
                paging(),
            ]
            .concat(),
        ),
        read(
            "/v1/users/{id}",
            "Get a user",
            "users",
            schema_ref("User"),
            vec![],
        ),
        with_method(
            command(
                "/v1/users/{id}",
                "Delete a user",
                "users",
                None,
                "CommandResult",
            ),
            "delete",
        ),
        history("/v1/users/{id}/events", "users"),
        command(
            "/v1/users/{id}/suspend",
            "active -> suspended",
            "users",
            Some(reason.clone()),
            "CommandResult",
        ),
        command(
            "/v1/users/{id}/unsuspend",
            "suspended -> active",
            "users",
            None,
            "CommandResult",
        ),
        // Subscriptions
        create(
            "/v1/subscriptions",
            "Create a subscription on behalf of a customer",
            "subscriptions",
            schema_ref("SubscriptionInput"),
            "CommandResult",
        ),
        read(
            "/v1/subscriptions",
            "List subscriptions",
            "subscriptions",
            page_of("Subscription"),
            [
                vec![
                    query("customer_id", string()),
                    query(
                        "status",
                        json!({"enum": ["active", "suspended", "terminated", "cancelled"]}),
                    ),
                    query("plan_id", string()),
                    query("service_id", string()),
                    query("terms", string()),
                    query("marketplace", string()),
                ],
                paging(),
            ]
            .concat(),
        ),
        command(
            "/v1/subscriptions/bulk-update",
            "Apply one change to many subscriptions, one event each",
            "subscriptions",
            Some(object(
                &["subscription_ids", "changes"],
                &[
                    (
                        "subscription_ids",
                        json!({"type": "array", "items": string(), "maxItems": 500}),
                    ),
                    ("changes", schema_ref("SubscriptionChanges")),
                ],
            )),
            "BulkResults",
        ),
        read(
            "/v1/subscriptions/{id}",
            "Get a subscription with its live instance count",
            "subscriptions",
            schema_ref("Subscription"),
            vec![],
        ),
        with_method(
            command(
                "/v1/subscriptions/{id}",
                "Change plan, limits, payer or payment profile",
                "subscriptions",
                Some(schema_ref("SubscriptionChanges")),
                "CommandResult",
            ),
            "patch",
        ),
        history("/v1/subscriptions/{id}/events", "subscriptions"),
        command(
            "/v1/subscriptions/{id}/convert-to-paid",
            "trial -> paid (needs a payment profile); resumes an expired trial",
            "subscriptions",
            Some(object(&[], &[("payment_profile_id", string())])),
            "CommandResult",
        ),
        command(
            "/v1/subscriptions/{id}/suspend",
            "active -> suspended",
            "subscriptions",
            Some(reason.clone()),
            "CommandResult",
        ),
        command(
            "/v1/subscriptions/{id}/resume",
            "suspended -> active (not after a trial expired)",
            "subscriptions",
            None,
            "CommandResult",
        ),
        command(
            "/v1/subscriptions/{id}/terminate",
            "Provider ends it; its live instances are deleted",
            "subscriptions",
            Some(reason.clone()),
            "CommandResult",
        ),
        command(
            "/v1/subscriptions/{id}/cancel",
            "Customer ends it; its live instances are deleted",
            "subscriptions",
            Some(reason),
            "CommandResult",
        ),
        // Subscription requests
        create(
            "/v1/subscription-requests",
            "Request a subscription",
            "subscription requests",
            object(
                &["customer_id", "service_id", "plan_id"],
                &[
                    ("customer_id", string()),
                    ("service_id", string()),
                    ("plan_id", string()),
                    ("requested_by_user_id", string()),
                ],
            ),
            "CommandResult",
        ),
        read(
            "/v1/subscription-requests",
            "List subscription requests",
            "subscription requests",
            page_of("SubscriptionRequest"),
            [
                vec![
                    query(
                        "status",
                        json!({"enum": ["pending", "approved", "denied", "cancelled"]}),
                    ),
                    query("customer_id", string()),
                ],
                paging(),
            ]
            .concat(),
        ),
        read(
            "/v1/subscription-requests/{id}",
            "Get a subscription request",
            "subscription requests",
            schema_ref("SubscriptionRequest"),
            vec![],
        ),
        history(
            "/v1/subscription-requests/{id}/events",
            "subscription requests",
        ),
        command(
            "/v1/subscription-requests/{id}/approve",
            "pending -> approved; the subscription is created exactly once",
            "subscription requests",
            Some(schema_ref("GrantedTerms")),
            "CommandResult",
        ),
        command(
            "/v1/subscription-requests/{id}/deny",
            "pending -> denied",
            "subscription requests",
            Some(object(&["reason"], &[("reason", string())])),
            "CommandResult",
        ),
        command(
            "/v1/subscription-requests/{id}/cancel",
            "pending -> cancelled",
            "subscription requests",
            None,
            "CommandResult",
        ),
        // Audit and events
        read(
            "/v1/audit-events",
            "The audit log, newest first (admin, auditor)",
            "audit",
            page_of("AuditEvent"),
            [
                vec![
                    query("start", json!({"type": "string", "format": "date-time"})),
                    query("end", json!({"type": "string", "format": "date-time"})),
                    query("event_types", string()),
                    query("instance_id", string()),
                    query("subscription_id", string()),
                    query("customer_id", string()),
                    query("actor", string()),
                    query("correlation_id", string()),
                    query("aggregate_type", string()),
                    query("aggregate_id", string()),
                ],
                paging(),
            ]
            .concat(),
        ),
        read(
            "/v1/audit-events/export",
            "Stream a range of the audit log, oldest first",
            "audit",
            json!({"type": "string", "description": "JSON lines or CSV"}),
            vec![
                query(
                    "format",
                    json!({"enum": ["jsonl", "csv"], "default": "jsonl"}),
                ),
                query("start", string()),
                query("end", string()),
            ],
        ),
        read(
            "/v1/events/stream",
            "The tenant's events as server-sent events (id = position; resume with Last-Event-ID)",
            "events",
            json!({"type": "string", "description": "text/event-stream"}),
            vec![query("from_position", integer()), query("types", string())],
        ),
        read(
            "/v1/event-schemas",
            "JSON Schema of the envelope and of every event type's payload",
            "events",
            json!({"type": "object"}),
            vec![],
        ),
        // Notification channels
        create(
            "/v1/notification-channels",
            "Create a webhook channel; its secret is shown once",
            "notifications",
            object(
                &["name", "url"],
                &[
                    ("name", string()),
                    ("url", string()),
                    ("event_types", json!({"type": "array", "items": string()})),
                    ("secret", string()),
                ],
            ),
            "CommandResult",
        ),
        read(
            "/v1/notification-channels",
            "List channels",
            "notifications",
            page_of("NotificationChannel"),
            paging(),
        ),
        read(
            "/v1/notification-channels/{id}",
            "Get a channel",
            "notifications",
            schema_ref("NotificationChannel"),
            vec![],
        ),
        with_method(
            command(
                "/v1/notification-channels/{id}",
                "Change a channel (a new secret is shown once)",
                "notifications",
                Some(object(
                    &[],
                    &[
                        ("name", string()),
                        ("url", string()),
                        ("event_types", json!({"type": "array", "items": string()})),
                        ("secret", string()),
                    ],
                )),
                "CommandResult",
            ),
            "patch",
        ),
        with_method(
            command(
                "/v1/notification-channels/{id}",
                "Delete a channel; pending deliveries are cancelled",
                "notifications",
                None,
                "CommandResult",
            ),
            "delete",
        ),
        history("/v1/notification-channels/{id}/events", "notifications"),
        read(
            "/v1/notification-channels/{id}/deliveries",
            "Delivery history, newest first",
            "notifications",
            page_of("Delivery"),
            paging(),
        ),
        Op {
            response: object(
                &[],
                &[
                    ("enqueued", integer()),
                    ("from_position", integer()),
                    ("to_position", integer()),
                ],
            ),
            ..command(
                "/v1/notification-channels/{id}/replay",
                "Deliver past events again",
                "notifications",
                Some(object(
                    &["from_position"],
                    &[("from_position", integer()), ("to_position", integer())],
                )),
                "CommandResult",
            )
        },
        // Price book
        read(
            "/v1/currencies",
            "Currencies with the exchange rate in force and any scheduled one",
            "prices",
            json!({"type": "object", "properties": {"items": {"type": "array", "items": schema_ref("Currency")}}}),
            vec![],
        ),
        command(
            "/v1/currencies",
            "Add a currency: the first is the main one; the others need a rate to it",
            "prices",
            Some(object(
                &["code"],
                &[
                    ("code", string()),
                    ("main", json!({"type": "boolean"})),
                    ("rate", schema_ref("Decimal")),
                ],
            )),
            "Recorded",
        ),
        with_method(
            command(
                "/v1/currencies/{code}/rate",
                "Change an exchange rate from now or a later instant",
                "prices",
                Some(object(
                    &["rate"],
                    &[
                        ("rate", schema_ref("Decimal")),
                        (
                            "effective_from",
                            json!({"type": "string", "format": "date-time"}),
                        ),
                    ],
                )),
                "Recorded",
            ),
            "put",
        ),
        read(
            "/v1/products",
            "Products with the price in force now",
            "prices",
            json!({"type": "object", "properties": {"items": {"type": "array", "items": schema_ref("Product")}}}),
            vec![],
        ),
        command(
            "/v1/products",
            "Create a product with a flat or tiered price",
            "prices",
            Some(schema_ref("ProductInput")),
            "Recorded",
        ),
        read(
            "/v1/products/{code}",
            "A product and its price history",
            "prices",
            schema_ref("Product"),
            vec![],
        ),
        command(
            "/v1/products/{code}/prices",
            "Change a price from now or a later instant; the past is never rewritten",
            "prices",
            Some(schema_ref("Pricing")),
            "Recorded",
        ),
        read(
            "/v1/products/{code}/quote",
            "Rate a quantity with the price in force at an instant",
            "prices",
            json!({"type": "object"}),
            vec![
                query("quantity", string()),
                query("at", json!({"type": "string", "format": "date-time"})),
            ],
        ),
        read(
            "/v1/cost-rates",
            "What an hour of an instance type costs the provider",
            "prices",
            json!({"type": "object"}),
            vec![],
        ),
        with_method(
            command(
                "/v1/cost-rates",
                "Set the hourly cost of an instance type in a cloud provider's region",
                "prices",
                Some(object(
                    &[
                        "cloud_provider",
                        "region",
                        "instance_type",
                        "hourly",
                        "currency",
                    ],
                    &[
                        ("cloud_provider", string()),
                        ("region", string()),
                        ("instance_type", string()),
                        ("hourly", schema_ref("Decimal")),
                        ("currency", string()),
                        ("effective_from", string()),
                    ],
                )),
                "Recorded",
            ),
            "put",
        ),
        read(
            "/v1/price-book/events",
            "The price book's history, read from the event stream",
            "prices",
            schema_ref("History"),
            vec![],
        ),
        // Usage and cost
        create(
            "/v1/usage",
            "Record a batch of up to 10,000 usage records; each id counts once, ever",
            "usage",
            object(
                &["records"],
                &[(
                    "records",
                    json!({"type": "array", "maxItems": 10000, "items": schema_ref("UsageRecord")}),
                )],
            ),
            "UsageRecorded",
        ),
        read(
            "/v1/subscriptions/{id}/usage",
            "Usage totals per product over a window of days (open uptime included)",
            "usage",
            json!({"type": "object"}),
            vec![
                query("start", json!({"type": "string", "format": "date"})),
                query("end", json!({"type": "string", "format": "date"})),
            ],
        ),
        read(
            "/v1/subscriptions/{id}/usage/daily",
            "Usage per day per product",
            "usage",
            json!({"type": "object"}),
            vec![
                query("start", json!({"type": "string", "format": "date"})),
                query("end", json!({"type": "string", "format": "date"})),
            ],
        ),
        read(
            "/v1/customers/{id}/usage",
            "A customer's usage per provider, project and product, rated",
            "usage",
            json!({"type": "object"}),
            vec![
                query("start", json!({"type": "string", "format": "date"})),
                query("end", json!({"type": "string", "format": "date"})),
            ],
        ),
        create(
            "/v1/cost-records",
            "Import cost records (FOCUS-style rows)",
            "cost",
            object(
                &["records"],
                &[(
                    "records",
                    json!({"type": "array", "items": schema_ref("CostRecord")}),
                )],
            ),
            "CommandResult",
        ),
        read(
            "/v1/cost/{view}",
            "Cost by cloud-provider, region, deployment-cell or user (customer)",
            "cost",
            schema_ref("CostReport"),
            [
                "start",
                "end",
                "environment_type",
                "frequency",
                "include_cloud_providers",
                "exclude_cloud_providers",
                "include_regions",
                "exclude_regions",
                "include_deployment_cells",
                "exclude_deployment_cells",
                "include_instances",
                "exclude_instances",
                "include_users",
                "exclude_users",
                "top_instances",
                "top_users",
            ]
            .iter()
            .map(|name| query(name, string()))
            .collect(),
        ),
    ]
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": string()}))
        .collect()
}

fn paths() -> Map<String, Value> {
    let mut paths = Map::new();
    for op in operations().into_iter().chain(billing::operations()) {
        let mut responses: Map<String, Value> = ["400", "401", "403", "404", "409", "422", "503"]
            .iter()
            .map(|code| {
                (
                    code.to_string(),
                    json!({"description": error_description(code),
                    "content": {"application/problem+json": {"schema": schema_ref("Problem")}}}),
                )
            })
            .collect();
        responses.insert(
            op.status.into(),
            json!({"description": op.summary,
            "content": {"application/json": {"schema": op.response}}}),
        );
        let mut parameters = path_parameters(op.path);
        parameters.extend(op.parameters);
        let mut operation = json!({"summary": op.summary, "tags": [op.tag], "parameters": parameters, "responses": responses});
        if let Some(body) = op.body {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    for (path, summary) in [
        ("/healthz", "Alive"),
        ("/readyz", "NATS, PostgreSQL and projection lag"),
        ("/metrics", "Prometheus metrics"),
        ("/v1/openapi.json", "This document"),
    ] {
        paths.insert(
            path.into(),
            json!({"get": {"summary": summary, "tags": ["operations"], "security": [],
            "responses": {"200": {"description": summary}, "503": {"description": "Not ready"}}}}),
        );
    }
    paths
}

fn schemas() -> Value {
    let timestamps = ["created_at", "updated_at"];
    json!({
        "Problem": strings(&["type", "title", "detail", "correlation_id", "current_state"], &[
            ("status", integer()),
            ("errors", json!({"type": "array", "items": strings(&["field", "reason"], &[])}))]),
        "CommandResult": strings(&["id", "status", "event_type"], &[("position", integer())]),
        "InstanceCommandResult": strings(&["id", "status", "event_type"], &[("capacity", integer()), ("position", integer())]),
        "CreateInstance": object(
            &["service_id", "plan_id", "cloud_provider", "region", "deployment_cell", "instance_type", "capacity", "environment_type", "subscription_id"],
            &[("service_id", string()), ("plan_id", string()),
              ("cloud_provider", json!({"enum": ["aws", "azure", "gcp", "oci", "onprem"]})),
              ("region", string()), ("deployment_cell", string()), ("instance_type", string()),
              ("capacity", json!({"type": "integer", "minimum": 1, "maximum": 10000})),
              ("environment_type", json!({"enum": ["DEV", "QA", "STAGING", "CANARY", "PROD", "PRIVATE"]})),
              ("subscription_id", string()), ("name", string()), ("customer_id", string())]),
        "Instance": strings(&["id", "name", "service_id", "plan_id", "cloud_provider", "region", "deployment_cell",
            "instance_type", "environment_type", "customer_id", "subscription_id", "status", "failure_reason",
            "created_at", "updated_at", "deleted_at"],
            &[("capacity", integer()), ("restarts", integer()), ("failovers", integer()), ("version", integer())]),
        "History": object(&["items"], &[("items", json!({"type": "array", "items": schema_ref("Event")}))]),
        "Event": strings(&["recorded_at", "event_id", "event_type", "tenant", "aggregate_type", "aggregate_id",
            "occurred_at", "correlation_id", "causation_id"],
            &[("sequence", integer()), ("schema_version", integer()), ("actor", json!({"type": "object"})), ("payload", json!({"type": "object"}))]),
        "InventorySummary": strings(&[], &[("total", integer()), ("live", integer()),
            ("by_status", json!({"type": "object"})), ("by_cloud_provider", json!({"type": "object"})),
            ("by_region", json!({"type": "object"})), ("by_deployment_cell", json!({"type": "object"})),
            ("subscriptions", strings(&[], &[("total", integer()), ("by_status", json!({"type": "object"})), ("by_plan", json!({"type": "object"}))]))]),
        "CustomerInput": strings(&["name", "country", "email", "domain", "tax_id", "internal_identifier"], &[]),
        "Customer": strings(&["id", "name", "country", "email", "domain", "tax_id", "internal_identifier", "status",
            timestamps[0], timestamps[1], "deleted_at"], &[("version", integer())]),
        "Relationship": strings(&["id", "customer_id", "provider_instance_id", "reseller_id", "status", "created_at", "removed_at"], &[]),
        "License": strings(&["provider_instance_id", "sku_id", "name", "updated_at"],
            &[("total", integer()), ("consumed", integer()), ("available", integer()), ("suspended", integer())]),
        "User": strings(&["id", "customer_id", "email", "name", "role", "status", "suspension_reason",
            timestamps[0], timestamps[1], "deleted_at"], &[("version", integer())]),
        "GrantedTerms": strings(&["external_payer_id", "payment_profile_id"], &[
            ("terms", json!({"enum": ["trial", "paid"], "default": "trial"})),
            ("marketplace", json!({"enum": ["direct", "aws", "azure", "gcp", "netapp"], "default": "direct"})),
            ("max_instances", json!({"type": "integer", "minimum": -1, "default": -1})),
            ("trial_days", json!({"type": "integer", "minimum": 0, "maximum": 365, "default": 30}))]),
        "SubscriptionInput": {"allOf": [
            object(&["customer_id", "service_id", "plan_id"], &[("customer_id", string()), ("service_id", string()), ("plan_id", string())]),
            schema_ref("GrantedTerms")]},
        "SubscriptionChanges": strings(&["plan_id", "external_payer_id", "payment_profile_id"], &[("max_instances", integer())]),
        "Subscription": strings(&["id", "customer_id", "service_id", "plan_id", "terms", "marketplace", "trial_ends_at",
            "external_payer_id", "payment_profile_id", "status", "suspension_reason", "request_id",
            timestamps[0], timestamps[1], "ended_at"],
            &[("max_instances", integer()), ("live_instances", integer()), ("version", integer())]),
        "BulkResults": object(&["results"], &[("results", json!({"type": "array", "items":
            strings(&["id", "detail"], &[("status", integer()), ("position", integer())])}))]),
        "AuditEvent": strings(&["tenant", "event_id", "occurred_at", "recorded_at", "actor_id", "actor_name", "actor_role",
            "auth_method", "credential_id", "ip", "user_agent", "action", "aggregate_type", "aggregate_id", "instance_id",
            "subscription_id", "customer_id", "invoice_id", "correlation_id", "causation_id", "message", "prev_hash", "hash"],
            &[("sequence", integer()), ("payload", json!({"type": "object"}))]),
        "NotificationChannel": strings(&["id", "name", "url", "secret_fingerprint", "status", timestamps[0], timestamps[1]],
            &[("event_types", json!({"type": "array", "items": string()})), ("version", integer())]),
        "Delivery": strings(&["id", "event_type", "status", "last_error", "next_attempt_at", "created_at", "delivered_at"],
            &[("sequence", integer()), ("replay", json!({"type": "boolean"})), ("attempts", integer()), ("last_status_code", integer())]),
        "Decimal": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "A decimal number as a string: money never passes through a float"},
        "Recorded": strings(&["event_type"], &[("position", integer())]),
        "Currency": strings(&["code", "rate_effective_from", "next_rate_effective_from"],
            &[("main", json!({"type": "boolean"})), ("rate", schema_ref("Decimal")), ("next_rate", schema_ref("Decimal"))]),
        "Pricing": {"oneOf": [
            object(&["rate_system", "unit_price"], &[("rate_system", json!({"const": "flat"})), ("unit_price", schema_ref("Decimal"))]),
            object(&["rate_system", "tiers"], &[("rate_system", json!({"const": "tiered"})),
                ("tiers", json!({"type": "array", "items": object(&["unit_price"], &[("up_to", schema_ref("Decimal")), ("unit_price", schema_ref("Decimal"))])}))])]},
        "ProductInput": {"allOf": [
            object(&["code", "name", "category", "unit", "currency"], &[("code", string()), ("name", string()), ("category", string()),
                ("unit", string()), ("currency", string()), ("effective_from", json!({"type": "string", "format": "date-time"}))]),
            schema_ref("Pricing")]},
        "Product": strings(&["code", "name", "category", "unit", "currency", "price_effective_from", "created_at"],
            &[("pricing", schema_ref("Pricing")), ("prices", json!({"type": "array"}))]),
        "UsageRecord": object(&["id", "subscription_id", "product", "quantity", "occurred_at"], &[("id", string()), ("subscription_id", string()),
            ("product", string()), ("quantity", schema_ref("Decimal")), ("occurred_at", json!({"type": "string", "format": "date-time"})),
            ("instance_id", string()), ("project_id", string()), ("provider_id", string())]),
        "UsageRecorded": object(&[], &[("accepted", integer()), ("duplicates", json!({"type": "array", "items": string()})),
            ("rejected", json!({"type": "array", "items": strings(&["id", "field", "reason"], &[("index", integer())])})), ("position", integer())]),
        "CostRecord": object(&["id", "resource_id", "charge_period_start", "billed_cost", "currency"], &[("id", string()), ("resource_id", string()),
            ("instance_id", string()), ("charge_period_start", string()), ("charge_period_end", string()), ("billed_cost", schema_ref("Decimal")),
            ("currency", string()), ("service_name", string()), ("cloud_provider", string()), ("region", string()),
            ("deployment_cell", string()), ("environment_type", string())]),
        "CostReport": object(&[], &[("view", string()), ("start", string()), ("end", string()), ("frequency", string()), ("currency", string()),
            ("total_cost", schema_ref("Decimal")), ("groups", json!({"type": "array", "items": object(&[], &[("key", string()),
                ("total_cost", schema_ref("Decimal")), ("series", json!({"type": "array"})), ("instances", json!({"type": "array"}))])}))]),
        "SubscriptionRequest": strings(&["id", "customer_id", "service_id", "plan_id", "requested_by_user_id", "status",
            "subscription_id", "deny_reason", timestamps[0], timestamps[1]], &[("version", integer())]),
    })
}

fn all_schemas() -> Value {
    let mut all = schemas();
    if let (Some(all), Value::Object(more)) = (all.as_object_mut(), billing::schemas()) {
        all.extend(more);
    }
    all
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fleetledger API",
            "version": "1",
            "description": "Event-sourced control plane of a cloud fleet and its billing. Commands are recorded as events in NATS JetStream; queries read PostgreSQL read models. Send a command's X-Fleet-Position with a query to read your write."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key made with `fleetd apikey create`"}},
            "parameters": {
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "schema": string(),
                    "description": "Retries with the same key get the first response for 24 hours; the same key with another request is a 422"},
                "Position": {"name": "X-Fleet-Position", "in": "header", "schema": integer(),
                    "description": "Wait (up to 5 s) until the read model has applied this stream position"}
            },
            "schemas": all_schemas()
        }
    })
}
