//! Waldur's list query (`o=`, `field=`, booleans, UUIDs, dates, `page`/`page_size`) against
//! any row count: read or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (total, query) = match data.split_first() {
        Some((first, rest)) => (i64::from(*first) * 1_000, rest),
        None => return,
    };
    if let Ok(query) = std::str::from_utf8(query) {
        fleet_compat::fuzzing::waldur_query(query, total);
    }
});
