//! (wal: being written)
