//! Integration tests of meanet-quant.
mod graph;
mod ranges;
