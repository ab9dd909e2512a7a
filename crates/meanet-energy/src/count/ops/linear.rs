//! Matrix products: Gemm and MatMul, MACs = M x K x N per batch.

use super::OpRule;
use crate::count::{Infer, Inferred, Tensor, bad, broadcast, input, mul3, numel, out};
use crate::graph::Node;

/// The operators of this family and the rule that infers each.
pub(super) const OPS: &[(&str, OpRule)] = &[("Gemm", gemm), ("MatMul", matmul)];

/// `Gemm`.
fn gemm(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let (a, b) = (input(node, ins, 0)?, input(node, ins, 1)?);
    if a.shape.len() != 2 || b.shape.len() != 2 {
        return bad(node, "Gemm needs 2-D operands");
    }
    let (m, k) = if node.int("transA", 0) == 1 {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (k2, n) = if node.int("transB", 0) == 1 {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != k2 {
        return bad(node, format!("inner dimensions {k} and {k2} differ"));
    }
    let bias = if ins.get(2).copied().flatten().is_some() {
        mul3(m, n, 1)
    } else {
        0
    };
    out(vec![m, n], mul3(m, k, n), bias)
}

/// `MatMul`.
fn matmul(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let (a, b) = (&input(node, ins, 0)?.shape, &input(node, ins, 1)?.shape);
    if a.is_empty() || b.is_empty() {
        return bad(node, "scalar operand");
    }
    let a2 = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.clone()
    };
    let b2 = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.clone()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return bad(node, format!("inner dimensions {k} and {k2} differ"));
    }
    let batch = broadcast(node, &a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let mut shape = batch.clone();
    if a.len() > 1 {
        shape.push(m);
    }
    if b.len() > 1 {
        shape.push(n);
    }
    out(shape, numel(&batch).saturating_mul(mul3(m, k, n)), 0)
}
