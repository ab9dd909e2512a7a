//! Training (work in progress).
