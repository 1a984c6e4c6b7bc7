//! Deletions waiting to be applied to blocks.
//!
//! [`crate::Storage::delete`] removes head data at once. Blocks are
//! immutable, so for each block holding matching series a tombstone
//! `(block, matchers, mint, maxt)` is recorded in the `tombstones` file;
//! queries skip the covered samples, and the next compaction rewrites the
//! block without them and forgets the tombstone. Format in FORMAT.md.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::block::BlockId;
use crate::encoding::{Decbuf, Encbuf, crc32};
use crate::error::{Error, Result};
use crate::labels::{Labels, MatchType, Matcher, matches_all};

const MAGIC: u32 = 0x5354_5442; // "STTB"
const VERSION: u8 = 1;
/// File name of the tombstones file in the data directory.
pub(crate) const FILE_NAME: &str = "tombstones";

/// One deletion pending on one block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tombstone {
    pub(crate) block: BlockId,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

/// All pending tombstones.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tombstones(pub(crate) Vec<Tombstone>);

impl Tombstones {
    /// Deleted intervals of a series in `block`.
    pub(crate) fn intervals(&self, block: BlockId, labels: &Labels) -> Vec<(i64, i64)> {
        self.0
            .iter()
            .filter(|t| t.block == block && matches_all(&t.matchers, labels))
            .map(|t| (t.mint, t.maxt))
            .collect()
    }

    pub(crate) fn has_block(&self, block: BlockId) -> bool {
        self.0.iter().any(|t| t.block == block)
    }

    pub(crate) fn forget_blocks(&mut self, blocks: &[BlockId]) {
        self.0.retain(|t| !blocks.contains(&t.block));
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encbuf::new();
        e.put_u32(MAGIC);
        e.put_u8(VERSION);
        e.put_uvarint(self.0.len() as u64);
        for t in &self.0 {
            e.put_u64(t.block.0);
            e.put_varint(t.mint);
            e.put_varint(t.maxt);
            e.put_uvarint(t.matchers.len() as u64);
            for m in &t.matchers {
                e.put_u8(match m.kind {
                    MatchType::Equal => 0,
                    MatchType::NotEqual => 1,
                    MatchType::Regex => 2,
                    MatchType::NotRegex => 3,
                });
                e.put_uvarint_str(&m.name);
                e.put_uvarint_str(&m.value);
            }
        }
        e.put_crc32_since(0);
        e.into_vec()
    }

    fn decode(bytes: &[u8], file: &Path) -> Result<Tombstones> {
        let corrupt = |offset: usize, why: String| Error::corruption(file, offset as u64, why);
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or_else(|| corrupt(0, "file shorter than its checksum".into()))?;
        let (body, sum) = bytes.split_at(body_len);
        let want = u32::from_be_bytes(
            sum.try_into()
                .map_err(|_| corrupt(body_len, "bad checksum".into()))?,
        );
        if crc32(body) != want {
            return Err(corrupt(body_len, "crc32 mismatch".into()));
        }
        let mut d = Decbuf::new(body);
        let de = |e: crate::encoding::DecodeError| corrupt(e.offset, e.what);
        if d.u32().map_err(de)? != MAGIC {
            return Err(corrupt(0, "bad magic".into()));
        }
        let v = d.u8().map_err(de)?;
        if v != VERSION {
            return Err(corrupt(4, format!("unsupported version {v}")));
        }
        let n = d.uvarint().map_err(de)?;
        let mut out = Vec::new();
        for _ in 0..n {
            let block = BlockId(d.u64().map_err(de)?);
            let mint = d.varint().map_err(de)?;
            let maxt = d.varint().map_err(de)?;
            let nm = d.uvarint().map_err(de)?;
            let mut matchers = Vec::new();
            for _ in 0..nm {
                let at = d.offset();
                let kind = match d.u8().map_err(de)? {
                    0 => MatchType::Equal,
                    1 => MatchType::NotEqual,
                    2 => MatchType::Regex,
                    3 => MatchType::NotRegex,
                    k => return Err(corrupt(at, format!("unknown matcher kind {k}"))),
                };
                let name = d.uvarint_str().map_err(de)?;
                let value = d.uvarint_str().map_err(de)?;
                matchers
                    .push(Matcher::new(kind, name, value).map_err(|e| corrupt(at, e.to_string()))?);
            }
            out.push(Tombstone {
                block,
                matchers,
                mint,
                maxt,
            });
        }
        Ok(Tombstones(out))
    }

    /// Reads the file in `dir`; a missing file means no tombstones.
    pub(crate) fn load(dir: &Path) -> Result<Tombstones> {
        let path = dir.join(FILE_NAME);
        match fs::read(&path) {
            Ok(bytes) => Tombstones::decode(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Writes the file atomically (temp file, fsync, rename, fsync dir).
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE_NAME);
        let tmp: PathBuf = dir.join(format!("{FILE_NAME}.tmp"));
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&self.encode())
            .map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
        crate::fsutil::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let ts = Tombstones(vec![Tombstone {
            block: BlockId(7),
            matchers: vec![
                Matcher::equal("job", "a"),
                Matcher::new(MatchType::Regex, "i", "x.*").unwrap(),
            ],
            mint: -5,
            maxt: 99,
        }]);
        ts.save(dir.path()).unwrap();
        assert_eq!(Tombstones::load(dir.path()).unwrap().0, ts.0);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        bytes[10] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let err = Tombstones::load(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::Corruption { ref file, .. } if file == &path),
            "{err}"
        );
    }
}
