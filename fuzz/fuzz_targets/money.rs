//! Money as it arrives: a decimal string (never a JSON number), a currency code, a price.
//! Whatever the input, parsing answers or refuses; an amount rounds to its currency's minor
//! unit, within half a unit, with every minor digit; a valid price never costs less for more.
#![no_main]

use fleet_domain::money::Currency;
use fleet_domain::rating::Pricing;
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

#[derive(serde::Deserialize)]
struct Amount {
    #[serde(deserialize_with = "fleet_domain::money::decimal_str")]
    value: Decimal,
    currency: String,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(amount) = serde_json::from_slice::<Amount>(data) {
        if let Ok(currency) = Currency::parse(&amount.currency) {
            let billed = currency.amount(amount.value);
            assert_eq!(billed.scale(), currency.minor_units());
            let unit = Decimal::new(1, currency.minor_units());
            if let Some(gap) = billed.checked_sub(amount.value) {
                assert!(gap.abs() * Decimal::TWO <= unit, "{} -> {billed}", amount.value);
            }
        }
    }
    if let Ok(pricing) = serde_json::from_slice::<Pricing>(data) {
        if pricing.validate().is_ok() {
            // Quantities as usage sends them: up to a billion units, to the milli-unit.
            let mut previous = Decimal::ZERO;
            for step in [0i64, 1, 999, 1_000, 123_456, 10_000_000, 1_000_000_000_000] {
                let quantity = Decimal::new(step, 3);
                let price = pricing.rate(quantity);
                assert!(price >= previous, "{quantity} costs {price}, less than before");
                previous = price;
            }
        }
    }
});
