//! The `meta` file of a block.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::encoding::{Decbuf, Encbuf, crc32};
use crate::error::{Error, Result};

/// "STMT"
const MAGIC: u32 = 0x5354_4d54;
const VERSION: u8 = 1;
/// File name of the meta file in a block directory.
pub(crate) const FILE: &str = "meta";

/// A block's identity: assigned in increasing order as blocks are created.
/// Printed (and named on disk) as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub u64);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for BlockId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if s.len() != 16 {
            // Produce a ParseIntError for wrong lengths too.
            return u64::from_str_radix("x", 16).map(BlockId);
        }
        u64::from_str_radix(s, 16).map(BlockId)
    }
}

/// Counts of what a block holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Series.
    pub num_series: u64,
    /// Chunks.
    pub num_chunks: u64,
    /// Samples.
    pub num_samples: u64,
}

/// What the `meta` file says about a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    /// The block's id.
    pub id: BlockId,
    /// Oldest sample's timestamp (ms).
    pub min_t: i64,
    /// Newest sample's timestamp (ms, inclusive).
    pub max_t: i64,
    /// Counts.
    pub stats: BlockStats,
    /// 1 for a block cut from the head, one more than its inputs' for a compacted block.
    pub level: u32,
    /// The level-1 blocks this one was compacted from (empty for level 1).
    pub sources: Vec<BlockId>,
}

impl BlockMeta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encbuf::new();
        e.put_u32(MAGIC);
        e.put_u8(VERSION);
        e.put_u64(self.id.0);
        e.put_i64(self.min_t);
        e.put_i64(self.max_t);
        e.put_u64(self.stats.num_series);
        e.put_u64(self.stats.num_chunks);
        e.put_u64(self.stats.num_samples);
        e.put_u32(self.level);
        e.put_uvarint(self.sources.len() as u64);
        for s in &self.sources {
            e.put_u64(s.0);
        }
        e.put_crc32_since(0);
        e.into_vec()
    }

    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<BlockMeta> {
        let bad = |offset: usize, why: String| Error::corruption(path, offset as u64, why);
        let body_len = bytes
            .len()
            .checked_sub(4)
            .ok_or_else(|| bad(0, "meta file too short".into()))?;
        let (body, sum) = bytes.split_at(body_len);
        let mut d = Decbuf::new(sum);
        let want = d.u32().map_err(|e| bad(body_len, e.what))?;
        if crc32(body) != want {
            return Err(bad(body_len, "meta crc32 mismatch".into()));
        }
        let mut d = Decbuf::new(body);
        let de = |e: crate::encoding::DecodeError| bad(e.offset, e.what);
        if d.u32().map_err(de)? != MAGIC {
            return Err(bad(0, "bad meta magic".into()));
        }
        let v = d.u8().map_err(de)?;
        if v != VERSION {
            return Err(bad(4, format!("unsupported meta version {v}")));
        }
        let id = BlockId(d.u64().map_err(de)?);
        let min_t = d.i64().map_err(de)?;
        let max_t = d.i64().map_err(de)?;
        let stats = BlockStats {
            num_series: d.u64().map_err(de)?,
            num_chunks: d.u64().map_err(de)?,
            num_samples: d.u64().map_err(de)?,
        };
        let level = d.u32().map_err(de)?;
        let n = d.len_prefix().map_err(de)?;
        let mut sources = Vec::with_capacity(n.min(d.remaining() / 8));
        for _ in 0..n {
            sources.push(BlockId(d.u64().map_err(de)?));
        }
        Ok(BlockMeta {
            id,
            min_t,
            max_t,
            stats,
            level,
            sources,
        })
    }
}
