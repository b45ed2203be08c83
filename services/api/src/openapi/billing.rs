//! The invoicing part of the OpenAPI document: billing terms, invoices, the billing report.

use serde_json::{json, Value};

use super::{
    command, create, integer, object, paging, query, read, schema_ref, string, strings,
    with_method, Op,
};

fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

pub(super) fn operations() -> Vec<Op> {
    let invoice_command = |path, summary| command(path, summary, "invoices", None, "Invoice");
    let filters = || {
        [
            vec![
                query("start_date", date()),
                query("end_date", date()),
                query(
                    "status",
                    json!({"enum": ["draft", "open", "paid", "uncollectible", "void"]}),
                ),
                query("customer_id", string()),
                query("billing_provider", string()),
            ],
            paging(),
        ]
        .concat()
    };
    vec![
        read(
            "/v1/customers/{id}/billing-terms",
            "The customer's billing terms (currency, discounts, taxes, collection)",
            "invoices",
            schema_ref("BillingTerms"),
            vec![],
        ),
        with_method(
            command(
                "/v1/customers/{id}/billing-terms",
                "Replace the customer's billing terms; issued invoices keep theirs",
                "invoices",
                Some(schema_ref("BillingTerms")),
                "BillingTerms",
            ),
            "put",
        ),
        Op {
            status: "201",
            ..create(
                "/v1/invoices",
                "Generate the customer's invoice for a period (201), or return the live one it has (200)",
                "invoices",
                object(
                    &["customer_id"],
                    &[
                        ("customer_id", string()),
                        ("period", json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"})),
                        ("start", date()),
                        ("end", date()),
                    ],
                ),
                "Invoice",
            )
        },
        read("/v1/invoices", "List invoices", "invoices", super::page_of("InvoiceSummary"), filters()),
        read(
            "/v1/invoices/{id}",
            "One invoice with its lines, from its history (as_of: as it was then)",
            "invoices",
            schema_ref("Invoice"),
            vec![query("as_of", json!({"type": "string", "format": "date-time"}))],
        ),
        with_method(
            invoice_command("/v1/invoices/{id}", "Delete a draft invoice"),
            "delete",
        ),
        invoice_command("/v1/invoices/{id}/approve", "Approve: draft -> open"),
        invoice_command("/v1/invoices/{id}/pay", "Mark paid: open or uncollectible -> paid"),
        invoice_command(
            "/v1/invoices/{id}/mark-uncollectible",
            "Mark uncollectible: open -> uncollectible",
        ),
        command(
            "/v1/invoices/{id}/void",
            "Void: open or uncollectible -> void (never a paid invoice)",
            "invoices",
            Some(object(&[], &[("reason", string())])),
            "Invoice",
        ),
        invoice_command(
            "/v1/invoices/{id}/resend",
            "Send again (open or paid); recorded and announced to subscribers",
        ),
        read(
            "/v1/invoices/{id}/events",
            "History, read from the event stream",
            "invoices",
            schema_ref("History"),
            vec![],
        ),
        read(
            "/v1/customers/{id}/invoices",
            "All invoices of a customer",
            "invoices",
            super::page_of("InvoiceSummary"),
            filters(),
        ),
        read(
            "/v1/customers/{id}/invoices/last",
            "The customer's last invoice (latest period)",
            "invoices",
            schema_ref("Invoice"),
            vec![],
        ),
        Op {
            response: json!({"type": "string", "description": "text/csv with a header row"}),
            ..read(
                "/v1/reports/billing.csv",
                "001's billing report: one row per invoice (17 columns), streamed as CSV",
                "invoices",
                Value::Null,
                vec![
                    json!({"name": "start_date", "in": "query", "required": true, "schema": date()}),
                    query("end_date", date()),
                    query("detail", json!({"type": "boolean"})),
                    query("show_federated_invoices", json!({"type": "boolean"})),
                    query("show_all_resellers", json!({"type": "boolean", "description": "admin only"})),
                ],
            )
        },
    ]
}

pub(super) fn schemas() -> Value {
    let decimal = || schema_ref("Decimal");
    let period = object(&["start", "end"], &[("start", date()), ("end", date())]);
    json!({
        "BillingTerms": object(&[], &[
            ("currency", string()),
            ("discount_percentage", decimal()),
            ("discount_flat", decimal()),
            ("taxes", json!({"type": "array", "items": object(&["name", "rate"], &[
                ("name", string()), ("rate", decimal()), ("description", string()),
                ("categories", json!({"type": "array", "items": string()}))])})),
            ("billing_provider", string()),
            ("payment_terms_days", integer()),
            ("test_account", json!({"type": "boolean"})),
            ("metadata", json!({"type": "object"}))]),
        "InvoiceSummary": strings(&["id", "customer_id", "customer_name", "customer_email", "status", "currency",
            "billing_provider", "period_start", "period_end", "invoice_date", "due_date", "generated_at",
            "approved_at", "paid_at", "voided_at"],
            &[("subtotal", decimal()), ("discount_total", decimal()), ("tax_total", decimal()),
              ("total", decimal()), ("resent_count", integer())]),
        "Invoice": object(&["id", "status", "customer_id", "period", "currency", "lines", "subtotal", "total"], &[
            ("id", string()), ("status", json!({"enum": ["draft", "open", "paid", "uncollectible", "void"]})),
            ("customer_id", string()), ("period", period.clone()), ("currency", string()),
            ("bill_to", strings(&["name", "email", "tax_id"], &[])),
            ("lines", json!({"type": "array", "items": object(&[], &[
                ("kind", json!({"enum": ["usage", "adjustment"]})), ("origin_period", period),
                ("provider_id", string()), ("project_id", string()), ("product", string()),
                ("description", string()), ("category", string()), ("unit", string()),
                ("quantity", decimal()), ("uptime", string()), ("rate_system", string()),
                ("rate", json!({"type": "object"})), ("price_currency", string()),
                ("exchange_rate", decimal()), ("total", decimal())])})),
            ("subtotal", decimal()), ("discount_percentage", decimal()),
            ("discount_percentage_value", decimal()), ("discount_flat", decimal()),
            ("discount_total", decimal()),
            ("taxes", json!({"type": "array", "items": object(&[], &[("name", string()), ("rate", decimal()),
                ("base", decimal()), ("amount", decimal())])})),
            ("tax_total", decimal()), ("total", decimal()), ("usage_position", integer()),
            ("generated_at", string()), ("approved_at", string()), ("paid_at", string()),
            ("voided_at", string()), ("resent", json!({"type": "array", "items": string()}))]),
    })
}
