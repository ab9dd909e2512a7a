//! Integration tests of meanet-quant.
mod ranges;
