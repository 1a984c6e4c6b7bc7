//! (head: being written)
