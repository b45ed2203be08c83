//! `/v1/customers/{id}/billing-terms`: the currency, discounts, taxes and collection terms a
//! customer's invoices are generated with. Setting them replaces them whole; invoices already
//! generated keep the terms they were made with.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::billing::{BillingTerms, TaxRule};
use fleet_domain::customer::{Customer, CustomerCommand};
use fleet_domain::money::{decimal_str, decimal_str_opt};
use fleet_domain::Aggregate;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::ApiJson;
use crate::routes::commands::Reply;
use crate::routes::{parse_id, run, Issuer, Target};
use crate::{ApiError, AppState};
use fleet_app::policies::load;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/customers/{id}/billing-terms",
            get_with(
                get_billing_terms,
                summary("The customer's billing terms (currency, discounts, taxes, collection)"),
            )
            .put_with(
                set_billing_terms,
                summary("Replace the customer's billing terms; issued invoices keep theirs"),
            ),
        )
        .with_path_items(|item| item.tag("invoices"))
}
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaxInput {
    name: String,
    #[serde(deserialize_with = "decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    rate: Decimal,
    description: Option<String>,
    #[serde(default)]
    categories: Vec<String>,
}

impl From<TaxInput> for TaxRule {
    fn from(t: TaxInput) -> Self {
        TaxRule {
            name: t.name,
            rate: t.rate,
            description: t.description,
            categories: t.categories,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TermsInput {
    currency: Option<String>,
    #[serde(default, deserialize_with = "decimal_str_opt")]
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    discount_percentage: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_str_opt")]
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    discount_flat: Option<Decimal>,
    #[serde(default)]
    taxes: Vec<TaxInput>,
    billing_provider: Option<String>,
    payment_terms_days: Option<u32>,
    #[serde(default)]
    test_account: bool,
    metadata: Option<Value>,
}

impl From<TermsInput> for BillingTerms {
    fn from(input: TermsInput) -> Self {
        let defaults = BillingTerms::default();
        BillingTerms {
            currency: input.currency.map(|c| c.to_ascii_uppercase()),
            discount_percentage: input.discount_percentage.unwrap_or_default(),
            discount_flat: input.discount_flat.unwrap_or_default(),
            taxes: input.taxes.into_iter().map(TaxRule::from).collect(),
            billing_provider: input.billing_provider.unwrap_or(defaults.billing_provider),
            payment_terms_days: input
                .payment_terms_days
                .unwrap_or(defaults.payment_terms_days),
            test_account: input.test_account,
            metadata: input.metadata.unwrap_or(defaults.metadata),
        }
    }
}

async fn set_billing_terms(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TermsInput>,
) -> Result<Reply<BillingTerms>, ApiError> {
    let uuid = parse_id(Customer::TYPE, &id)?;
    let terms = BillingTerms::from(body);
    if let Some(code) = &terms.currency {
        // Every currency of the price book has a rate from the beginning of time.
        let known = fleet_projections::pricing::rate_at(
            &state.pool,
            issuer.caller.tenant.as_str(),
            code,
            chrono::Utc::now(),
        )
        .await?
        .is_some();
        if !known {
            return Err(ApiError::unprocessable(
                "currency",
                format!("{code} is not a currency of the price book"),
            ));
        }
    }
    let executed = run::<Customer>(
        &state,
        &issuer,
        Permission::ManageInvoices,
        uuid,
        Target::Existing,
        CustomerCommand::SetBillingTerms(terms),
    )
    .await?;
    let body = executed.state.billing.clone().unwrap_or_default();
    Ok(Reply::new(executed.event.sequence, body))
}

async fn get_billing_terms(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BillingTerms>, ApiError> {
    let uuid = parse_id(Customer::TYPE, &id)?;
    let customer = load::<Customer>(&state, &caller.tenant, &uuid.to_string()).await?;
    if !customer.exists() {
        return Err(ApiError::NotFound(format!("customer {id} not found")));
    }
    Ok(Json(customer.billing.unwrap_or_default()))
}
