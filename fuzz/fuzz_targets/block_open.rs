//! Arbitrary bytes as a block's index (with arbitrary meta and chunk files):
//! opening and reading every series and chunk never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::block::Block;
use strata_engine::index::PostingsSource;

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 20 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, rest) = data.split_at(data.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    std::fs::write(dir.path().join("meta"), a).unwrap();
    std::fs::write(dir.path().join("index"), b).unwrap();
    std::fs::create_dir(dir.path().join("chunks")).unwrap();
    std::fs::write(dir.path().join("chunks/000001"), c).unwrap();
    if let Ok(block) = Block::open(dir.path()) {
        if let Ok(ids) = block.all_postings() {
            for id in ids {
                if let Ok((_, chunks)) = block.series(id) {
                    for m in chunks {
                        let _ = block.chunk(&m);
                    }
                }
            }
        }
        let _ = block.label_names();
    }
});
