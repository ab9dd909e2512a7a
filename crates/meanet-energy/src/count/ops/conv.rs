//! Convolutions: MACs are outputs x weights per output; a bias adds one FLOP per output.

use super::OpRule;
use crate::count::{Infer, Inferred, Tensor, bad, input, numel, out, wide, window};
use crate::graph::Node;

/// The operators of this family and the rule that infers each.
pub(super) const OPS: &[(&str, OpRule)] = &[("Conv", conv), ("ConvTranspose", conv_transpose)];

/// `Conv`.
fn conv(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let (xi, w) = (input(node, ins, 0)?, input(node, ins, 1)?);
    if xi.shape.len() < 3 || w.shape.len() != xi.shape.len() {
        return bad(
            node,
            format!("input {:?} and weight {:?} do not fit", xi.shape, w.shape),
        );
    }
    let group = usize::try_from(node.int("group", 1).max(1)).unwrap_or(usize::MAX);
    let kernel = w.shape[2..].to_vec();
    if w.shape[1].checked_mul(group) != Some(xi.shape[1]) {
        return bad(
            node,
            format!(
                "{} input channels but weight {:?} with group {group}",
                xi.shape[1], w.shape
            ),
        );
    }
    let spatial = window(node, &xi.shape, &kernel)?;
    let mut shape = vec![xi.shape[0], w.shape[0]];
    shape.extend(&spatial);
    let per_out = numel(&w.shape[1..]); // (C/group) * k...
    let outputs = numel(&shape);
    let bias = if ins.get(2).copied().flatten().is_some() {
        outputs
    } else {
        0
    };
    out(shape, outputs.saturating_mul(per_out), bias)
}

/// `ConvTranspose`.
fn conv_transpose(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let (xi, w) = (input(node, ins, 0)?, input(node, ins, 1)?);
    if xi.shape.len() < 3 || w.shape.len() != xi.shape.len() {
        return bad(node, "input and weight ranks differ");
    }
    let group = usize::try_from(node.int("group", 1).max(1)).unwrap_or(usize::MAX);
    let sp = xi.shape.len() - 2;
    let get = |n: &str, d: i64, l: usize| node.ints(n).map_or_else(|| vec![d; l], <[i64]>::to_vec);
    let (s, d, p, op) = (
        get("strides", 1, sp),
        get("dilations", 1, sp),
        get("pads", 0, 2 * sp),
        get("output_padding", 0, sp),
    );
    if s.len() != sp || d.len() != sp || p.len() != 2 * sp || op.len() != sp {
        return bad(
            node,
            "strides/dilations/pads/output_padding do not match the spatial rank",
        );
    }
    let Some(channels) = w.shape[1].checked_mul(group) else {
        return bad(node, format!("group {group} overflows the channel count"));
    };
    let mut shape = vec![xi.shape[0], channels];
    for i in 0..sp {
        // Attribute values come from the file: compute in i128 with checked operations.
        let v = (|| {
            wide(xi.shape[i + 2])
                .checked_sub(1)?
                .checked_mul(i128::from(s[i]))?
                .checked_add(i128::from(op[i]))?
                .checked_add(
                    wide(w.shape[i + 2])
                        .checked_sub(1)?
                        .checked_mul(i128::from(d[i]))?,
                )?
                .checked_add(1)?
                .checked_sub(i128::from(p[i]))?
                .checked_sub(i128::from(p[i + sp]))
        })();
        match v.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0) {
            Some(v) => shape.push(v),
            None => return bad(node, "no output"),
        }
    }
    let macs = numel(&xi.shape).saturating_mul(numel(&w.shape[1..]));
    out(shape, macs, 0)
}
