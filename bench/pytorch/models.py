"""Lineage's baseline language models, re-written in plain PyTorch (eager mode), for benchmarking.

This file mirrors, operation for operation, what lineage's interpreter computes for the baseline
programs in ``arch/baselines/*.arch`` (the language: ``docs/language.md``):

- ``arch/src/model/forward.rs``: the operations (``proj`` = linear without bias, ``conv`` =
  depthwise causal convolution, ``l2norm`` / ``rmsnorm`` per head, eps 1e-6 inside the square
  root), the block (pre-norm residual mixer, then pre-norm residual SwiGLU MLP), the final
  RMSNorm, the output head, and ``masked_cross_entropy``;
- ``arch/src/model/weights.rs``: which weights exist, their shapes and their initial
  distributions (each ``proj`` N(0, fan_in^-1/2), conv kernels leaning to identity, norm scales
  at 1, embedding N(0, 1), head N(0, d^-1/2), MLP-out scaled by 1/sqrt(2 L));
- ``arch/src/model/recurrence.rs`` (in ``recurrence.py``): ``recur`` in its two forms, step by step and chunked (chunks
  of 16, pairwise decay ratios from cumulative log decays, and the UT transform
  ``(I + A)^-1 = (I - A)(I + A^2)(I + A^4)(I + A^8)`` for the rank-one erase).

It needs only ``torch``. Nothing here is used to build or test the Rust project.

The recurrence forms (``form=`` on the model, ``--form`` in ``train.py``):

- ``stepwise``: lineage's step-by-step form (one step per position).
- ``chunked``: lineage's chunked form (any positive decay, with or without erase; per channel,
  log decays summing within ``FACTOR_SPAN`` over a chunk).
- ``gla-chunk``: the chunked GLA form a PyTorch researcher writes (Yang et al. 2023, the
  "chunk-wise parallel form" without secondary chunking; cf. ``naive_chunk_simple_gla`` in
  fla-org/flash-linear-attention ``fla/ops/simple_gla/naive.py``, generalised to a per-channel
  gate): ``q * exp(G)`` against ``k * exp(-G)`` with ``G`` the in-chunk cumulative log gate. Only
  for ``recur`` without erase. It needs ``exp(-G)`` finite: a cumulative log decay above
  ~ -88 over one chunk of 16 in float32 (at lineage's GLA gate, ``log alpha = logsigmoid(z + b)/16``,
  that is a mean gate pre-activation, bias included, above ~ -88: always in practice, but not
  guaranteed).
- ``lineage``: exactly the dispatch of lineage's ``recur``: chunked when the decay is absent, a
  number or per head and positive, or per channel within ``FACTOR_SPAN`` (GLA's and RWKV-7's,
  in practice); stepwise otherwise.
- ``fast`` (the default): ``lineage``, except that a per-channel decay without erase (GLA) uses
  ``gla-chunk``, which measured fastest here (see ``train.py --form`` and the README).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from recurrence import FORMS, recur

NORM_EPS = 1e-6
"""``forward.rs::NORM_EPS``: inside the square root of every RMS and L2 norm."""


# --------------------------------------------------------------------------------------------
# Elementwise and per-head operations (forward.rs)
# --------------------------------------------------------------------------------------------


def split_heads(x: torch.Tensor, h: int) -> torch.Tensor:
    """``[b, t, h*m]`` -> ``[b, t, h, m]`` (forward.rs ``heads``)."""
    b, t, w = x.shape
    return x.view(b, t, h, w // h)


def per_head(gate: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``gate * x`` with ``gate`` h wide broadcast over the channels of each head of ``x``
    (forward.rs ``binary_tensors`` when one side is ``h`` wide)."""
    b, t, w = x.shape
    h = gate.shape[-1]
    return (gate.unsqueeze(-1) * x.view(b, t, h, w // h)).view(b, t, w)


def head_norm(x: torch.Tensor, h: int, mean: bool) -> torch.Tensor:
    """Per head: ``x / sqrt(mean(x^2) + eps)`` (RMS) or ``x / sqrt(sum(x^2) + eps)`` (L2);
    forward.rs ``head_norm``. ``h = 1`` is the whole width (the block's RMSNorm)."""
    b, t, w = x.shape
    x4 = x.view(b, t, h, w // h)
    squares = x4.square()
    denominator = squares.mean(-1, keepdim=True) if mean else squares.sum(-1, keepdim=True)
    return (x4 * torch.rsqrt(denominator + NORM_EPS)).view(b, t, w)


def l2norm(x: torch.Tensor, h: int) -> torch.Tensor:
    """The language's ``l2norm``: per head, ``a / ||a||``."""
    return head_norm(x, h, mean=False)


class RMSNorm(nn.Module):
    """The language's ``rmsnorm`` (per head, learned per-channel scale starting at 1) and, with
    ``heads=1``, the block's and the final norm (forward.rs ``norm``; weights.rs ``norm``)."""

    def __init__(self, width: int, heads: int = 1):
        super().__init__()
        self.heads = heads
        self.scale = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return head_norm(x, self.heads, mean=True) * self.scale


class CausalConv(nn.Module):
    """The language's ``conv(a, K)``: depthwise causal convolution, ``out_t = sum_j w[:, j] a_{t-j}``
    (forward.rs ``causal_conv``), written the standard PyTorch way: a grouped ``nn.Conv1d``
    padded by ``K - 1`` and cut to length (lineage sums ``K`` shifted copies; same function).

    ``nn.Conv1d`` cross-correlates, so lineage's tap ``j`` (the weight of ``a_{t-j}``) is
    ``conv.weight[:, 0, K - 1 - j]``. Initialised as weights.rs: ``N(0, 1) * K^-1/2 * 0.5``, plus
    1 on the current token's tap.
    """

    def __init__(self, width: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(width, width, kernel, groups=width, padding=kernel - 1, bias=False)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        k = self.kernel
        with torch.no_grad():
            taps = torch.randn(self.conv.weight.shape[0], k, generator=generator) * (k**-0.5) * 0.5
            taps[:, 0] += 1.0
            self.set_taps(taps)

    def set_taps(self, taps: torch.Tensor) -> None:
        """Sets the kernel from lineage's layout ``[width, K]``, tap ``j`` reading ``a_{t-j}``."""
        with torch.no_grad():
            self.conv.weight.copy_(taps.flip(-1).unsqueeze(1).to(self.conv.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        return self.conv(x.transpose(1, 2))[..., :t].transpose(1, 2)


def proj(d_in: int, d_out: int) -> nn.Linear:
    """The language's ``proj``: a linear map without bias. lineage stores ``[in, out]`` and
    computes ``x @ W``; ``nn.Linear`` stores the transpose."""
    return nn.Linear(d_in, d_out, bias=False)


# --------------------------------------------------------------------------------------------
# Mixers: one per baseline program (arch/baselines/*.arch)
# --------------------------------------------------------------------------------------------


class Mixer(nn.Module):
    """A baseline's token mixer. ``LINEAGE_NODES`` names, for each weight, the node of the
    checked program it belongs to (lineage draws each weight from the stream
    ``block{l}/node{id}``, weights.rs): ``check_lineage.py`` uses it to load lineage's exact
    initial weights."""

    LINEAGE_NODES: dict = {}
    #: Which kind of decay the program's ``recur`` has: None, "head" or "channel".
    DECAY: str | None = None
    ERASE: bool = False

    def __init__(self, d: int, h: int, form: str):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}; choose from {', '.join(FORMS)}")
        self.d, self.h, self.form = d, h, form

    def recur(self, *args, form: str | None = None, **kwargs):
        return recur(*args, heads=self.h, form=form or self.form, **kwargs)

    @classmethod
    def resolved_form(cls, form: str) -> str:
        """The form ``recur`` takes for this program under ``form`` (for positive decays, per
        channel within ``FACTOR_SPAN``)."""
        if form not in ("lineage", "fast"):
            return form
        if cls.DECAY in (None, "head"):
            return "chunked"
        return "gla-chunk" if form == "fast" and not cls.ERASE else "chunked"

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """weights.rs ``Initialiser::mixer``: each ``proj`` N(0, fan_in^-1/2), each conv kernel
        identity-leaning, ``rmsnorm`` scales 1, each ``param`` from its ``init``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                with torch.no_grad():
                    module.weight.normal_(0.0, module.in_features**-0.5, generator=generator)
            elif isinstance(module, CausalConv):
                module.reset_parameters(generator)
            elif isinstance(module, RMSNorm):
                nn.init.ones_(module.scale)
        self.reset_params()

    def reset_params(self) -> None:
        """The program's ``param(...)`` vectors (none by default)."""


def param_range(n: int, lo: float, hi: float) -> torch.Tensor:
    """``param(n, init = range(lo, hi))``: evenly spaced from lo to hi (weights.rs)."""
    if n == 1:
        return torch.tensor([lo])
    return torch.tensor([lo + (hi - lo) * i / (n - 1) for i in range(n)])


class LinearAttention(Mixer):
    """``arch/baselines/linear_attention.arch``::

        q = l2norm(proj(x, d)); k = l2norm(proj(x, d)); v = proj(x, d)
        o = recur(q, k, v)
        return proj(rmsnorm(o), d)
    """

    LINEAGE_NODES = {"q_proj": 1, "k_proj": 3, "v_proj": 5, "o_norm": 7, "o_proj": 8}

    def __init__(self, d, h, form="fast"):
        super().__init__(d, h, form)
        self.q_proj, self.k_proj, self.v_proj = proj(d, d), proj(d, d), proj(d, d)
        self.o_norm = RMSNorm(d, h)
        self.o_proj = proj(d, d)

    def forward(self, x):
        q = l2norm(self.q_proj(x), self.h)
        k = l2norm(self.k_proj(x), self.h)
        v = self.v_proj(x)
        return self.o_proj(self.o_norm(self.recur(q, k, v)))


class DeltaNet(Mixer):
    """``arch/baselines/deltanet.arch``::

        q = l2norm(silu(conv(proj(x, d), 4))); k = l2norm(silu(conv(proj(x, d), 4)))
        v = silu(conv(proj(x, d), 4)); beta = sigmoid(proj(x, h))
        o = recur(q, beta * k, v, erase = beta * k, along = k)
        return proj(rmsnorm(o), d)
    """

    LINEAGE_NODES = {
        "q_proj": 1, "q_conv": 2, "k_proj": 5, "k_conv": 6, "v_proj": 9, "v_conv": 10,
        "beta_proj": 12, "o_norm": 17, "o_proj": 18,
    }  # fmt: skip
    ERASE = True

    def __init__(self, d, h, form="fast"):
        super().__init__(d, h, form)
        self.q_proj, self.q_conv = proj(d, d), CausalConv(d, 4)
        self.k_proj, self.k_conv = proj(d, d), CausalConv(d, 4)
        self.v_proj, self.v_conv = proj(d, d), CausalConv(d, 4)
        self.beta_proj = proj(d, h)
        self.o_norm = RMSNorm(d, h)
        self.o_proj = proj(d, d)

    def forward(self, x):
        q = l2norm(F.silu(self.q_conv(self.q_proj(x))), self.h)
        k = l2norm(F.silu(self.k_conv(self.k_proj(x))), self.h)
        v = F.silu(self.v_conv(self.v_proj(x)))
        beta = torch.sigmoid(self.beta_proj(x))
        beta_k = per_head(beta, k)
        o = self.recur(q, beta_k, v, erase=beta_k, along=k)
        return self.o_proj(self.o_norm(o))


class GLA(Mixer):
    """``arch/baselines/gla.arch``::

        q = silu(conv(proj(x, d), 4)); k = silu(conv(proj(x, d), 4)); v = silu(conv(proj(x, d), 4))
        alpha = exp(logsigmoid(proj(proj(x, 4 * h), d) + param(d, init = zero)) / 16)
        o = recur(q, k, v, decay = alpha)
        return proj(rmsnorm(o) * silu(proj(x, d)), d)

    No ``dk^-1/2`` scale on ``q`` (fla's GLA has one; the program does not).
    """

    LINEAGE_NODES = {
        "q_proj": 1, "q_conv": 2, "k_proj": 4, "k_conv": 5, "v_proj": 7, "v_conv": 8,
        "alpha_down": 10, "alpha_up": 11, "alpha_bias": 12, "o_norm": 19, "g_proj": 20,
        "o_proj": 23,
    }  # fmt: skip
    DECAY = "channel"

    def __init__(self, d, h, form="fast"):
        super().__init__(d, h, form)
        self.q_proj, self.q_conv = proj(d, d), CausalConv(d, 4)
        self.k_proj, self.k_conv = proj(d, d), CausalConv(d, 4)
        self.v_proj, self.v_conv = proj(d, d), CausalConv(d, 4)
        self.alpha_down, self.alpha_up = proj(d, 4 * h), proj(4 * h, d)
        self.alpha_bias = nn.Parameter(torch.zeros(d))
        self.o_norm = RMSNorm(d, h)
        self.g_proj = proj(d, d)
        self.o_proj = proj(d, d)

    def reset_params(self):
        with torch.no_grad():
            self.alpha_bias.zero_()

    def forward(self, x):
        q = F.silu(self.q_conv(self.q_proj(x)))
        k = F.silu(self.k_conv(self.k_proj(x)))
        v = F.silu(self.v_conv(self.v_proj(x)))
        log_alpha = F.logsigmoid(self.alpha_up(self.alpha_down(x)) + self.alpha_bias) / 16
        if self.resolved_form(self.form) == "gla-chunk":
            # The gate in log space, as fla passes it (`gk`): exp then log would be the identity.
            o = self.recur(q, k, v, log_decay=log_alpha, form="gla-chunk")
        else:
            o = self.recur(q, k, v, decay=log_alpha.exp())
        return self.o_proj(self.o_norm(o) * F.silu(self.g_proj(x)))


class RetNet(Mixer):
    """``arch/baselines/retnet.arch``::

        q = silu(conv(proj(x, d), 4)); k = silu(conv(proj(x, d), 4)); v = silu(conv(proj(x, d), 4))
        gamma = 1 - pow2(-5 - head_index())
        o = recur(q, k, v, decay = gamma)
        return proj(rmsnorm(o) * silu(proj(x, d)), d)
    """

    LINEAGE_NODES = {
        "q_proj": 1, "q_conv": 2, "k_proj": 4, "k_conv": 5, "v_proj": 7, "v_conv": 8,
        "o_norm": 18, "g_proj": 19, "o_proj": 22,
    }  # fmt: skip
    DECAY = "head"

    def __init__(self, d, h, form="fast"):
        super().__init__(d, h, form)
        self.q_proj, self.q_conv = proj(d, d), CausalConv(d, 4)
        self.k_proj, self.k_conv = proj(d, d), CausalConv(d, 4)
        self.v_proj, self.v_conv = proj(d, d), CausalConv(d, 4)
        self.o_norm = RMSNorm(d, h)
        self.g_proj = proj(d, d)
        self.o_proj = proj(d, d)
        gamma = 1 - torch.pow(2.0, -5.0 - torch.arange(h, dtype=torch.float64))
        self.register_buffer("gamma", gamma.float().view(1, 1, h), persistent=False)

    def forward(self, x):
        q = F.silu(self.q_conv(self.q_proj(x)))
        k = F.silu(self.k_conv(self.k_proj(x)))
        v = F.silu(self.v_conv(self.v_proj(x)))
        o = self.recur(q, k, v, decay=self.gamma.to(x.dtype))
        return self.o_proj(self.o_norm(o) * F.silu(self.g_proj(x)))


class Mamba2(Mixer):
    """``arch/baselines/mamba2.arch``::

        u = silu(conv(proj(x, d), 4)); b = silu(conv(proj(x, d), 4)); c = silu(conv(proj(x, d), 4))
        dt = softplus(proj(x, h) + param(h, init = range(-2.25, -6.9)))
        a = -exp(param(h, init = range(0, 2.77)))
        o = recur(c, b, dt * u, decay = exp(dt * a)) + param(h, init = one) * u
        return proj(rmsnorm(o) * silu(proj(x, d)), d)
    """

    LINEAGE_NODES = {
        "u_proj": 1, "u_conv": 2, "b_proj": 4, "b_conv": 5, "c_proj": 7, "c_conv": 8,
        "dt_proj": 10, "dt_bias": 11, "a_log": 14, "d_skip": 21, "o_norm": 24, "g_proj": 25,
        "o_proj": 28,
    }  # fmt: skip
    DECAY = "head"

    def __init__(self, d, h, form="fast"):
        super().__init__(d, h, form)
        self.u_proj, self.u_conv = proj(d, d), CausalConv(d, 4)
        self.b_proj, self.b_conv = proj(d, d), CausalConv(d, 4)
        self.c_proj, self.c_conv = proj(d, d), CausalConv(d, 4)
        self.dt_proj = proj(d, h)
        self.dt_bias = nn.Parameter(param_range(h, -2.25, -6.9))
        self.a_log = nn.Parameter(param_range(h, 0, 2.77))
        self.d_skip = nn.Parameter(torch.ones(h))
        self.o_norm = RMSNorm(d, h)
        self.g_proj = proj(d, d)
        self.o_proj = proj(d, d)

    def reset_params(self):
        with torch.no_grad():
            self.dt_bias.copy_(param_range(self.h, -2.25, -6.9))
            self.a_log.copy_(param_range(self.h, 0, 2.77))
            self.d_skip.fill_(1.0)

    def forward(self, x):
        u = F.silu(self.u_conv(self.u_proj(x)))
        b = F.silu(self.b_conv(self.b_proj(x)))
        c = F.silu(self.c_conv(self.c_proj(x)))
        dt = F.softplus(self.dt_proj(x) + self.dt_bias)
        a = -torch.exp(self.a_log)
        o = self.recur(c, b, per_head(dt, u), decay=torch.exp(dt * a)) + per_head(self.d_skip.view(1, 1, -1), u)
        return self.o_proj(self.o_norm(o) * F.silu(self.g_proj(x)))


class GatedDeltaNet(Mixer):
    """``arch/baselines/gated_deltanet.arch``::

        q, k, v as DeltaNet; beta = sigmoid(proj(x, h))
        alpha = exp(-exp(param(h, init = range(0, 2.7)))
                    * softplus(proj(x, h) + param(h, init = range(-4.6, -6.9))))
        o = recur(q, beta * k, v, decay = alpha, erase = alpha * beta * k, along = k)
        return proj(rmsnorm(o) * silu(proj(x, d)), d)
    """

    LINEAGE_NODES = {
        "q_proj": 1, "q_conv": 2, "k_proj": 5, "k_conv": 6, "v_proj": 9, "v_conv": 10,
        "beta_proj": 12, "a_log": 14, "alpha_proj": 17, "dt_bias": 18, "o_norm": 27,
        "g_proj": 28, "o_proj": 31,
    }  # fmt: skip
    DECAY = "head"
    ERASE = True

    def __init__(self, d, h, form="fast"):
        super().__init__(d, h, form)
        self.q_proj, self.q_conv = proj(d, d), CausalConv(d, 4)
        self.k_proj, self.k_conv = proj(d, d), CausalConv(d, 4)
        self.v_proj, self.v_conv = proj(d, d), CausalConv(d, 4)
        self.beta_proj = proj(d, h)
        self.a_log = nn.Parameter(param_range(h, 0, 2.7))
        self.alpha_proj = proj(d, h)
        self.dt_bias = nn.Parameter(param_range(h, -4.6, -6.9))
        self.o_norm = RMSNorm(d, h)
        self.g_proj = proj(d, d)
        self.o_proj = proj(d, d)

    def reset_params(self):
        with torch.no_grad():
            self.a_log.copy_(param_range(self.h, 0, 2.7))
            self.dt_bias.copy_(param_range(self.h, -4.6, -6.9))

    def forward(self, x):
        q = l2norm(F.silu(self.q_conv(self.q_proj(x))), self.h)
        k = l2norm(F.silu(self.k_conv(self.k_proj(x))), self.h)
        v = F.silu(self.v_conv(self.v_proj(x)))
        beta = torch.sigmoid(self.beta_proj(x))
        alpha = torch.exp(-torch.exp(self.a_log) * F.softplus(self.alpha_proj(x) + self.dt_bias))
        o = self.recur(q, per_head(beta, k), v, decay=alpha, erase=per_head(alpha * beta, k), along=k)
        return self.o_proj(self.o_norm(o) * F.silu(self.g_proj(x)))


MIXERS: dict[str, type[Mixer]] = {
    "linear_attention": LinearAttention,
    "deltanet": DeltaNet,
    "gla": GLA,
    "retnet": RetNet,
    "mamba2": Mamba2,
    "gated_deltanet": GatedDeltaNet,
}

# What lineage reports (`lineage arch train NAME --steps 2 --json`, "params") at the exploration
# size: d 64, 4 heads, 2 blocks, vocab 256.
LINEAGE_PARAMS_EXPLORATION = {
    "linear_attention": 164_288,
    "deltanet": 166_336,
    "gla": 178_240,
    "retnet": 174_016,
    "mamba2": 174_552,
    "gated_deltanet": 175_056,
}
# The same at d 128, 4 heads, 4 blocks, vocab 256 (`... --d-model 128 --layers 4`).
LINEAGE_PARAMS_D128_L4 = {
    "linear_attention": 1_115_776,
    "deltanet": 1_123_968,
    "gla": 1_204_352,
    "retnet": 1_187_456,
    "mamba2": 1_189_552,
    "gated_deltanet": 1_191_584,
}


def lineage_params(baseline: str, d: int, heads: int, layers: int, vocab: int) -> int | None:
    """The parameter count lineage reports for this model, where it is recorded here."""
    if (heads, vocab) != (4, 256):
        return None
    table = {(64, 2): LINEAGE_PARAMS_EXPLORATION, (128, 4): LINEAGE_PARAMS_D128_L4}.get((d, layers), {})
    return table.get(baseline)


# --------------------------------------------------------------------------------------------
# Block and model (forward.rs `block`, `logits`; weights.rs `init_weights`)
# --------------------------------------------------------------------------------------------


class SwiGLU(nn.Module):
    """``W_down(silu(W_gate x) * W_up x)`` with hidden width ``ratio * d``; lineage keeps gate and
    up side by side in one ``[d, 2 hidden]`` matrix (gate first), and so does ``w_in`` here."""

    def __init__(self, d: int, ratio: int = 4):
        super().__init__()
        self.hidden = ratio * d
        self.w_in = proj(d, 2 * self.hidden)
        self.w_out = proj(self.hidden, d)

    def forward(self, x):
        gate, up = self.w_in(x).split(self.hidden, dim=-1)
        return self.w_out(F.silu(gate) * up)


class Block(nn.Module):
    """``x = x + mixer(norm(x))``, then ``x = x + mlp(norm(x))`` (forward.rs ``block``)."""

    def __init__(self, mixer: Mixer, d: int, mlp_ratio: int = 4):
        super().__init__()
        self.mixer_norm = RMSNorm(d)
        self.mixer = mixer
        self.mlp_norm = RMSNorm(d)
        self.mlp = SwiGLU(d, mlp_ratio)

    def forward(self, x):
        x = x + self.mixer(self.mixer_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class LanguageModel(nn.Module):
    """Embedding, ``layers`` blocks, final RMSNorm, output head (forward.rs ``logits``). No
    position embeddings. ``form`` selects the recurrence form (module docstring)."""

    def __init__(self, baseline: str, d: int = 64, heads: int = 4, layers: int = 2, vocab: int = 256,
                 form: str = "fast", seed: int = 0):  # fmt: skip
        super().__init__()
        if baseline not in MIXERS:
            raise ValueError(f"unknown baseline {baseline!r}; choose from {', '.join(MIXERS)}")
        if d <= 0 or heads <= 0 or d % heads:
            raise ValueError(f"d = {d} must be a positive multiple of heads = {heads}")
        if layers <= 0 or vocab <= 0:
            raise ValueError("layers and vocab must be positive")
        self.baseline, self.d, self.heads, self.layers, self.vocab = baseline, d, heads, layers, vocab
        mixer = MIXERS[baseline]
        self.form = mixer.resolved_form(form)
        self.embedding = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(mixer(d, heads, form), d) for _ in range(layers))
        self.final_norm = RMSNorm(d)
        self.head = proj(d, vocab)
        self.reset_parameters(torch.Generator().manual_seed(seed))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The distributions of weights.rs ``init_weights`` (drawn from torch's generator, not
        lineage's SplitMix64 streams; ``check_lineage.py`` loads lineage's exact numbers)."""
        d, layers = self.d, self.layers
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, 1.0, generator=generator)
            for block in self.blocks:
                block.mixer.reset_parameters(generator)
                nn.init.ones_(block.mixer_norm.scale)
                nn.init.ones_(block.mlp_norm.scale)
                block.mlp.w_in.weight.normal_(0.0, d**-0.5, generator=generator)
                hidden = block.mlp.hidden
                block.mlp.w_out.weight.normal_(0.0, hidden**-0.5 / math.sqrt(2 * layers), generator=generator)
            nn.init.ones_(self.final_norm.scale)
            self.head.weight.normal_(0.0, d**-0.5, generator=generator)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[batch, time, vocab]`` for ``tokens`` (``[batch, time]``)."""
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``mask`` is 1 (forward.rs
    ``masked_cross_entropy``: the sum over supervised positions over ``max(count, 1)``)."""
    b, t, vocab = logits.shape
    losses = F.cross_entropy(logits.reshape(b * t, vocab), targets.reshape(b * t), reduction="none")
    return (losses * mask.reshape(b * t)).sum() / mask.sum().clamp_min(1.0)
