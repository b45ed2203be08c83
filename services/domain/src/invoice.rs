//! The invoice aggregate: what a customer owes for one billing period.
//!
//! ```text
//! generate ─► draft ──approve──► open ──pay──────────────► paid
//!               │                 │  └─mark uncollectible─► uncollectible ──pay──► paid
//!               │                 └──void──► void ◄──void──┘
//!               └──delete──► deleted
//! ```
//! Resend is allowed while open or paid. Every other transition is refused naming the current
//! status, and a paid invoice is never voided. The document (lines, totals, rates) is frozen
//! at generation; no later command changes an amount.

pub use fleet_events::invoice::{
    AppliedTax, BillTo, Coverage, InvoiceDocument, InvoiceEvent, InvoiceLine, InvoiceTotals,
    LineKind, Period,
};
use rust_decimal::Decimal;

use crate::{Aggregate, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvoiceStatus {
    #[default]
    Draft,
    Open,
    Paid,
    Uncollectible,
    Void,
    Deleted,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Uncollectible => "uncollectible",
            Self::Void => "void",
            Self::Deleted => "deleted",
        }
    }

    pub const ALL: [InvoiceStatus; 6] = [
        Self::Draft,
        Self::Open,
        Self::Paid,
        Self::Uncollectible,
        Self::Void,
        Self::Deleted,
    ];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone)]
pub enum InvoiceCommand {
    Generate(Box<InvoiceDocument>),
    Approve,
    MarkPaid,
    MarkUncollectible,
    Void { reason: Option<String> },
    Delete,
    Resend,
}

impl InvoiceCommand {
    fn action(&self) -> &'static str {
        match self {
            Self::Generate(_) => "generate",
            Self::Approve => "approve",
            Self::MarkPaid => "mark paid",
            Self::MarkUncollectible => "mark uncollectible",
            Self::Void { .. } => "void",
            Self::Delete => "delete",
            Self::Resend => "resend",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Invoice {
    pub document: Option<Box<InvoiceDocument>>,
    pub status: InvoiceStatus,
}

/// An invoice's amounts must add up before it is recorded: the generator is code too.
fn check_sums(doc: &InvoiceDocument) -> Result<(), DomainError> {
    let t = &doc.totals;
    let lines: Decimal = doc.lines.iter().map(|l| l.total).sum();
    let taxes: Decimal = t.taxes.iter().map(|x| x.amount).sum();
    let sums_hold = t.subtotal == lines
        && t.discount_total == t.discount_percentage_value + t.discount_flat
        && t.tax_total == taxes
        && t.total == t.subtotal - t.discount_total + t.tax_total;
    if !sums_hold {
        return Err(DomainError::invalid(
            "totals",
            "do not add up to the lines, discounts and taxes",
        ));
    }
    if doc.period.start >= doc.period.end {
        return Err(DomainError::invalid("period", "must end after it starts"));
    }
    Ok(())
}

impl Aggregate for Invoice {
    const TYPE: &'static str = fleet_events::invoice::AGGREGATE_TYPE;
    type Command = InvoiceCommand;
    type Event = InvoiceEvent;

    fn decide(&self, command: &InvoiceCommand) -> Result<InvoiceEvent, DomainError> {
        use InvoiceCommand as C;
        use InvoiceStatus as S;
        if let C::Generate(document) = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            check_sums(document)?;
            return Ok(InvoiceEvent::InvoiceGenerated {
                invoice: document.clone(),
            });
        }
        let Some(document) = self.document.as_ref().filter(|_| self.status != S::Deleted) else {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        };
        let event = match (command, self.status) {
            (C::Approve, S::Draft) => InvoiceEvent::InvoiceApproved {},
            (C::MarkPaid, S::Open | S::Uncollectible) => InvoiceEvent::InvoicePaid {},
            (C::MarkUncollectible, S::Open) => InvoiceEvent::InvoiceMarkedUncollectible {},
            (C::Void { reason }, S::Open | S::Uncollectible) => InvoiceEvent::InvoiceVoided {
                reason: reason.clone(),
            },
            (C::Delete, S::Draft) => InvoiceEvent::InvoiceDeleted {},
            (C::Resend, S::Open | S::Paid) => InvoiceEvent::InvoiceResent {
                to: document.bill_to.email.clone(),
            },
            (command, status) => {
                return Err(DomainError::InvalidState {
                    aggregate: Self::TYPE,
                    action: command.action(),
                    state: status.as_str().into(),
                })
            }
        };
        Ok(event)
    }

    fn evolve(&mut self, event: &InvoiceEvent) {
        use InvoiceEvent as E;
        use InvoiceStatus as S;
        match event {
            E::InvoiceGenerated { invoice } => {
                self.document = Some(invoice.clone());
                self.status = S::Draft;
            }
            E::InvoiceApproved {} => self.status = S::Open,
            E::InvoicePaid {} => self.status = S::Paid,
            E::InvoiceMarkedUncollectible {} => self.status = S::Uncollectible,
            E::InvoiceVoided { .. } => self.status = S::Void,
            E::InvoiceDeleted {} => self.status = S::Deleted,
            E::InvoiceResent { .. } => {}
        }
    }

    fn exists(&self) -> bool {
        self.document.is_some()
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::run_commands;
    use InvoiceCommand as C;

    pub(crate) fn document() -> Box<InvoiceDocument> {
        let day = |d| NaiveDate::from_ymd_opt(2026, 10, d).unwrap();
        let period = Period {
            start: day(1),
            end: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        };
        Box::new(InvoiceDocument {
            customer_id: "c-1".into(),
            period,
            currency: "CAD".into(),
            bill_to: BillTo {
                name: "Contoso".into(),
                email: "ap@contoso.example".into(),
                tax_id: None,
            },
            resellers: vec![],
            billing_provider: "BRING_YOUR_OWN".into(),
            payment_terms_days: 30,
            invoice_date: period.end,
            due_date: period.end,
            test_account: false,
            customer_metadata: serde_json::json!({}),
            lines: vec![InvoiceLine {
                kind: LineKind::Usage,
                origin_period: period,
                provider_id: String::new(),
                project_id: String::new(),
                product: "vcpu-hour".into(),
                description: "vCPU hour".into(),
                category: "compute".into(),
                unit: Some("hour".into()),
                quantity: Decimal::new(2073, 0),
                uptime: None,
                rate_system: Some("flat".into()),
                rate: None,
                price_currency: Some("CAD".into()),
                exchange_rate: Decimal::ONE,
                total: Decimal::new(2073, 2),
            }],
            totals: InvoiceTotals {
                subtotal: Decimal::new(2073, 2),
                total: Decimal::new(2073, 2),
                ..InvoiceTotals::default()
            },
            usage_position: 7,
            coverage: vec![],
        })
    }

    fn refused(commands: &[C], current: &str) {
        let (_, result) = run_commands::<Invoice>(commands);
        match result {
            Err(DomainError::InvalidState { state, .. }) => assert_eq!(state, current),
            other => panic!("{commands:?}: expected a refusal in {current}, got {other:?}"),
        }
    }

    #[test]
    fn the_lifecycle_follows_the_diagram() {
        let generate = C::Generate(document());
        let (invoice, last) = run_commands::<Invoice>(&[
            generate.clone(),
            C::Approve,
            C::MarkUncollectible,
            C::MarkPaid,
            C::Resend,
        ]);
        assert_eq!(invoice.status, InvoiceStatus::Paid);
        assert_eq!(
            last.unwrap(),
            InvoiceEvent::InvoiceResent {
                to: "ap@contoso.example".into()
            }
        );
        let (invoice, _) =
            run_commands::<Invoice>(&[generate.clone(), C::Approve, C::Void { reason: None }]);
        assert_eq!(invoice.status, InvoiceStatus::Void);
        let (invoice, _) = run_commands::<Invoice>(&[generate.clone(), C::Approve, C::MarkPaid]);
        assert_eq!(invoice.status, InvoiceStatus::Paid);
        let (invoice, _) = run_commands::<Invoice>(&[
            generate.clone(),
            C::Approve,
            C::MarkUncollectible,
            C::Void { reason: None },
        ]);
        assert_eq!(invoice.status, InvoiceStatus::Void);
        let (invoice, _) = run_commands::<Invoice>(&[generate.clone(), C::Delete]);
        assert_eq!(invoice.status, InvoiceStatus::Deleted);
    }

    #[test]
    fn every_other_transition_names_the_current_status() {
        let g = || C::Generate(document());
        let void = || C::Void { reason: None };
        for command in [C::MarkPaid, C::MarkUncollectible, void(), C::Resend] {
            refused(&[g(), command], "draft");
        }
        for command in [C::Approve, C::Delete] {
            refused(&[g(), C::Approve, command], "open");
        }
        for command in [C::Approve, C::MarkUncollectible, void(), C::Delete] {
            refused(&[g(), C::Approve, C::MarkPaid, command], "paid");
        }
        for command in [C::Approve, C::MarkUncollectible, C::Delete, C::Resend] {
            refused(
                &[g(), C::Approve, C::MarkUncollectible, command],
                "uncollectible",
            );
        }
        for command in [
            C::Approve,
            C::MarkPaid,
            C::MarkUncollectible,
            void(),
            C::Resend,
            C::Delete,
        ] {
            refused(&[g(), C::Approve, void(), command], "void");
        }
        let (_, deleted) = run_commands::<Invoice>(&[g(), C::Delete, C::Approve]);
        assert!(matches!(deleted, Err(DomainError::NotFound { .. })));
        let (_, twice) = run_commands::<Invoice>(&[g(), g()]);
        assert!(matches!(twice, Err(DomainError::AlreadyExists { .. })));
    }

    #[test]
    fn a_document_whose_sums_do_not_hold_is_refused() {
        let mut doc = document();
        doc.totals.total += Decimal::new(1, 2);
        let (_, result) = run_commands::<Invoice>(&[C::Generate(doc)]);
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "totals",
                ..
            })
        ));
    }
}
