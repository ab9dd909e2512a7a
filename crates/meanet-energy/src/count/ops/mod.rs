//! The operator registry: one module per operator family, each listing its operators and the
//! rule that infers their output shapes and counts their work (as tract's `register_all_ops`).
//! An operator missing from the table is reported as unsupported, never counted as zero.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::count::{Infer, Inferred, Tensor};
use crate::graph::Node;

mod conv;
mod elementwise;
mod linear;
mod pool;
mod shape;

/// Infers a node's outputs and counts its work from its (known) inputs.
pub(super) type OpRule = fn(&Node, &[Option<&Tensor>]) -> Result<Inferred, Infer>;

/// Every supported operator, by ONNX op type.
pub(super) fn register_all_ops() -> HashMap<&'static str, OpRule> {
    let mut reg = HashMap::new();
    for family in [
        conv::OPS,
        linear::OPS,
        elementwise::OPS,
        pool::OPS,
        shape::OPS,
    ] {
        for &(op, rule) in family {
            reg.insert(op, rule);
        }
    }
    reg
}

static REGISTRY: LazyLock<HashMap<&'static str, OpRule>> = LazyLock::new(register_all_ops);

/// The rule for `op`, if it is supported.
pub(super) fn rule(op: &str) -> Option<OpRule> {
    REGISTRY.get(op).copied()
}

/// The supported operator types, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = REGISTRY.keys().copied().collect();
    ops.sort_unstable();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operator_is_registered_once_and_others_are_unsupported() {
        let families = [
            conv::OPS,
            linear::OPS,
            elementwise::OPS,
            pool::OPS,
            shape::OPS,
        ];
        let listed: usize = families.iter().map(|f| f.len()).sum();
        assert_eq!(
            listed,
            register_all_ops().len(),
            "an operator is listed twice"
        );
        for op in ["Conv", "Gemm", "Relu", "GlobalAveragePool", "Reshape"] {
            assert!(rule(op).is_some(), "{op} is not registered");
        }
        for op in ["Loop", "If", "NonMaxSuppression", "conv"] {
            assert!(rule(op).is_none(), "{op} should be unsupported");
        }
        // Every registered operator is reported as supported, none dropped on the way.
        assert_eq!(supported_ops().len(), listed);
    }
}
