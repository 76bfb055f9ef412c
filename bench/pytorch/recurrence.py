"""``recur``, the language's recurrent operation, in the forms lineage computes it and the usual
chunked GLA form, in plain PyTorch: the mirror of ``arch/src/model/recurrence.rs``. The forms
(``form=``) are described in ``models.py``'s docstring.

It needs only ``torch``. Nothing here is used to build or test the Rust project.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CHUNK = 16
"""Positions per chunk, as lineage's ``recurrence::CHUNK`` (a power of two: the product form of
``(I + A)^-1`` below is exact for it)."""
SQUARINGS = 4
"""``2 ** SQUARINGS == CHUNK``."""
MIN_DECAY = 1e-30
"""``recurrence.rs::MIN_DECAY``: decays are clamped here before ``log`` in the chunked form."""
FACTOR_SPAN = 40.0
"""``recurrence.rs::FACTOR_SPAN``: a per-channel decay is chunked while every partial sum of its
log inside a chunk stays within it, so that ``exp(L_t)`` and ``exp(-L_s)`` cannot overflow."""

FORMS = ("fast", "lineage", "stepwise", "chunked", "gla-chunk")


def _batch(*tensors) -> int:
    return max(t.shape[0] for t in tensors if isinstance(t, torch.Tensor))


def _heads(x: torch.Tensor, h: int, batch: int, steps: int) -> torch.Tensor:
    """``[b|1, t|1, h*m]`` -> ``[batch, steps, h, m]``, broadcasting a batch or time of 1
    (recurrence.rs ``heads``)."""
    b, t, w = x.shape
    return x.view(b, t, h, w // h).expand(batch, steps, h, w // h)


def recur(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    heads: int,
    decay: float | torch.Tensor | None = None,
    erase: torch.Tensor | None = None,
    along: torch.Tensor | None = None,
    form: str = "lineage",
    log_decay: torch.Tensor | None = None,
) -> torch.Tensor:
    """The language's ``recur``: per head, with state ``S`` (``dk x dv``, starting at 0),

    ``S_t = Diag(decay_t) S_{t-1} - erase_t (along_t^T S_{t-1}) + k_t v_t^T``, ``o_t = S_t^T q_t``.

    ``q``, ``k``, ``erase``, ``along``: ``[b, t, h*dk]``; ``v``: ``[b, t, h*dv]``; ``decay``: None
    (1), a number, or a tensor ``[b|1, t|1, h]`` (per head) or ``[b|1, t|1, h*dk]`` (per key
    channel). ``log_decay``, optional, is ``log(decay)`` where the caller has it in closed form
    (GLA's gate is ``exp(logsigmoid(.)/16)``); only ``gla-chunk`` uses it. Returns
    ``[b, t, h*dv]``. See the module docstring for ``form``.
    """
    if (erase is None) != (along is None):
        raise ValueError("erase and along go together")
    per_channel = isinstance(decay, torch.Tensor) and decay.shape[-1] != heads
    if form in ("lineage", "fast"):
        # recurrence.rs `recur` (numerics revision 2): chunked when the decay is absent, a
        # positive number, per head and positive everywhere, or per channel within FACTOR_SPAN
        # (checked on the values); stepwise otherwise.
        if decay is None:
            chunk = True
        elif isinstance(decay, torch.Tensor):
            chunk = _factorisable(decay, q.shape[1]) if per_channel else bool(decay.min() > 0)
        else:
            chunk = decay > 0
        if form == "fast" and per_channel and erase is None:
            form = "gla-chunk"
        elif chunk:
            form = "chunked"
        else:
            form = "stepwise"
    if form == "stepwise":
        return recur_stepwise(q, k, v, heads, decay, erase, along)
    if form == "chunked":
        return recur_chunked(q, k, v, heads, decay, erase, along)
    if form == "gla-chunk":
        if erase is not None:
            raise ValueError("the gla-chunk form has no erase: use stepwise or chunked")
        if log_decay is None and decay is not None:
            log_decay = _log_decay_of(decay, q)
        return recur_gla_chunk(q, k, v, heads, log_decay)
    raise ValueError(f"unknown form {form!r}; choose from {', '.join(FORMS)}")


def _factorisable(decay: torch.Tensor, steps: int) -> bool:
    """Whether every partial sum of log decays inside a chunk is within ``FACTOR_SPAN``
    (recurrence.rs ``factorisable``)."""
    b, _, w = decay.shape
    chunks = -(-steps // CHUNK)
    log = decay.detach().expand(b, steps, w).clamp_min(MIN_DECAY).log()
    log = F.pad(log, (0, 0, 0, chunks * CHUNK - steps))
    return bool(log.reshape(b, chunks, CHUNK, w).cumsum(2).abs().max() <= FACTOR_SPAN)


def _log_decay_of(decay, like: torch.Tensor) -> torch.Tensor:
    if isinstance(decay, torch.Tensor):
        return decay.clamp_min(MIN_DECAY).log()
    return torch.full((1, 1, 1), math.log(decay), dtype=like.dtype, device=like.device)


def recur_stepwise(q, k, v, heads, decay=None, erase=None, along=None) -> torch.Tensor:
    """The step-by-step form: one iteration per position (recurrence.rs ``stepwise``).

    As in lineage, the state update and the read are elementwise products and sums over the key
    axis (``(a * S).sum(dk)``), as in fla's ``naive_recurrent_gla`` too.
    """
    h, steps = heads, q.shape[1]
    tensors = [q, k, v, erase, along] + ([decay] if isinstance(decay, torch.Tensor) else [])
    batch = _batch(*tensors)
    q, k, v = (_heads(x, h, batch, steps) for x in (q, k, v))
    dk, dv = q.shape[-1], v.shape[-1]
    if isinstance(decay, torch.Tensor):
        decay = _heads(decay, h, batch, steps)  # [batch, steps, h, 1 | dk]
    if erase is not None:
        erase, along = _heads(erase, h, batch, steps), _heads(along, h, batch, steps)
    # `unbind` once, not `x[:, i]` in the loop: the backward of each index op writes a zero
    # tensor of the full size, which makes the loop quadratic in the length.
    qs, ks, vs = q.unbind(1), k.unbind(1), v.unbind(1)
    decays = decay.unbind(1) if isinstance(decay, torch.Tensor) else None
    if erase is not None:
        erases, alongs = erase.unbind(1), along.unbind(1)
    state = q.new_zeros(batch, h, dk, dv)
    outputs = []
    for i in range(steps):
        write = ks[i][:, :, :, None] * vs[i][:, :, None, :]
        erased = None
        if erase is not None:
            erased = erases[i][:, :, :, None] * (alongs[i][:, :, :, None] * state).sum(2, keepdim=True)
        if decay is None:
            decayed = state
        elif decays is not None:
            decayed = state * decays[i][:, :, :, None]
        else:
            decayed = state * decay
        state = decayed - erased + write if erased is not None else decayed + write
        outputs.append((qs[i][:, :, :, None] * state).sum(2))  # [batch, h, dv]
    return torch.stack(outputs, 1).reshape(batch, steps, h * dv)


def _to_chunks(x: torch.Tensor, chunks: int) -> torch.Tensor:
    """``[b, t, h, m]`` -> ``[b, h, chunks, CHUNK, m]``, zero-padded at the end (recurrence.rs
    ``to_chunks``). Padding (zero keys, values and erases, log decay 0) changes no earlier
    output: the form is causal."""
    b, t, h, m = x.shape
    padded = chunks * CHUNK
    if padded > t:
        x = F.pad(x, (0, 0, 0, 0, 0, padded - t))
    return x.reshape(b, chunks, CHUNK, h, m).permute(0, 3, 1, 2, 4)


_MASKS: dict = {}


def _causal_mask(strict: bool, device, dtype) -> torch.Tensor:
    """1 where position ``s`` may feed ``t`` (``s <= t``, or ``s < t`` when strict), else 0."""
    key = (strict, device, dtype)
    if key not in _MASKS:
        _MASKS[key] = torch.ones(CHUNK, CHUNK, device=device, dtype=dtype).tril(-1 if strict else 0)
    return _MASKS[key]


def _pairwise(x, lx, y, ly, strict: bool) -> torch.Tensor:
    """``sum_c x[t,c] y[s,c] exp(lx[t,c] - ly[s,c])`` for ``s <= t`` (``s < t`` when strict), else
    0, for every chunk: ``[..., CHUNK, CHUNK]`` (recurrence.rs ``pairwise``). The log decays are
    per head (last dim 1), per channel (last dim dk), or None (no decay: a masked ``x y^T``).

    Per head, lineage adds a ``-inf`` bias above the diagonal before ``exp`` (exp(-inf) = 0 with a
    zero gradient); here the same is a ``masked_fill`` of the exponent with ``-inf``. Per channel
    the ratio is factorised into one matmul, ``(x e^lx)(y e^-ly)^T``, then masked: exact while
    the log decays stay within ``FACTOR_SPAN``, which ``recur`` checks.
    """
    mask = _causal_mask(strict, x.device, x.dtype)
    if lx is None:
        return (x @ y.transpose(-1, -2)) * mask
    if lx.shape[-1] == 1:
        gate = (lx - ly.transpose(-1, -2)).masked_fill(mask == 0, float("-inf"))
        return (x @ y.transpose(-1, -2)) * gate.exp()
    return ((x * lx.exp()) @ (y * (-ly).exp()).transpose(-1, -2)) * mask


def _unit_lower_inverse(a: torch.Tensor) -> torch.Tensor:
    """``(I + A)^-1`` for strictly lower triangular ``A`` (``[..., CHUNK, CHUNK]``):
    ``sum_{n<CHUNK} (-A)^n = (I - A)(I + A^2)(I + A^4)(I + A^8)`` (recurrence.rs
    ``unit_lower_inverse``)."""
    eye = torch.eye(CHUNK, device=a.device, dtype=a.dtype)
    inverse = eye - a
    power = a
    for _ in range(1, SQUARINGS):
        power = power @ power
        inverse = inverse @ (eye + power)
    return inverse


def recur_chunked(q, k, v, heads, decay=None, erase=None, along=None) -> torch.Tensor:
    """lineage's chunked form (recurrence.rs ``chunked``; derivation in its module docs).

    Inside a chunk of 16 everything is batched matmuls over all chunks at once; only the state
    hand-over between chunks is a loop (``T / 16`` iterations). Decays enter as pairwise ratios
    ``exp(L_t - L_s)`` of cumulative log decays; the erase is solved with the UT transform. Needs
    every decay positive, and per-channel decays within ``FACTOR_SPAN``. One shortcut against lineage, which changes no value: without a
    decay, lineage multiplies by ``exp(0)`` factors (a zero log decay); here they are left out.
    """
    h, steps = heads, q.shape[1]
    tensors = [q, k, v, erase, along] + ([decay] if isinstance(decay, torch.Tensor) else [])
    batch = _batch(*tensors)
    chunks = -(-steps // CHUNK)

    def split(x):
        return _to_chunks(_heads(x, h, batch, steps), chunks)

    q, k, v = split(q), split(k), split(v)
    dk, dv = q.shape[-1], v.shape[-1]
    # Log decay per step, [batch, h, chunks, CHUNK, 1 | dk].
    if decay is None:
        log_decay = None
    elif isinstance(decay, torch.Tensor):
        log_decay = split(decay.clamp_min(MIN_DECAY).log())
    else:
        full = torch.full((batch, steps, h, 1), math.log(decay), dtype=q.dtype, device=q.device)
        log_decay = _to_chunks(full, chunks)
    if log_decay is not None:
        cumulative = log_decay.cumsum(3)  # L_t: log Gamma over (chunk start, t]
        before = cumulative - log_decay  # L_{t-1}
        end = cumulative[:, :, :, CHUNK - 1 :, :]  # L at the chunk's last step
        to_end = (end - cumulative).exp()  # Gamma_end / Gamma_s
        read = q * cumulative.exp()
        keys_to_end = k * to_end
    else:
        cumulative = before = end = to_end = None
        read, keys_to_end = q, k
    # Per chunk, all at once: output = read . S_0 + local;
    # next S_0 = Gamma_end S_0 + transfer . S_0 + carried.
    local = _pairwise(q, cumulative, k, cumulative, False) @ v
    carried = keys_to_end.transpose(-1, -2) @ v
    transfer = None
    if erase is not None:
        e, a = split(erase), split(along)
        inverse = _unit_lower_inverse(_pairwise(a, before, e, cumulative, True))
        keys = _pairwise(a, before, k, cumulative, True)
        # The erased reads R = w . S_0 + u.
        w = inverse @ (a * before.exp() if before is not None else a)
        u = inverse @ (keys @ v)
        erased_read = _pairwise(q, cumulative, e, cumulative, False)
        read = read - erased_read @ w
        local = local - erased_read @ u
        erase_to_end = (e * to_end if to_end is not None else e).transpose(-1, -2)
        carried = carried - erase_to_end @ u
        transfer = -(erase_to_end @ w)
    kept = end.exp().transpose(-1, -2) if end is not None else None  # [b, h, n, 1 | dk, 1]
    reads, locals_, carrieds = read.unbind(2), local.unbind(2), carried.unbind(2)  # see recur_stepwise
    kepts = kept.unbind(2) if kept is not None else None
    transfers = transfer.unbind(2) if transfer is not None else None
    state = q.new_zeros(batch, h, dk, dv)
    outputs = []
    for i in range(chunks):
        outputs.append(reads[i] @ state + locals_[i])
        new = state * kepts[i] if kepts is not None else state
        if transfers is not None:
            new = new + transfers[i] @ state
        state = new + carrieds[i]
    out = torch.stack(outputs, 2)  # [b, h, n, CHUNK, dv]
    return out.permute(0, 2, 3, 1, 4).reshape(batch, chunks * CHUNK, h * dv)[:, :steps]


def recur_gla_chunk(q, k, v, heads, log_decay=None) -> torch.Tensor:
    """The chunked GLA form as commonly written in PyTorch (no erase), chunks of 16:

    with ``G_t`` the cumulative log gate inside the chunk, ``Q = q * exp(G)``, ``K = k * exp(-G)``,
    the output is ``tril(Q K^T) V + Q S_0`` and the state moves on as
    ``S = exp(G_end) * S + (k * exp(G_end - G))^T V``. One matmul for the in-chunk scores instead
    of lineage's ``CHUNK x CHUNK x dk`` pairwise gate tensor; the price is that ``exp(-G)`` must
    not overflow (see the module docstring). ``log_decay``: ``[b|1, t|1, h | h*dk]`` or None.
    """
    h, steps = heads, q.shape[1]
    batch = _batch(q, k, v, log_decay)
    chunks = -(-steps // CHUNK)

    def split(x):
        return _to_chunks(_heads(x, h, batch, steps), chunks)

    q, k, v = split(q), split(k), split(v)
    dk, dv = q.shape[-1], v.shape[-1]
    mask = _causal_mask(False, q.device, q.dtype)
    if log_decay is None:
        scores = (q @ k.transpose(-1, -2)) * mask
        qg, carried, kept = q, k.transpose(-1, -2) @ v, None
    else:
        if log_decay.shape[-1] == 1 and h != 1:
            log_decay = log_decay.expand(*log_decay.shape[:-1], h)
        g = split(log_decay).cumsum(3)  # [b, h, n, CHUNK, 1 | dk]
        g_end = g[:, :, :, CHUNK - 1 :, :]
        qg = q * g.exp()
        scores = (qg @ (k * (-g).exp()).transpose(-1, -2)) * mask
        carried = (k * (g_end - g).exp()).transpose(-1, -2) @ v
        kept = g_end.exp().transpose(-1, -2)  # [b, h, n, 1|dk, 1]
    local = scores @ v
    qgs, locals_, carrieds = qg.unbind(2), local.unbind(2), carried.unbind(2)  # see recur_stepwise
    kepts = kept.unbind(2) if kept is not None else None
    state = q.new_zeros(batch, h, dk, dv)
    outputs = []
    for i in range(chunks):
        outputs.append(qgs[i] @ state + locals_[i])
        state = (state * kepts[i] if kepts is not None else state) + carrieds[i]
    out = torch.stack(outputs, 2)
    return out.permute(0, 2, 3, 1, 4).reshape(batch, chunks * CHUNK, h * dv)[:, :steps]
