//! Astra's list query (`filter` grammar, `orderBy`, paging): any text is taken or refused
//! with a problem, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = fleet_compat::fuzzing::astra_listing(query);
    }
});
