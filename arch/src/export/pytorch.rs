//! `model.py`: a checked program as a self-contained PyTorch module, one Python line per graph
//! node, with the program's own names (see `export/names.rs`).

use std::fmt::Write;

use super::names::{Names, names};
use crate::lang::ast::{BinOp, Program};
use crate::lang::graph::Init;
use crate::lang::{Graph, MlpKind, NodeKind, NormKind, Ty, Unary};
use crate::model::forward::unary_scalar;

/// `recur` in lineage's forms (step by step, chunked, and the dispatch between them): the
/// benchmark's PyTorch mirror, whose agreement with lineage CI checks.
const RECURRENCE: &str = include_str!("../../../bench/pytorch/recurrence.py");
/// The language's other operations in PyTorch, and a safetensors reader.
const RUNTIME: &str = include_str!("runtime.py");

/// What `model.py` states about where the module came from.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// One line per fact (campaign, architecture, head, weights), for the docstring.
    pub lines: Vec<String>,
    /// The program's motivation, where one was recorded.
    pub motivation: Option<String>,
}

/// A program at concrete sizes, ready to write as PyTorch.
pub struct Module<'a> {
    /// The parsed program (its bindings name the values).
    pub program: &'a Program,
    /// Its text, quoted in the docstring.
    pub source: &'a str,
    /// The program checked at the export's `d` and `h`.
    pub graph: &'a Graph,
    /// Blocks.
    pub layers: u32,
    /// Vocabulary.
    pub vocab: u32,
}

/// A Python float literal.
fn literal(value: f64) -> String {
    if value.is_finite() { format!("{value:?}") } else { format!("float('{value}')") }
}

/// The value of every number node (`None` for tensors): numbers fold at export, as lineage
/// folds them at run time, so the module holds only their values.
fn numbers(graph: &Graph) -> Vec<Option<f64>> {
    let mut out: Vec<Option<f64>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let value = match (&node.kind, node.ty) {
            (_, ty) if ty != Ty::Scalar => None,
            (NodeKind::Const(c), _) => Some(*c),
            (NodeKind::Unary { op, input }, _) => out[*input].map(|x| unary_scalar(*op, x)),
            (NodeKind::Binary { op, lhs, rhs }, _) => out[*lhs].zip(out[*rhs]).map(|(a, b)| match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
            }),
            _ => None,
        };
        out.push(value);
    }
    out
}

/// The Python expression of one node, from its operands' names.
fn expression(graph: &Graph, names: &Names, numbers: &[Option<f64>], id: usize) -> String {
    let h = graph.dims.h;
    let operand = |i: usize| numbers[i].map(literal).unwrap_or_else(|| names.values[i].clone());
    // A constant vector read as a sequence (`recur` takes its length from `q`).
    let sequence = |i: usize| match graph.nodes[i].ty {
        Ty::Vector(_) => format!("ops.over_time({}, x)", names.values[i]),
        _ => operand(i),
    };
    let weight =
        || format!("self.{}", names.weights[id].as_deref().expect("a weighted node has a weight name"));
    match &graph.nodes[id].kind {
        NodeKind::Input => "x".to_owned(),
        NodeKind::Const(c) => literal(*c),
        NodeKind::HeadIndex => format!("torch.arange({h}, dtype=x.dtype, device=x.device).view(1, 1, {h})"),
        NodeKind::Param { .. } => format!("{}.view(1, 1, -1)", weight()),
        NodeKind::Proj { input, .. } => format!("{} @ {}", operand(*input), weight()),
        NodeKind::Conv { input, .. } => format!("ops.causal_conv({}, {})", operand(*input), weight()),
        NodeKind::Shift { input, by } => format!("ops.shift({}, {by})", operand(*input)),
        NodeKind::Unary { op, input } => {
            let a = operand(*input);
            match op {
                Unary::Neg => format!("-{a}"),
                Unary::Silu => format!("F.silu({a})"),
                Unary::Sigmoid => format!("torch.sigmoid({a})"),
                Unary::Softplus => format!("F.softplus({a})"),
                Unary::Exp => format!("torch.exp({a})"),
                Unary::Relu => format!("torch.relu({a})"),
                Unary::Gelu => format!("F.gelu({a})"),
                Unary::Tanh => format!("torch.tanh({a})"),
                Unary::LogSigmoid => format!("F.logsigmoid({a})"),
                Unary::Pow2 => format!("torch.exp({a} * {})", literal(std::f64::consts::LN_2)),
                Unary::L2Norm => format!("ops.head_norm({a}, {h}, mean=False)"),
                Unary::RmsNorm => format!("ops.head_norm({a}, {h}, mean=True) * {}", weight()),
            }
        }
        NodeKind::Binary { op, lhs, rhs } => {
            let (a, b) = (operand(*lhs), operand(*rhs));
            let (wa, wb) = (graph.nodes[*lhs].ty, graph.nodes[*rhs].ty);
            let both_tensors = wa != Ty::Scalar && wb != Ty::Scalar;
            if both_tensors && wa.width() != wb.width() {
                let function = match op {
                    BinOp::Add => "torch.add",
                    BinOp::Sub => "torch.sub",
                    BinOp::Mul => "torch.mul",
                    BinOp::Div => "torch.div",
                };
                format!("ops.per_head({function}, {a}, {b}, {h})")
            } else {
                format!("{a} {} {b}", op.symbol())
            }
        }
        NodeKind::Recur { q, k, v, decay, erase, along } => {
            let mut call = format!("recur({}, {}, {}, {h}", sequence(*q), sequence(*k), sequence(*v));
            if let Some(d) = decay {
                let _ = write!(call, ", decay={}", operand(*d));
            }
            if let (Some(e), Some(a)) = (erase, along) {
                let _ = write!(call, ", erase={}, along={}", sequence(*e), sequence(*a));
            }
            call + ", form=form)"
        }
        NodeKind::Attention { q, k, v, causal } => {
            format!(
                "ops.attention({}, {}, {}, {h}, causal={})",
                operand(*q),
                operand(*k),
                operand(*v),
                py_bool(*causal)
            )
        }
        NodeKind::Route { router, paths } => {
            let paths: Vec<String> = paths.iter().map(|p| operand(*p)).collect();
            format!("ops.route({}, {}, [{}], {h})", operand(*router), weight(), paths.join(", "))
        }
    }
}

fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// The shape of a node's weight and the Python statement that initialises it as lineage does
/// (same distributions; the numbers themselves come from `weights.safetensors`).
fn weight_init(graph: &Graph, id: usize) -> Option<(Vec<usize>, String)> {
    let width = |i: usize| graph.nodes[i].ty.width() as usize;
    Some(match &graph.nodes[id].kind {
        NodeKind::Proj { input, width: out } => {
            let fan_in = width(*input);
            (vec![fan_in, *out as usize], format!("w.normal_(0.0, {fan_in} ** -0.5)"))
        }
        NodeKind::Route { router, paths } => {
            let fan_in = width(*router);
            let cols = paths.len() * graph.dims.h as usize;
            (vec![fan_in, cols], format!("w.normal_(0.0, 0.1 * {fan_in} ** -0.5)"))
        }
        NodeKind::Conv { input, kernel } => (
            vec![width(*input), *kernel as usize],
            format!("w.normal_(0.0, {kernel} ** -0.5 * 0.5); w[:, 0] += 1.0"),
        ),
        NodeKind::Param { width: n, init } => {
            let statement = match init {
                Init::Zero => "w.zero_()".to_owned(),
                Init::One => "w.fill_(1.0)".to_owned(),
                Init::Normal => "w.normal_(0.0, 0.02)".to_owned(),
                Init::Range(lo, _) if *n == 1 => format!("w.fill_({})", literal(*lo)),
                Init::Range(lo, hi) => {
                    format!("w.copy_(torch.linspace({}, {}, {n}))", literal(*lo), literal(*hi))
                }
            };
            (vec![*n as usize], statement)
        }
        NodeKind::Unary { op: Unary::RmsNorm, input } => (vec![width(*input)], "w.fill_(1.0)".to_owned()),
        _ => return None,
    })
}

fn docstring(module: &Module, provenance: &Provenance) -> String {
    let mut out = format!(
        "\"\"\"{}: a token mixer discovered or written in lineage, as a PyTorch module.\n\n",
        module.program.name
    );
    for line in &provenance.lines {
        let _ = writeln!(out, "{line}");
    }
    if let Some(motivation) = &provenance.motivation {
        let _ = write!(out, "\nMotivation (as the proposer recorded it):\n\n");
        for line in motivation.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out.push_str("\nThe program:\n\n");
    for line in module.source.trim_end().lines() {
        let _ = writeln!(out, "    {line}");
    }
    let dims = module.graph.dims;
    let _ = write!(
        out,
        "\nChecked at d = {}, h = {}: every width below is a number of that check. To run the program\n\
         at other sizes, export it again (`lineage export-arch … --d-model D --heads H`). The number of\n\
         blocks and the vocabulary are free (`Model(layers=…, vocab=…)`).\n\n\
         ``form`` selects how ``recur`` is computed: \"stepwise\" (the naive recurrent form, one step per\n\
         position), \"chunked\" (lineage's chunked form; needs positive decays), \"lineage\" (what lineage\n\
         runs: chunked where the decay is absent, a number, per head, or per channel within reach of\n\
         float32, stepwise otherwise; the default)\n\
         or \"fast\" (as \"lineage\", but a per-channel decay without erase uses the chunked GLA form).\n\
         It needs only torch.\n\"\"\"\n",
        dims.d, dims.h
    );
    out
}

/// The text of `model.py` for `module`.
pub fn model_py(module: &Module, provenance: &Provenance) -> String {
    let graph = module.graph;
    let names = names(module.program, graph);
    let numbers = numbers(graph);
    let mut out = docstring(module, provenance);
    out.push_str(
        "\nfrom __future__ import annotations\n\nimport math\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n",
    );
    // The recurrence mirror without its own docstring and imports (the lines before `CHUNK`).
    let recurrence = RECURRENCE.find("\nCHUNK = ").map(|at| &RECURRENCE[at + 1..]).unwrap_or(RECURRENCE);
    out.push_str(
        "# ----------------------------------------------------------------------------------------------\n",
    );
    out.push_str("# `recur`, the language's recurrent operation (lineage: arch/src/model/recurrence.rs).\n");
    out.push_str("# ----------------------------------------------------------------------------------------------\n\n");
    out.push_str(recurrence.trim_end());
    out.push_str("\n\n\n");
    out.push_str(RUNTIME.trim_end());
    out.push_str("\n\n\n");
    let dims = graph.dims;
    let _ = write!(
        out,
        "D = {}\n\"\"\"Model width the mixer was checked at.\"\"\"\nH = {}\n\"\"\"Heads of the mixer.\"\"\"\n\
         LAYERS = {}\n\"\"\"Blocks, as exported.\"\"\"\nVOCAB = {}\n\"\"\"Vocabulary, as exported.\"\"\"\n\
         MLP_HIDDEN = {}\n\"\"\"Hidden width of the block's MLP.\"\"\"\n\n\n",
        dims.d,
        dims.h,
        module.layers,
        module.vocab,
        dims.d * module.program.block.mlp_ratio
    );
    mixer_class(&mut out, module, &names, &numbers);
    block_classes(&mut out, module);
    out
}

fn mixer_class(out: &mut String, module: &Module, names: &Names, numbers: &[Option<f64>]) {
    let graph = module.graph;
    let _ = write!(
        out,
        "class Mixer(nn.Module):\n    \"\"\"The token mixer `{}`: one line per operation of the checked program, each under the\n    program line it comes from. Weights are `[in, out]` matrices (``x @ W``), `[width, taps]`\n    kernels and vectors, as lineage stores them.\"\"\"\n\n    def __init__(self):\n        super().__init__()\n",
        module.program.name
    );
    let weighted: Vec<(usize, Vec<usize>, String)> = (0..graph.nodes.len())
        .filter_map(|id| weight_init(graph, id).map(|(shape, init)| (id, shape, init)))
        .collect();
    for (id, shape, _) in &weighted {
        let shape: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(
            out,
            "        self.{} = nn.Parameter(torch.empty({}))",
            names.weights[*id].as_deref().expect("named"),
            shape.join(", ")
        );
    }
    out.push_str("        self.reset_parameters()\n\n    def reset_parameters(self) -> None:\n        \"\"\"Fresh weights from lineage's initial distributions.\"\"\"\n        with torch.no_grad():\n");
    if weighted.is_empty() {
        out.push_str("            pass\n");
    }
    for (id, _, init) in &weighted {
        let _ = writeln!(
            out,
            "            w = self.{}\n            {init}",
            names.weights[*id].as_deref().expect("named")
        );
    }
    out.push_str("\n    def forward(self, x: torch.Tensor, form: str = \"lineage\") -> torch.Tensor:\n");
    let source: Vec<&str> = module.source.lines().collect();
    let mut last_binding: Option<Option<usize>> = None;
    for (id, node) in graph.nodes.iter().enumerate() {
        if numbers[id].is_some() || matches!(node.kind, NodeKind::Input) {
            continue;
        }
        if last_binding != Some(names.bindings[id]) {
            last_binding = Some(names.bindings[id]);
            let line = match names.bindings[id] {
                Some(i) => {
                    source.get(module.program.bindings[i].name_span.line as usize - 1).map(|l| l.trim())
                }
                None => source.get(module.program.output.span.line as usize - 1).map(|l| l.trim()),
            };
            if let Some(line) = line {
                let _ = writeln!(out, "        # {line}");
            }
        }
        let _ = writeln!(out, "        {} = {}", names.values[id], expression(graph, names, numbers, id));
    }
    let output = &names.values[graph.output];
    match graph.nodes[graph.output].ty {
        Ty::Seq(_) => {
            let _ = writeln!(out, "        return {output}\n\n");
        }
        _ => {
            let _ = writeln!(out, "        return {output}.expand(x.shape[0], x.shape[1], -1)\n\n");
        }
    }
}

fn block_classes(out: &mut String, module: &Module) {
    let block = module.program.block;
    let norm = match block.norm {
        NormKind::RmsNorm => "Norm(D, bias=False)",
        NormKind::LayerNorm => "Norm(D, bias=True)",
        NormKind::None => "None",
    };
    let (mlp_in, mlp_act) = match block.mlp {
        MlpKind::SwiGlu => (
            "2 * MLP_HIDDEN",
            "        up = self.mlp_norm(x) @ self.mlp_in\n        hidden = F.silu(up[..., :MLP_HIDDEN]) * up[..., MLP_HIDDEN:]\n",
        ),
        MlpKind::Gelu => ("MLP_HIDDEN", "        hidden = F.gelu(self.mlp_norm(x) @ self.mlp_in)\n"),
        MlpKind::None => ("", ""),
    };
    let norm_call =
        |what: &str| if block.norm == NormKind::None { "x".to_owned() } else { format!("self.{what}(x)") };
    out.push_str(
        "class Norm(nn.Module):\n    \"\"\"RMSNorm (``bias=False``) or LayerNorm over the width, eps 1e-6 inside the root.\"\"\"\n\n    def __init__(self, width: int, bias: bool):\n        super().__init__()\n        self.scale = nn.Parameter(torch.ones(width))\n        self.bias = nn.Parameter(torch.zeros(width)) if bias else None\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        if self.bias is None:\n            return ops.head_norm(x, 1, mean=True) * self.scale\n        return ops.head_norm(x - x.mean(-1, keepdim=True), 1, mean=True) * self.scale + self.bias\n\n\n",
    );
    let _ = write!(
        out,
        "class Block(nn.Module):\n    \"\"\"Pre-norm residual: ``x + mixer(norm(x))``, then ``x + mlp(norm(x))``.\"\"\"\n\n    def __init__(self, layers: int):\n        super().__init__()\n        self.mixer_norm = {norm}\n        self.mixer = Mixer()\n"
    );
    if block.mlp != MlpKind::None {
        let _ = write!(
            out,
            "        self.mlp_norm = {norm}\n        self.mlp_in = nn.Parameter(torch.empty(D, {mlp_in}))\n        self.mlp_out = nn.Parameter(torch.empty(MLP_HIDDEN, D))\n        with torch.no_grad():\n            self.mlp_in.normal_(0.0, D ** -0.5)\n            self.mlp_out.normal_(0.0, MLP_HIDDEN ** -0.5 / math.sqrt(2 * layers))\n"
        );
    }
    let _ = write!(
        out,
        "\n    def forward(self, x: torch.Tensor, form: str) -> torch.Tensor:\n        x = x + self.mixer({}, form)\n",
        norm_call("mixer_norm")
    );
    if block.mlp != MlpKind::None {
        let act = if block.norm == NormKind::None {
            mlp_act.replace("self.mlp_norm(x)", "x")
        } else {
            mlp_act.to_owned()
        };
        let _ = writeln!(out, "{act}        x = x + hidden @ self.mlp_out");
    }
    out.push_str("        return x\n\n\n");
    out.push_str(
        "class Model(nn.Module):\n    \"\"\"The language model: embedding, blocks, final RMSNorm, output head; ``forward`` gives\n    next-token logits ``[batch, time, vocab]`` for tokens ``[batch, time]``.\"\"\"\n\n    def __init__(self, layers: int = LAYERS, vocab: int = VOCAB, form: str = \"lineage\"):\n        super().__init__()\n        if form not in FORMS:\n            raise ValueError(f\"unknown form {form!r}; choose from {', '.join(FORMS)}\")\n        self.form = form\n        self.embedding = nn.Parameter(torch.randn(vocab, D))\n        self.blocks = nn.ModuleList(Block(layers) for _ in range(layers))\n        self.final_norm = Norm(D, bias=False)\n        self.head = nn.Parameter(torch.randn(D, vocab) * D ** -0.5)\n\n    def forward(self, tokens: torch.Tensor) -> torch.Tensor:\n        x = self.embedding[tokens]\n        for block in self.blocks:\n            x = block(x, self.form)\n        return self.final_norm(x) @ self.head\n\n\ndef load(path, form: str = \"lineage\") -> Model:\n    \"\"\"The model with the weights of a ``weights.safetensors`` written by lineage.\"\"\"\n    tensors = load_safetensors(path)\n    layers = 1 + max(int(name.split(\".\")[1]) for name in tensors if name.startswith(\"blocks.\"))\n    model = Model(layers=layers, vocab=tensors[\"embedding\"].shape[0], form=form)\n    model.load_state_dict(tensors, strict=True)\n    return model\n",
    );
}
