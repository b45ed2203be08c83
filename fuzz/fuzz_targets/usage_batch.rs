//! A usage batch as posted: the body parses or is refused whole; then each record is kept,
//! rejected or counted as a repeat, exactly once, and nothing kept breaks a rule.
#![no_main]

use std::collections::HashSet;

use fleet_api::routes::usage::{parse_batch, read_records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = parse_batch(data) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let read = read_records(&records, now);
    let (kept, rejected) = read.indexes();
    let kept_set: HashSet<usize> = kept.iter().copied().collect();
    assert_eq!(kept_set.len(), kept.len(), "a record kept twice");
    for index in &rejected {
        assert!(*index < records.len());
        assert!(!kept_set.contains(index), "record {index} kept and rejected");
    }
    assert!(kept.len() + rejected.len() + read.duplicates().len() <= records.len());
    let mut ids = HashSet::new();
    for (id, product, quantity) in read.kept() {
        assert!(ids.insert(id.to_owned()), "{id} kept twice");
        assert!(!id.is_empty() && id.len() <= 128 && !id.contains(char::is_whitespace));
        assert!(!product.is_empty());
        assert!(!quantity.is_sign_negative());
    }
});
