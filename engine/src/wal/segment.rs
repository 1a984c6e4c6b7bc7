//! Segment files and record framing: headers, crc32, torn tails, resync.

use std::fs;
use std::path::{Path, PathBuf};

use crate::encoding::Encbuf;
use crate::error::{Error, Result};

use super::record::{Record, TYPE_DELETES, TYPE_SERIES};
use super::{Corruption, ReplayReport};

/// "STWL"
pub(crate) const MAGIC: u32 = 0x5354_574c;
/// Version 2 files end with a seal record once closed; version 1 files
/// (written before seals existed) are read without that check.
pub(crate) const VERSION: u8 = 2;
/// The oldest version read.
const VERSION_UNSEALED: u8 = 1;
/// Type byte of the seal record: payload is the u64 offset the seal itself
/// starts at. A closed file (a segment before the newest, a checkpoint)
/// ends with one, so a file cut exactly at a record boundary is told from
/// a complete one.
pub(crate) const TYPE_SEAL: u8 = 4;
// `frame_at` accepts the types as one range, TYPE_SERIES..=TYPE_SEAL.
const _: () = assert!(TYPE_SEAL == TYPE_DELETES + 1);
/// Segment header: magic + version.
pub(crate) const HEADER_LEN: usize = 5;
/// Every record starts with this byte, so replay can find the next record
/// after damage.
const SYNC: u8 = 0xa5;
/// Record header: sync, type, payload length, crc32.
const RECORD_HEADER_LEN: usize = 10;
/// Bytes of a seal record: header and the u64 offset.
pub(crate) const SEAL_LEN: usize = RECORD_HEADER_LEN + 8;

/// File name of segment `index`.
pub(crate) fn segment_name(index: u64) -> String {
    format!("{index:08}")
}

/// The index of a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    (name.len() >= 8 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// The segment header bytes.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let m = MAGIC.to_be_bytes();
    [m[0], m[1], m[2], m[3], VERSION]
}

/// Appends one framed record to `out`.
pub(crate) fn encode_record(rec: &Record, out: &mut Encbuf) {
    encode_frame(rec.type_byte(), out, |out| rec.encode_payload(out));
}

/// Appends a seal record to `out`, whose bytes are to be written at
/// offset `at` of their file.
pub(crate) fn encode_seal(at: u64, out: &mut Encbuf) {
    encode_frame(TYPE_SEAL, out, |out| out.put_u64(at));
}

/// Appends a record frame of type `kind` with the payload `payload` writes.
fn encode_frame(kind: u8, out: &mut Encbuf, payload: impl FnOnce(&mut Encbuf)) {
    let start = out.len();
    out.put_u8(SYNC);
    out.put_u8(kind);
    out.put_u32(0); // length, patched below
    out.put_u32(0); // crc, patched below
    payload(out);
    let len = (out.len() - start - RECORD_HEADER_LEN) as u32;
    let bytes = out.as_mut_slice();
    if let Some(l) = bytes.get_mut(start + 2..start + 6) {
        l.copy_from_slice(&len.to_be_bytes());
    }
    let crc = record_crc(bytes.get(start..).unwrap_or(&[]));
    if let Some(c) = bytes.get_mut(start + 6..start + 10) {
        c.copy_from_slice(&crc.to_be_bytes());
    }
}

/// crc32 over type, length and payload of a framed record (crc field excluded).
fn record_crc(framed: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(framed.get(1..6).unwrap_or(&[]));
    h.update(framed.get(RECORD_HEADER_LEN..).unwrap_or(&[]));
    h.finalize()
}

/// What is at a position of a segment.
enum Frame<'a> {
    /// A record whose crc checks out.
    Good {
        kind: u8,
        payload: &'a [u8],
        next: usize,
    },
    /// Fewer bytes left than the record needs.
    Short,
    /// A plausible header whose crc fails.
    BadCrc { next: usize },
    /// No record header here.
    Garbage,
}

fn frame_at(data: &[u8], pos: usize) -> Frame<'_> {
    let Some(h) = data.get(pos..pos + RECORD_HEADER_LEN) else {
        return Frame::Short;
    };
    let mut d = crate::encoding::Decbuf::new(h);
    let (Ok(sync), Ok(kind), Ok(len), Ok(want)) = (d.u8(), d.u8(), d.u32(), d.u32()) else {
        return Frame::Short;
    };
    if sync != SYNC || !(TYPE_SERIES..=TYPE_SEAL).contains(&kind) {
        return Frame::Garbage;
    }
    let len = len as usize;
    let end = pos + RECORD_HEADER_LEN + len;
    let Some(framed) = data.get(pos..end) else {
        return Frame::Short;
    };
    if record_crc(framed) != want {
        return Frame::BadCrc { next: end };
    }
    Frame::Good {
        kind,
        payload: framed.get(RECORD_HEADER_LEN..).unwrap_or(&[]),
        next: end,
    }
}

/// The next position at or after `from` where a valid record starts.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    (from..data.len())
        .find(|&p| data.get(p) == Some(&SYNC) && matches!(frame_at(data, p), Frame::Good { .. }))
}

/// Where a segment stands among the WAL's segments, which decides what an
/// incomplete tail means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentAge {
    /// The newest segment: an incomplete tail is a torn write, cut off.
    Newest,
    /// Any older segment (or a checkpoint): an incomplete tail is damage.
    Older,
}

/// Reads every record of one segment file, calling `f` for each.
/// `age` says whether an incomplete tail is a torn write (cut off) or
/// damage.
pub(crate) fn read_segment(
    path: &Path,
    age: SegmentAge,
    f: &mut dyn FnMut(Record) -> Result<()>,
    report: &mut ReplayReport,
) -> Result<()> {
    let last = age == SegmentAge::Newest;
    let data = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let damage = |offset: usize, reason: String| Corruption {
        file: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    if data.len() < HEADER_LEN {
        let c = damage(
            0,
            format!("segment of {} bytes has no complete header", data.len()),
        );
        if last {
            report.torn_tail = Some(c);
        } else {
            report.corruptions.push(c);
        }
        return Ok(());
    }
    let magic_ok = data.get(..4) == header().get(..4);
    let version = data.get(4).copied().unwrap_or(0);
    if !magic_ok || !(VERSION_UNSEALED..=VERSION).contains(&version) {
        report
            .corruptions
            .push(damage(0, "bad segment magic or version".into()));
    }
    // Whether the last thing read so far is a valid seal.
    let mut sealed = false;
    let mut pos = HEADER_LEN;
    while pos < data.len() {
        let frame = frame_at(&data, pos);
        sealed = false;
        match frame {
            Frame::Good {
                kind: TYPE_SEAL,
                payload,
                next,
            } => {
                let says = crate::encoding::Decbuf::new(payload).u64().ok();
                if says == Some(pos as u64) {
                    sealed = true;
                } else {
                    report.corruptions.push(damage(
                        pos,
                        format!("seal record says it starts at {says:?}: bytes before it are missing or extra"),
                    ));
                }
                pos = next;
            }
            Frame::Good {
                kind,
                payload,
                next,
            } => {
                match Record::decode_payload(kind, payload) {
                    Ok(rec) => {
                        report.records += 1;
                        f(rec)?;
                    }
                    Err(e) => report.corruptions.push(damage(
                        pos + RECORD_HEADER_LEN + e.offset,
                        format!("record does not decode: {}", e.what),
                    )),
                }
                pos = next;
            }
            Frame::Short | Frame::BadCrc { .. } if last && is_tail(&data, pos) => {
                report.torn_tail = Some(damage(
                    pos,
                    "incomplete last record (torn write); cut off".into(),
                ));
                truncate(path, pos)?;
                return Ok(());
            }
            Frame::BadCrc { next } => {
                report
                    .corruptions
                    .push(damage(pos, "record crc32 mismatch; skipped".into()));
                pos = match frame_at(&data, next) {
                    Frame::Good { .. } => next,
                    _ => resync(&data, pos + 1).unwrap_or(data.len()),
                };
            }
            Frame::Short | Frame::Garbage => {
                let next = resync(&data, pos + 1).unwrap_or(data.len());
                report.corruptions.push(damage(
                    pos,
                    format!("{} unreadable bytes; skipped", next - pos),
                ));
                pos = next;
            }
        }
    }
    if !last && version >= VERSION && !sealed {
        report.corruptions.push(damage(
            data.len(),
            "closed file ends without its seal record: it was cut, and records after this point are lost".into(),
        ));
    }
    Ok(())
}

/// True when no valid record follows `pos`: the damage is the file's tail.
fn is_tail(data: &[u8], pos: usize) -> bool {
    resync(data, pos + 1).is_none()
}

fn truncate(path: &Path, len: usize) -> Result<()> {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.set_len(len as u64)
        .map_err(|e| Error::io("truncate", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Segment files in `dir`, sorted by index.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for e in entries {
        let e = e.map_err(|e| Error::io("list", dir, e))?;
        if let Some(i) = e.file_name().to_str().and_then(parse_segment_name)
            && e.path().is_file()
        {
            out.push((i, e.path()));
        }
    }
    out.sort();
    Ok(out)
}
