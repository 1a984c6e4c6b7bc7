//! Chunk codecs (being written).
