//! Cost reports as every face shows them: in the tenant's main currency, each amount rounded
//! to its minor unit, and every total the sum of its shown parts.

use fleet_domain::money::Currency;
use fleet_projections::cost::{self, Group, ReportQuery, View};
use rust_decimal::Decimal;

use crate::{App, AppError};

pub struct CostReport {
    /// The main currency; `None` before the price book names one.
    pub currency: Option<String>,
    pub total_cost: Decimal,
    pub groups: Vec<Group>,
}

pub async fn report(
    app: &App,
    tenant: &str,
    view: View,
    query: &ReportQuery,
) -> Result<CostReport, AppError> {
    let mut groups = cost::report(&app.pool, tenant, view, query).await?;
    let main = fleet_projections::pricing::main_currency(&app.pool, tenant).await?;
    let currency = main.as_deref().and_then(|c| Currency::parse(c).ok());
    let round = |amount: Decimal| currency.as_ref().map_or(amount, |c| c.round(amount));
    let mut total_cost = Decimal::ZERO;
    for group in &mut groups {
        for point in &mut group.series {
            point.cost = round(point.cost);
        }
        group.total_cost = group.series.iter().map(|p| p.cost).sum();
        total_cost += group.total_cost;
        if let Some(instances) = group.instances.as_mut() {
            for instance in instances {
                instance.total_cost = round(instance.total_cost);
            }
        }
    }
    Ok(CostReport {
        currency: main,
        total_cost,
        groups,
    })
}
