//! A cost-oriented view of an ONNX graph: nodes, attributes, initializer shapes and the few
//! small integer constants that shape inference needs (Reshape targets, axes).

use std::collections::HashMap;
use std::path::Path;

use onnx_rs::ast::{self, AttributeType, DataType, Dimension, TypeValue};

use crate::EnergyError;

/// Element type of a tensor, as far as costs care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    F32,
    F16,
    I8,
    I32,
    I64,
    F64,
    Bool,
    Other,
}

impl DType {
    fn from_onnx(d: DataType) -> Self {
        match d {
            DataType::Float => DType::F32,
            DataType::Float16 | DataType::Bfloat16 => DType::F16,
            DataType::Int8 | DataType::Uint8 => DType::I8,
            DataType::Int32 | DataType::Uint32 => DType::I32,
            DataType::Int64 | DataType::Uint64 => DType::I64,
            DataType::Double => DType::F64,
            DataType::Bool => DType::Bool,
            _ => DType::Other,
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> u64 {
        match self {
            DType::F32 | DType::I32 | DType::Other => 4,
            DType::F16 => 2,
            DType::I8 | DType::Bool => 1,
            DType::I64 | DType::F64 => 8,
        }
    }
}

/// An attribute value (the kinds cost counting uses).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Str(String),
    Tensor(Init),
    Other,
}

/// An initializer or constant: its shape, type and, when small and integral, its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Init {
    pub(crate) dims: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) ints: Option<Vec<i64>>,
}

impl Init {
    fn from_onnx(t: &ast::TensorProto<'_>) -> Self {
        let dims: Vec<usize> = t
            .dims()
            .iter()
            .map(|&d| usize::try_from(d.max(0)).unwrap_or(usize::MAX))
            .collect();
        let dtype = DType::from_onnx(t.data_type());
        // Declared dimensions come from the file: a product that overflows is not small.
        let small = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .is_some_and(|n| n <= 64);
        let ints = match dtype {
            DType::I64 if small => t.as_i64().map(|v| v.into_owned()),
            DType::I32 if small => t
                .as_i32()
                .map(|v| v.iter().map(|&x| i64::from(x)).collect()),
            _ => None,
        };
        Init { dims, dtype, ints }
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) op: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) outputs: Vec<String>,
    pub(crate) attrs: HashMap<String, Attr>,
}

impl Node {
    pub(crate) fn int(&self, name: &str, default: i64) -> i64 {
        match self.attrs.get(name) {
            Some(Attr::Int(v)) => *v,
            _ => default,
        }
    }

    pub(crate) fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn string(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Attr::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// A graph input: dimensions are `None` where symbolic (the batch).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) dims: Vec<Option<usize>>,
    pub(crate) dtype: DType,
}

/// An ONNX model's graph, reduced to what cost accounting needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub(crate) origin: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) inputs: Vec<Input>,
    pub(crate) initializers: HashMap<String, Init>,
}

impl Graph {
    /// Reads and parses an ONNX file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, EnergyError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| EnergyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parses ONNX protobuf bytes; `origin` names them in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, EnergyError> {
        let model = onnx_rs::parse(bytes).map_err(|source| EnergyError::Parse {
            origin: origin.to_string(),
            source,
        })?;
        let no_graph = |reason: &str| EnergyError::NoGraph {
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        if model.ir_version <= 0 {
            return Err(no_graph("missing ir_version (empty or truncated file)"));
        }
        let graph = model.graph.as_ref().ok_or_else(|| no_graph("no graph"))?;
        if graph.node.is_empty() {
            return Err(no_graph("the graph has no nodes"));
        }
        let initializers: HashMap<String, Init> = graph
            .initializer
            .iter()
            .map(|t| (t.name().to_string(), Init::from_onnx(t)))
            .collect();
        let inputs = graph
            .input
            .iter()
            .filter(|v| !initializers.contains_key(v.name))
            .map(|v| input(v))
            .collect::<Result<Vec<_>, _>>()?;
        let nodes = graph
            .node
            .iter()
            .enumerate()
            .map(|(i, n)| Node {
                name: if n.name.is_empty() {
                    format!("{}_{i}", n.op_type.as_str())
                } else {
                    n.name.to_string()
                },
                op: n.op_type.as_str().to_string(),
                inputs: n.input.iter().map(|s| s.to_string()).collect(),
                outputs: n.output.iter().map(|s| s.to_string()).collect(),
                attrs: n
                    .attribute
                    .iter()
                    .map(|a| (a.name.to_string(), attr(a)))
                    .collect(),
            })
            .collect();
        Ok(Graph {
            origin: origin.to_string(),
            nodes,
            inputs,
            initializers,
        })
    }

    /// Where the graph came from (a path or `<bytes>`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

fn input(v: &ast::ValueInfo<'_>) -> Result<Input, EnergyError> {
    let bad = |reason: &str| EnergyError::InputShape {
        input: v.name.to_string(),
        reason: reason.to_string(),
    };
    let Some(TypeValue::Tensor(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(bad("not a tensor"));
    };
    let shape = t.shape.as_ref().ok_or_else(|| bad("no declared shape"))?;
    let dims = shape
        .dim
        .iter()
        .map(|d| match d.value {
            Dimension::Value(n) if n > 0 => Some(n as usize),
            _ => None,
        })
        .collect();
    Ok(Input {
        name: v.name.to_string(),
        dims,
        dtype: DType::from_onnx(t.elem_type),
    })
}

fn attr(a: &ast::Attribute<'_>) -> Attr {
    match a.r#type {
        AttributeType::Int => Attr::Int(a.i),
        AttributeType::Ints => Attr::Ints(a.ints.clone()),
        AttributeType::Float => Attr::Float(a.f),
        AttributeType::String => Attr::Str(String::from_utf8_lossy(a.s).into_owned()),
        AttributeType::Tensor => {
            a.t.as_ref()
                .map_or(Attr::Other, |t| Attr::Tensor(Init::from_onnx(t)))
        }
        _ => Attr::Other,
    }
}
