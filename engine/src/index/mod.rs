//! (index: being written)
