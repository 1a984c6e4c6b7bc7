//! Arbitrary bytes as a WAL segment: replay never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::wal::Wal;

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 20 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00000001"), data).unwrap();
    let _ = Wal::replay(dir.path(), |_| Ok(()));
});
