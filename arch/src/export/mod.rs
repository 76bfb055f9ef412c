//! Taking a program out of lineage: a self-contained PyTorch module ([`pytorch::model_py`]), its
//! weights as safetensors under the module's parameter names ([`weight_tensors`],
//! [`safetensors`]), and a script that checks the two against lineage's own logits
//! ([`CHECK_PY`]).
//!
//! The names tie the three together: a weight `blocks.{i}.mixer.{name}` is the mixer attribute
//! `{name}` of `model.py`, named after the program binding it belongs to.

mod names;
pub mod pytorch;

use std::collections::BTreeMap;

use burn::tensor::Tensor;

use crate::lang::Graph;
use crate::model::ModelWeights;
use crate::model::weights::{NormWeights, Slot, slots};

/// `check.py`: loads `model.py` and `weights.safetensors`, runs the module on the input lineage
/// recorded in `check_input.safetensors` in every `recur` form, and compares the logits.
pub const CHECK_PY: &str = include_str!("check.py");

/// Largest relative difference between lineage's logits and PyTorch's that `check.py` accepts:
/// `max |a − b| / max |a|` over all logits. Float32 sums in another order differ by ~1e-6
/// relative per operation; two blocks and a chunked recurrence stay well under this.
pub const TOLERANCE: f64 = 1e-4;

/// One tensor to write: its name, shape and values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Name in the file (and in the PyTorch module's `state_dict`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Values,
}

/// Tensor values of the two element types the export writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Weights and logits.
    F32(Vec<f32>),
    /// Tokens.
    I64(Vec<i64>),
}

impl NamedTensor {
    /// A float tensor from a burn tensor.
    pub fn of<const D: usize>(name: impl Into<String>, tensor: Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().try_to_vec::<f32>().expect("an f32 tensor");
        Self { name: name.into(), shape, values: Values::F32(values) }
    }
}

/// Every weight of `weights` under the names `model.py` gives it, for `graph` (the program the
/// weights were made for).
pub fn weight_tensors(
    program: &crate::lang::Program,
    graph: &Graph,
    weights: &ModelWeights,
) -> Vec<NamedTensor> {
    let names = names::names(program, graph);
    let slots = slots(graph);
    let mut out = vec![NamedTensor::of("embedding", weights.embedding.val())];
    let norm = |out: &mut Vec<NamedTensor>, prefix: &str, norm: &NormWeights| {
        out.push(NamedTensor::of(format!("{prefix}.scale"), norm.scale.val()));
        if let Some(bias) = &norm.bias {
            out.push(NamedTensor::of(format!("{prefix}.bias"), bias.val()));
        }
    };
    for (i, block) in weights.blocks.iter().enumerate() {
        if let Some(n) = &block.mixer_norm {
            norm(&mut out, &format!("blocks.{i}.mixer_norm"), n);
        }
        for (id, slot) in slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let name = format!(
                "blocks.{i}.mixer.{}",
                names.weights[id].as_deref().expect("a weighted node is named")
            );
            out.push(match *slot {
                Slot::Matrix(j) => NamedTensor::of(name, block.mixer.matrices[j].val()),
                Slot::Kernel(j) => NamedTensor::of(name, block.mixer.kernels[j].val()),
                Slot::Vector(j) => NamedTensor::of(name, block.mixer.vectors[j].val()),
            });
        }
        if let Some(n) = &block.mlp_norm {
            norm(&mut out, &format!("blocks.{i}.mlp_norm"), n);
        }
        if let (Some(w_in), Some(w_out)) = (&block.mlp_in, &block.mlp_out) {
            out.push(NamedTensor::of(format!("blocks.{i}.mlp_in"), w_in.val()));
            out.push(NamedTensor::of(format!("blocks.{i}.mlp_out"), w_out.val()));
        }
    }
    norm(&mut out, "final_norm", &weights.final_norm);
    out.push(NamedTensor::of("head", weights.head.val()));
    out
}

/// For each mixer weight's name, the graph node it belongs to: what ties an export to lineage's
/// own weight streams (`block{l}/node{id}`) and to hand-written mirrors of the program that name
/// weights by node (the benchmark's PyTorch models).
pub fn weight_nodes(program: &crate::lang::Program, graph: &Graph) -> BTreeMap<String, usize> {
    let names = names::names(program, graph);
    names.weights.iter().enumerate().filter_map(|(id, name)| name.clone().map(|name| (name, id))).collect()
}

/// The bytes of a safetensors file holding `tensors`, with `metadata` in its header.
///
/// Written here rather than by the `safetensors` crate (which the tests read the files back
/// with) so that the same export gives the same bytes: the header's keys are in sorted order,
/// where the crate writes its metadata in a hash map's order.
pub fn safetensors(tensors: &[NamedTensor], metadata: BTreeMap<String, String>) -> Vec<u8> {
    // Eight-byte elements first, then by name: every tensor starts aligned to its element size.
    let mut order: Vec<&NamedTensor> = tensors.iter().collect();
    order.sort_by_key(|t| (matches!(t.values, Values::F32(_)), t.name.as_str()));
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::to_value(&metadata).expect("strings serialise"));
    let mut data = Vec::new();
    for tensor in order {
        let start = data.len();
        let dtype = match &tensor.values {
            Values::F32(v) => {
                data.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                "F32"
            }
            Values::I64(v) => {
                data.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                "I64"
            }
        };
        let info =
            serde_json::json!({ "dtype": dtype, "shape": tensor.shape, "data_offsets": [start, data.len()] });
        header.insert(tensor.name.clone(), info);
    }
    let mut header = serde_json::to_vec(&header).expect("a JSON map serialises");
    // The header is padded with spaces so that the data starts at a multiple of 8.
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    out.extend(data);
    out
}

#[cfg(test)]
mod tests;
