//! Generating an invoice: finding the customer's usage that no live invoice bills yet, rating
//! it, and recording the whole invoice as one `InvoiceGenerated` event.
//!
//! Generations of one customer are serialised across all fleetd processes (a PostgreSQL
//! advisory lock held until the event is appended), and each reads the invoices read model only
//! after it has caught up with the stream, so two generations never bill the same usage and a
//! second request for the same period finds the first's invoice.
//!
//! Which usage an invoice bills is exact, by usage-stream position: for its own period, and for
//! every earlier period that has a live invoice, the records in positions no live invoice
//! covers yet, up to the stream's end when generating. Records of an invoiced period arriving
//! later therefore land on the customer's next invoice as adjustment lines, and an issued
//! invoice never changes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, Utc};
use fleet_domain::billing::{self, BillingTerms};
use fleet_domain::customer::Customer;
use fleet_domain::invoice::{
    BillTo, Coverage, Invoice, InvoiceCommand, InvoiceDocument, InvoiceLine, InvoiceTotals,
    LineKind, Period,
};
use fleet_domain::price_book::PriceBook;
use fleet_domain::subscription::Subscription;
use fleet_domain::Aggregate;
use fleet_projections::inventory::{self, subscriptions};
use fleet_projections::{invoices, pricing, usage};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::command_bus::CommandMeta;
use crate::policies::{load, serialise};
use crate::rater::{rated_at, PriceSource, Rater};
use crate::{App, AppError};

/// What a generation request led to.
pub struct Generated {
    pub id: Uuid,
    /// The position to wait for to read the invoice.
    pub position: u64,
    /// False when the period already had a live invoice, which is returned instead.
    pub created: bool,
}

/// What an invoice does with usage of a product that had no price in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unpriced {
    /// The invoice is refused, naming each product and window, until a price covers them.
    #[default]
    Refuse,
    /// The caller chose to bill it at zero: those lines have no rate and cost nothing.
    BillAtZero,
}

/// Generates the customer's invoice for `period`, or finds the live one it has. The caller has
/// checked the permission (`meta` is an API caller's, or the scheduler's).
pub async fn generate_invoice(
    state: &App,
    meta: &CommandMeta,
    customer_id: &str,
    period: Period,
    unpriced: Unpriced,
) -> Result<Generated, AppError> {
    let tenant = meta.tenant.clone();
    let today = Utc::now().date_naive();
    // `end` is the first day after the period: the period is over once that day has begun.
    if period.end > today {
        return Err(AppError::unprocessable(
            "period",
            format!(
                "ends on {}, which has not passed yet: its usage is not all in",
                period.last_day()
            ),
        ));
    }
    let unknown = || AppError::unprocessable("customer_id", "is not a customer of this tenant");
    let customer_uuid = Uuid::parse_str(customer_id).map_err(|_| unknown())?;
    let customer_id = customer_uuid.to_string();
    let customer = load::<Customer>(state, &tenant, &customer_id).await?;
    let profile = customer.profile.clone().ok_or_else(unknown)?;
    let terms = customer.billing.clone().unwrap_or_default();

    let (_queue, mut lock) = serialise(
        state,
        &format!("invoices-of-customer:{tenant}:{customer_id}"),
    )
    .await?;
    // The decision reads the tenant's invoices and price book, and the customer's usage: it
    // waits for those to be applied, not for the rest of the streams.
    let invoiced = state
        .caught_up_on(&tenant, Invoice::TYPE, invoices::NAME)
        .await?;
    state
        .caught_up_on(&tenant, PriceBook::TYPE, pricing::NAME)
        .await?;
    let live = invoices::live_of_customer(&mut lock, tenant.as_str(), &customer_id).await?;
    if let Some((id, _)) = live.iter().find(|(_, p)| *p == period) {
        return Ok(Generated {
            id: *id,
            position: invoiced,
            created: false,
        });
    }
    let usage_end = state.caught_up_on_usage(&tenant, usage::NAME).await?;
    // Usage of subscriptions deleted with their charges is never billed.
    state
        .caught_up_on(&tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    let discarded =
        subscriptions::deleted_of_customer(&state.pool, tenant.as_str(), &customer_id).await?;
    let coverage = invoices::coverage_of_customer(&mut lock, tenant.as_str(), &customer_id).await?;
    let overlapping = live
        .iter()
        .map(|(_, p)| *p)
        .chain(coverage.iter().map(|c| c.window))
        .find(|w| *w != period && w.overlaps(&period));
    if let Some(other) = overlapping {
        return Err(AppError::Conflict {
            detail: format!(
                "the period overlaps {} to {}, which is invoiced already; invoice that period or one that does not overlap it",
                other.start,
                other.last_day()
            ),
            current_state: None,
        });
    }

    let (windows, segments) = unbilled(period, live.iter().map(|(_, p)| *p), &coverage, usage_end);
    let (new_usage, billed) = usage_to_bill(
        state,
        &mut lock,
        tenant.as_str(),
        &customer_id,
        &segments,
        &coverage,
        &discarded,
    )
    .await?;

    let mut rater = Rater::new(
        PriceSource::ReadModel {
            pool: &state.pool,
            tenant: tenant.as_str(),
        },
        terms.currency.as_deref(),
    )
    .await?;
    let Composed {
        lines,
        totals,
        without_price,
    } = compose(&mut rater, period, &windows, new_usage, &billed, &terms).await?;
    if !without_price.is_empty() && unpriced == Unpriced::Refuse {
        let named: Vec<String> = without_price
            .iter()
            .map(|(product, w)| format!("{product} from {} to {}", w.start, w.last_day()))
            .collect();
        return Err(AppError::Conflict {
            detail: format!(
                "usage without a price in force: {}; add a price that covers it, or generate \
                 with bill_unpriced_at_zero to bill it at 0",
                named.join("; ")
            ),
            current_state: None,
        });
    }
    let document = InvoiceDocument {
        customer_id: customer_id.clone(),
        period,
        currency: rater.currency.to_string(),
        bill_to: BillTo {
            name: profile.name,
            email: profile.email,
            tax_id: profile.tax_id,
        },
        resellers: customer
            .relationships
            .values()
            .filter_map(|r| r.reseller_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        billing_provider: terms.billing_provider.clone(),
        payment_terms_days: terms.payment_terms_days,
        invoice_date: today,
        due_date: today + Duration::days(i64::from(terms.payment_terms_days)),
        test_account: terms.test_account,
        customer_metadata: terms.metadata.clone(),
        lines,
        totals,
        usage_position: usage_end,
        coverage: segments,
    };
    let id = Uuid::now_v7();
    let executed = state
        .bus
        .execute_on_new::<Invoice>(
            meta,
            &id.to_string(),
            InvoiceCommand::Generate(Box::new(document)),
        )
        .await?;
    lock.commit().await?;
    Ok(Generated {
        id,
        position: executed.event.sequence,
        created: true,
    })
}

/// The windows an invoice of `period` bills (its own and those of the live invoices, for late
/// usage) and, in each, the usage-stream positions up to `end` that no live invoice covers.
pub fn unbilled(
    period: Period,
    live: impl Iterator<Item = Period>,
    coverage: &[Coverage],
    end: u64,
) -> (BTreeSet<Period>, Vec<Coverage>) {
    let windows: BTreeSet<Period> = std::iter::once(period).chain(live).collect();
    let segments = windows
        .iter()
        .flat_map(|w| uncovered(*w, coverage, end))
        .collect();
    (windows, segments)
}

/// The customer's usage in `ranges`, and what `coverage` (the live invoices') billed already
/// in the windows that have more: graduated tiers continue from there. Generation and
/// simulation read through here, so they read the same records.
pub async fn usage_to_bill(
    state: &App,
    conn: &mut sqlx::PgConnection,
    tenant: &str,
    customer_id: &str,
    ranges: &[Coverage],
    coverage: &[Coverage],
    discarded: &[String],
) -> Result<(Vec<usage::WindowTotal>, Billed), AppError> {
    let mut floors = Floors::default();
    let reading = floors.narrow(state, ranges).await?;
    let quantities =
        usage::quantities_in(&mut *conn, tenant, customer_id, &reading, discarded).await?;
    let topped_up: BTreeSet<NaiveDate> = quantities.iter().map(|q| q.window_start).collect();
    let billed_ranges: Vec<Coverage> = coverage
        .iter()
        .filter(|c| topped_up.contains(&c.window.start))
        .copied()
        .collect();
    let reading = floors.narrow(state, &billed_ranges).await?;
    let billed = usage::quantities_in(&mut *conn, tenant, customer_id, &reading, discarded).await?;
    Ok((quantities, billed_before(billed)))
}

/// Per window, provider, project and product: the quantity live invoices billed already.
pub type Billed = BTreeMap<(NaiveDate, String, String, String), Decimal>;

pub fn billed_before(quantities: Vec<usage::WindowTotal>) -> Billed {
    quantities
        .into_iter()
        .map(|q| {
            (
                (q.window_start, q.provider_id, q.project_id, q.product),
                q.quantity,
            )
        })
        .collect()
}

/// An invoice's lines and totals, before they are recorded.
pub struct Composed {
    pub lines: Vec<InvoiceLine>,
    pub totals: InvoiceTotals,
    /// The products and windows that had no price in force: their lines cost nothing.
    pub without_price: BTreeSet<(String, Period)>,
}

/// Rates the quantities to bill into lines (the period's own usage first, then adjustments
/// by the period they come from) and totals them under `terms`. Generation, verification and
/// simulation all come through here, so they can only differ in what they feed it.
pub async fn compose(
    rater: &mut Rater<'_>,
    period: Period,
    windows: &BTreeSet<Period>,
    quantities: Vec<usage::WindowTotal>,
    billed: &Billed,
    terms: &BillingTerms,
) -> Result<Composed, AppError> {
    let mut lines = Vec::with_capacity(quantities.len());
    let mut without_price: BTreeSet<(String, Period)> = BTreeSet::new();
    for q in quantities {
        let Some(window) = windows.iter().find(|w| w.start == q.window_start).copied() else {
            continue;
        };
        let already = billed
            .get(&(
                q.window_start,
                q.provider_id.clone(),
                q.project_id.clone(),
                q.product.clone(),
            ))
            .copied()
            .unwrap_or_default();
        let rated = rater
            .rate(&q.product, rated_at(window.end), already, q.quantity)
            .await?;
        if rated.rate_system.is_none() {
            without_price.insert((q.product.clone(), window));
        }
        let hourly = rated
            .unit
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("hour"));
        lines.push(InvoiceLine {
            kind: if window == period {
                LineKind::Usage
            } else {
                LineKind::Adjustment
            },
            origin_period: window,
            provider_id: q.provider_id,
            project_id: q.project_id,
            product: q.product,
            description: rated.description,
            category: rated.category,
            unit: rated.unit,
            quantity: q.quantity,
            uptime: hourly.then(|| uptime(q.quantity)),
            rate_system: rated.rate_system,
            rate: rated.rate,
            price_currency: rated.price_currency,
            exchange_rate: rated.exchange_rate,
            total: rated.total,
        });
    }
    lines.sort_by(|a, b| {
        (a.kind == LineKind::Adjustment, a.origin_period)
            .cmp(&(b.kind == LineKind::Adjustment, b.origin_period))
    });
    let totals = billing::totals(
        &rater.currency,
        lines.iter().map(|l| (l.category.as_str(), l.total)),
        terms,
    );
    Ok(Composed {
        lines,
        totals,
        without_price,
    })
}

/// The usage-stream position before which no record of a window can sit: usage is never
/// dated later than it is sent (beyond a few minutes of clock skew, which the hour covers), so
/// every record of a window was appended after the window began. Reading ranges from there
/// keeps an invoice's reads proportional to recent usage, not to the customer's history.
#[derive(Default)]
struct Floors(BTreeMap<Period, u64>);

impl Floors {
    async fn narrow(
        &mut self,
        state: &App,
        ranges: &[Coverage],
    ) -> Result<Vec<Coverage>, AppError> {
        let mut narrowed = Vec::with_capacity(ranges.len());
        for range in ranges {
            let floor = match self.0.get(&range.window) {
                Some(floor) => *floor,
                None => {
                    let began = range
                        .window
                        .start
                        .and_time(chrono::NaiveTime::MIN)
                        .and_utc();
                    let floor = state
                        .usage_log
                        .position_at(began - Duration::hours(1))
                        .await
                        .map_err(|e| AppError::Unavailable(e.to_string()))?;
                    self.0.insert(range.window, floor);
                    floor
                }
            };
            narrowed.push(Coverage {
                after: range.after.max(floor),
                ..*range
            });
        }
        Ok(narrowed)
    }
}

/// The positions in `(0, end]` of `window` that no coverage holds yet, as ranges.
pub fn uncovered(window: Period, coverage: &[Coverage], end: u64) -> Vec<Coverage> {
    let mut taken: Vec<(u64, u64)> = coverage
        .iter()
        .filter(|c| c.window == window)
        .map(|c| (c.after, c.through))
        .collect();
    taken.sort_unstable();
    let mut free = Vec::new();
    let mut cursor = 0;
    for (after, through) in taken {
        if after > cursor {
            free.push((cursor, after.min(end)));
        }
        cursor = cursor.max(through);
    }
    if cursor < end {
        free.push((cursor, end));
    }
    free.into_iter()
        .filter(|(after, through)| after < through)
        .map(|(after, through)| Coverage {
            window,
            after,
            through,
        })
        .collect()
}

/// Hours as `DD:HH:MM:SS`, as 001 shows uptime.
pub fn uptime(hours: Decimal) -> String {
    let seconds = (hours * Decimal::from(3600))
        .round()
        .try_into()
        .unwrap_or(0i64)
        .max(0);
    format!(
        "{:02}:{:02}:{:02}:{:02}",
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// A billing period from `YYYY-MM`.
pub fn month(text: &str) -> Option<Period> {
    let start = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
    let end = start.checked_add_months(chrono::Months::new(1))?;
    (text.len() == 7).then_some(Period { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Period {
        month("2026-10").unwrap()
    }

    #[test]
    fn uncovered_positions_are_the_gaps_up_to_the_end() {
        let w = window();
        let c = |after, through| Coverage {
            window: w,
            after,
            through,
        };
        let other = Coverage {
            window: month("2026-09").unwrap(),
            after: 0,
            through: 100,
        };
        assert_eq!(uncovered(w, &[], 10), vec![c(0, 10)]);
        assert_eq!(uncovered(w, &[], 0), vec![]);
        assert_eq!(
            uncovered(w, &[c(3, 5), other, c(0, 2)], 9),
            vec![c(2, 3), c(5, 9)]
        );
        assert_eq!(uncovered(w, &[c(0, 9)], 9), vec![]);
    }

    #[test]
    fn months_and_uptime() {
        let p = month("2026-12").unwrap();
        assert_eq!(p.start, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(p.end, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert!(month("2026-13").is_none() && month("2026-1").is_none());
        assert_eq!(uptime(Decimal::new(7445, 2)), "03:02:27:00");
    }
}
