//! Arbitrary bytes as a PromQL query: never a panic, and whatever parses
//! prints to text that parses back to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > 4096 {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = strata_promql::parse(text) {
        let printed = expr.to_string();
        let again = strata_promql::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
        assert_eq!(again, expr, "{printed:?}");
    }
});
