//! (block: being written)
