# ----------------------------------------------------------------------------------------------
# The language's operations (lineage: arch/src/model/forward.rs), in plain PyTorch.
# Values are [batch, time, width] tensors; a learned vector is [1, 1, width] and broadcasts.
# ----------------------------------------------------------------------------------------------

NORM_EPS = 1e-6
"""Inside the square root of every RMS and L2 norm (forward.rs ``NORM_EPS``)."""


class ops:
    """The operations a program can use, each as lineage computes it."""

    @staticmethod
    def per_head(op, a: torch.Tensor, b: torch.Tensor, h: int) -> torch.Tensor:
        """``a op b`` where one side is ``h`` wide: it broadcasts over the channels of each head of
        the other (forward.rs ``binary_tensors``)."""
        wa, wb = a.shape[-1], b.shape[-1]
        a4 = a.reshape(*a.shape[:-1], h, wa // h)
        b4 = b.reshape(*b.shape[:-1], h, wb // h)
        out = op(a4, b4)
        return out.reshape(*out.shape[:-2], out.shape[-2] * out.shape[-1])

    @staticmethod
    def head_norm(x: torch.Tensor, h: int, mean: bool) -> torch.Tensor:
        """Per head: ``x / sqrt(mean(x^2) + eps)`` (RMS) or ``x / sqrt(sum(x^2) + eps)`` (L2).
        ``h = 1`` is the whole width (the block's norms)."""
        x4 = x.reshape(*x.shape[:-1], h, x.shape[-1] // h)
        squares = x4.square()
        denominator = squares.mean(-1, keepdim=True) if mean else squares.sum(-1, keepdim=True)
        return (x4 / (denominator + NORM_EPS).sqrt()).reshape(x.shape)

    @staticmethod
    def shift(x: torch.Tensor, by: int) -> torch.Tensor:
        """``out_t = in_{t-by}``, zeros outside the sequence (``by < 0`` reads the future)."""
        t = x.shape[1]
        n = abs(by)
        if n >= t:
            return torch.zeros_like(x)
        zeros = x.new_zeros(x.shape[0], n, x.shape[2])
        if by > 0:
            return torch.cat([zeros, x[:, : t - n]], 1)
        return torch.cat([x[:, n:], zeros], 1)

    @staticmethod
    def causal_conv(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Depthwise causal convolution, ``out_t = sum_j kernel[:, j] * in_{t-j}``; ``kernel`` is
        ``[width, taps]``, tap 0 the current position."""
        out = x * kernel[:, 0]
        for j in range(1, kernel.shape[1]):
            out = out + ops.shift(x, j) * kernel[:, j]
        return out

    @staticmethod
    def attention(q, k, v, h: int, causal: bool) -> torch.Tensor:
        """Softmax attention per head, scaled by ``1/sqrt(dk)``; a causal mask fills the future
        with -1e9 before the softmax."""
        t = max(q.shape[1], k.shape[1])

        def split(x):
            return x.reshape(x.shape[0], x.shape[1], h, x.shape[2] // h).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(q.shape[-1])
        if causal:
            future = torch.ones(t, t, dtype=torch.bool, device=scores.device).triu(1)
            scores = scores.masked_fill(future, -1e9)
        out = torch.softmax(scores, 3) @ v
        return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)

    @staticmethod
    def route(router: torch.Tensor, matrix: torch.Tensor, paths, h: int) -> torch.Tensor:
        """Per head, a softmax over the paths from ``router @ matrix`` mixes the paths."""
        logits = router @ matrix
        b, t, _ = logits.shape
        weights = torch.softmax(logits.reshape(b, t, len(paths), h), 2)
        out = None
        for i, path in enumerate(paths):
            term = ops.per_head(torch.mul, weights[:, :, i], path, h)
            out = term if out is None else out + term
        return out

    @staticmethod
    def over_time(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A constant vector ``[1, 1, w]`` as a sequence shaped like ``like``."""
        return v.expand(like.shape[0], like.shape[1], v.shape[-1])


def load_safetensors(path) -> dict:
    """Reads a safetensors file of float32 and int64 tensors with torch alone (the format: an
    8-byte little-endian header length, a JSON header, the raw data). ``safetensors.torch
    .load_file`` reads the same files."""
    import json
    import struct

    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    data = memoryview(raw)[8 + length :]
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensor = torch.frombuffer(bytearray(data[start:end]), dtype=dtypes[info["dtype"]])
        out[name] = tensor.reshape(info["shape"])
    return out
