//! Shape operators: no arithmetic; they carry shapes (and small integer tensors such as Reshape targets) forward.

use super::OpRule;
use crate::count::{Infer, Inferred, Tensor, bad, input, numel, out};
use crate::graph::{Attr, Node};

/// The operators of this family and the rule that infers each.
pub(super) const OPS: &[(&str, OpRule)] = &[
    ("Flatten", flatten),
    ("Reshape", reshape),
    ("Concat", concat),
    ("Transpose", transpose),
    ("Squeeze", squeeze_unsqueeze),
    ("Unsqueeze", squeeze_unsqueeze),
    ("Constant", constant),
];

/// `Flatten`.
fn flatten(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let s = &input(node, ins, 0)?.shape;
    let rank = s.len() as i64;
    let axis = node.int("axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis }.clamp(0, rank) as usize;
    out(
        vec![numel(&s[..axis]) as usize, numel(&s[axis..]) as usize],
        0,
        0,
    )
}

/// `Reshape`.
fn reshape(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let s = &input(node, ins, 0)?.shape;
    let Some(target) = input(node, ins, 1)?.ints.clone() else {
        return bad(node, "target shape is not a constant");
    };
    let allow_zero = node.int("allowzero", 0) == 1;
    let mut shape: Vec<i64> = target
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d == 0 && !allow_zero {
                s.get(i).map_or(0, |&v| v as i64)
            } else {
                d
            }
        })
        .collect();
    // Target values come from the file: compute in i128 with checked products.
    fn product(mut it: impl Iterator<Item = i64>) -> Option<i128> {
        it.try_fold(1i128, |acc, d| acc.checked_mul(i128::from(d)))
    }
    let total = i128::from(numel(s));
    let Some(known) = product(shape.iter().copied().filter(|&d| d != -1)) else {
        return bad(node, format!("target shape {target:?} overflows"));
    };
    if let Some(p) = shape.iter().position(|&d| d == -1) {
        if known == 0 {
            return bad(node, "cannot infer -1 next to a zero dimension");
        }
        shape[p] = i64::try_from(total / known).unwrap_or(-1);
    }
    let fits = shape.iter().all(|&d| d >= 0) && product(shape.iter().copied()) == Some(total);
    if !fits {
        return bad(node, format!("cannot reshape {s:?} to {target:?}"));
    }
    let shape = shape
        .into_iter()
        .map(|d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    out(shape, 0, 0)
}

/// `Concat`.
fn concat(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let first = &input(node, ins, 0)?.shape;
    let rank = first.len() as i64;
    let axis = node.int("axis", 0);
    let axis = (if axis < 0 { axis + rank } else { axis }) as usize;
    if axis >= first.len() {
        return bad(node, "axis out of range");
    }
    let mut shape = first.clone();
    shape[axis] = 0;
    for t in ins.iter().flatten() {
        if t.shape.len() != first.len()
            || t.shape
                .iter()
                .enumerate()
                .any(|(i, &d)| i != axis && d != first[i])
        {
            return bad(
                node,
                format!(
                    "cannot concatenate {:?} with {first:?} on axis {axis}",
                    t.shape
                ),
            );
        }
        shape[axis] += t.shape[axis];
    }
    out(shape, 0, 0)
}

/// `Transpose`.
fn transpose(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let s = &input(node, ins, 0)?.shape;
    let perm: Vec<usize> = node.ints("perm").map_or_else(
        || (0..s.len()).rev().collect(),
        |p| p.iter().map(|&v| v as usize).collect(),
    );
    if perm.len() != s.len() || perm.iter().any(|&p| p >= s.len()) {
        return bad(node, "bad perm");
    }
    out(perm.iter().map(|&p| s[p]).collect(), 0, 0)
}

/// `Squeeze` `Unsqueeze`.
fn squeeze_unsqueeze(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let s = &input(node, ins, 0)?.shape;
    let axes = node
        .ints("axes")
        .map(<[i64]>::to_vec)
        .or_else(|| ins.get(1).copied().flatten().and_then(|t| t.ints.clone()));
    let mut shape = s.clone();
    if node.op == "Squeeze" {
        match axes {
            Some(a) => {
                let rank = s.len() as i64;
                let mut a: Vec<usize> = a
                    .iter()
                    .map(|&v| (if v < 0 { v + rank } else { v }) as usize)
                    .collect();
                a.sort_unstable();
                for &ax in a.iter().rev() {
                    if ax < shape.len() {
                        shape.remove(ax);
                    }
                }
            }
            None => shape.retain(|&d| d != 1),
        }
    } else {
        let Some(a) = axes else {
            return bad(node, "missing axes");
        };
        let rank = (s.len() + a.len()) as i64;
        let mut a: Vec<usize> = a
            .iter()
            .map(|&v| (if v < 0 { v + rank } else { v }) as usize)
            .collect();
        a.sort_unstable();
        for ax in a {
            if ax > shape.len() {
                return bad(node, "axis out of range");
            }
            shape.insert(ax, 1);
        }
    }
    out(shape, 0, 0)
}

/// `Constant`.
fn constant(node: &Node, _: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    match node.attrs.get("value") {
        Some(Attr::Tensor(t)) => Ok(Inferred {
            outputs: vec![t.dims.clone()],
            macs: 0,
            flops: 0,
            dtype: Some(t.dtype),
            ints: t.ints.clone(),
            constant: true,
        }),
        _ => bad(node, "only tensor-valued constants are supported"),
    }
}
