//! Pooling and reductions: FLOPs per input element in the window.

use super::OpRule;
use crate::count::{Infer, Inferred, Tensor, bad, input, numel, out, window};
use crate::graph::Node;

/// The operators of this family and the rule that infers each.
pub(super) const OPS: &[(&str, OpRule)] = &[
    ("MaxPool", pool),
    ("AveragePool", pool),
    ("LpPool", pool),
    ("GlobalAveragePool", global_pool),
    ("GlobalMaxPool", global_pool),
    ("ReduceMean", reduce),
    ("ReduceSum", reduce),
    ("ReduceMax", reduce),
];

/// `MaxPool` `AveragePool` `LpPool`.
fn pool(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let xi = input(node, ins, 0)?;
    let kernel: Vec<usize> = match node.ints("kernel_shape") {
        Some(k) => k.iter().map(|&v| v.max(1) as usize).collect(),
        None => return bad(node, "missing kernel_shape"),
    };
    let spatial = window(node, &xi.shape, &kernel)?;
    let mut shape = xi.shape[..2].to_vec();
    shape.extend(spatial);
    let n = numel(&shape);
    out(shape, 0, n.saturating_mul(numel(&kernel)))
}

/// `GlobalAveragePool` `GlobalMaxPool`.
fn global_pool(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let xi = input(node, ins, 0)?;
    if xi.shape.len() < 3 {
        return bad(node, "needs a spatial input");
    }
    let mut shape = xi.shape[..2].to_vec();
    shape.extend(std::iter::repeat_n(1, xi.shape.len() - 2));
    out(shape, 0, numel(&xi.shape))
}

/// `ReduceMean` `ReduceSum` `ReduceMax`.
fn reduce(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let xi = input(node, ins, 0)?;
    let rank = xi.shape.len() as i64;
    let axes: Vec<i64> = match node
        .ints("axes")
        .map(<[i64]>::to_vec)
        .or_else(|| ins.get(1).copied().flatten().and_then(|t| t.ints.clone()))
    {
        Some(a) => a
            .iter()
            .map(|&a| if a < 0 { a + rank } else { a })
            .collect(),
        None => (0..rank).collect(),
    };
    let keep = node.int("keepdims", 1) == 1;
    let shape: Vec<usize> = xi
        .shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if axes.contains(&(i as i64)) {
                keep.then_some(1)
            } else {
                Some(d)
            }
        })
        .collect();
    out(shape, 0, numel(&xi.shape))
}
