//! Compressed frames, as block chunk segments and index series sections
//! store them (`uvarint payload length | codec | uvarint raw length |
//! payload`, see `FORMAT.md`): writing, reading, and the decompressed frames
//! shared by every block of the process under one memory budget, least
//! recently used out first. A query that visits series spread over a block's index (all
//! series of one host, say) would otherwise decompress the same frames again
//! and again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

/// Bytes of decompressed frames kept at most.
const BUDGET: usize = 32 << 20;

/// (owner, frame offset) -> (frame, last use).
// foldhash rather than SipHash: every read of a block's series or chunk
// looks a frame up here, and the keys are not chosen by clients.
type Frames = hashbrown::HashMap<(u64, u64), (Arc<[u8]>, u64)>;

#[derive(Default)]
struct Cache {
    frames: Frames,
    bytes: usize,
    tick: u64,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);
static OWNERS: AtomicU64 = AtomicU64::new(1);

/// A key space of its own for one reader (a chunk segment or an index).
pub(crate) fn new_owner() -> u64 {
    OWNERS.fetch_add(1, Ordering::Relaxed)
}

/// The frame at `offset` of `owner`, from the cache or from `load`.
pub(crate) fn get_or_load<E>(
    owner: u64,
    offset: u64,
    load: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Arc<[u8]>, E> {
    {
        let mut c = CACHE.lock();
        c.tick += 1;
        let tick = c.tick;
        if let Some((frame, used)) = c.frames.get_mut(&(owner, offset)) {
            *used = tick;
            return Ok(frame.clone());
        }
    }
    // Decompress without holding the lock.
    let frame: Arc<[u8]> = load()?.into();
    let mut c = CACHE.lock();
    if frame.len() <= BUDGET / 4 && !c.frames.contains_key(&(owner, offset)) {
        c.tick += 1;
        let tick = c.tick;
        c.bytes += frame.len();
        c.frames.insert((owner, offset), (frame.clone(), tick));
        while c.bytes > BUDGET {
            let Some(oldest) = c.frames.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| *k) else {
                break;
            };
            if let Some((f, _)) = c.frames.remove(&oldest) {
                c.bytes -= f.len();
            }
        }
    }
    Ok(frame)
}

/// Payload codecs.
const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
/// zstd level: fast to write at every head cut, within a few percent of the
/// best ratio on chunk and index data.
const ZSTD_LEVEL: i32 = 3;
/// Largest decompressed frame accepted.
const MAX_RAW: u64 = 16 << 20;

/// Appends a frame holding `raw` (zstd-compressed when that is smaller;
/// raw when zstd fails) and returns where its codec byte starts (what a crc
/// covers from).
pub(crate) fn put(out: &mut crate::encoding::Encbuf, raw: &[u8]) -> usize {
    let compressed = zstd::bulk::compress(raw, ZSTD_LEVEL).unwrap_or_default();
    let (codec, payload) = if !compressed.is_empty() && compressed.len() < raw.len() {
        (CODEC_ZSTD, compressed.as_slice())
    } else {
        (CODEC_RAW, raw)
    };
    out.put_uvarint(payload.len() as u64);
    let body_start = out.len();
    out.put_u8(codec);
    out.put_uvarint(raw.len() as u64);
    out.put_bytes(payload);
    body_start
}

/// A frame as stored, not yet decompressed.
pub(crate) struct Stored<'a> {
    /// The codec byte through the end of the payload (what a crc covers).
    pub(crate) body: &'a [u8],
    codec: u8,
    raw_len: u64,
    payload: &'a [u8],
}

/// Reads the frame at the start of `d`.
///
/// # Errors
/// A truncated or malformed header.
pub(crate) fn read<'a>(
    d: &mut crate::encoding::Decbuf<'a>,
) -> std::result::Result<Stored<'a>, crate::encoding::DecodeError> {
    let len = d.len_prefix()?;
    let rest = d.rest();
    let body_at = d.offset();
    let codec = d.u8()?;
    let raw_len = d.uvarint()?;
    let payload = d.bytes(len)?;
    let body = rest.get(..d.offset() - body_at).unwrap_or_default();
    Ok(Stored {
        body,
        codec,
        raw_len,
        payload,
    })
}

impl Stored<'_> {
    /// The raw frame: checks the declared size, the codec and the size
    /// decompressed.
    ///
    /// # Errors
    /// What is wrong, for a corruption report.
    pub(crate) fn decompress(&self) -> std::result::Result<Vec<u8>, String> {
        let raw_len = self.raw_len;
        if raw_len > MAX_RAW {
            return Err(format!("frame declares {raw_len} bytes, above the limit"));
        }
        let raw = match self.codec {
            CODEC_RAW => self.payload.to_vec(),
            CODEC_ZSTD => zstd_decompress(self.payload, raw_len as usize)
                .map_err(|e| format!("frame does not decompress: {e}"))?,
            other => return Err(format!("unknown frame codec {other}")),
        };
        if raw.len() as u64 != raw_len {
            return Err(format!(
                "frame decompressed to {} bytes, header says {raw_len}",
                raw.len()
            ));
        }
        Ok(raw)
    }
}

/// zstd-decompresses `payload` into exactly `raw_len` bytes, with a
/// decompression context kept per thread.
fn zstd_decompress(payload: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(payload, raw_len),
            None => zstd::bulk::decompress(payload, raw_len),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_shared_and_the_budget_holds() {
        let owner = new_owner();
        let mut loads = 0;
        for _ in 0..3 {
            let f = get_or_load::<()>(owner, 7, || {
                loads += 1;
                Ok(vec![1u8; 1000])
            })
            .unwrap();
            assert_eq!(f.len(), 1000);
        }
        assert_eq!(loads, 1, "loaded once, then served from the cache");
        // Far more than the budget: the cache stays within it.
        let big = new_owner();
        for i in 0..200 {
            get_or_load::<()>(big, i, || Ok(vec![0u8; 1 << 20])).unwrap();
        }
        assert!(CACHE.lock().bytes <= BUDGET);
    }
}
