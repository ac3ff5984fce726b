"""1:N search over L2-normalised embeddings held as int8 (default) or float16 rows.

Scanning N rows is memory-bound, so the row format sets the speed: int8 with one scale
per row is 1 byte per dimension (128 MB for 1M faces of 128-d), float16 is 2.

- int8: the rows are scanned by ONNX Runtime's MatMulNBits (8-bit, one block per row,
  int8 compute, AVX2) + TopK, over a snapshot of the matrix built into a session
  (the kernel needs its weights constant to pre-pack them; scanning a non-constant
  matrix was ~50x slower). Rows added since the snapshot are scanned in numpy, removed
  rows are skipped, and the snapshot is rebuilt once either exceeds `rebuild_fraction`
  of the matrix (≥ `min_rebuild` rows): about 1 s per million rows, amortised.
  The candidates (4k + 16 per query) are re-scored in float32 as the exact cosine of
  the stored vectors (the int8 scan quantises the query per call too).
- float16: scanned in chunks by ONNX Runtime (Cast + MatMul; numpy has no fast float16
  kernels), then argpartition; the cosine is exact for the float16 rows.

Ids are any hashable (person ids as str in the gallery); adding an id again replaces it.
Not thread-safe: one owner (a gallery shard) calls it. A snapshot rebuild runs inside
the search that finds it due.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

from dichte.models.faces.runtime import CPU, make_session

Match = tuple[Hashable, float]
_CHUNK = 8192  # float16 rows per ORT call: 2 MB in, 4 MB fp32 out of Cast, L2/L3 sized


def _model_bytes(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: Sequence[onnx.TensorProto] = (),
) -> bytes:
    graph = helper.make_graph(nodes, "search", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    return bytes(model.SerializeToString())


class EmbeddingMatrix:
    def __init__(
        self,
        dim: int = 128,
        dtype: Literal["int8", "float16"] = "int8",
        threads: int = 1,
        rebuild_fraction: float = 0.02,
        min_rebuild: int = 4096,
    ) -> None:
        if dtype not in ("int8", "float16"):
            raise ValueError("dtype must be 'int8' or 'float16'")
        self.dim, self.dtype, self.threads = dim, dtype, threads
        self.rebuild_fraction, self.min_rebuild = rebuild_fraction, min_rebuild
        self._codes = np.zeros((0, dim), np.int8 if dtype == "int8" else np.float16)
        self._scales = np.zeros(0, np.float32)  # int8: x ≈ code * scale
        self._alive = np.zeros(0, bool)
        self._ids: list[Hashable | None] = []
        self._row: dict[Hashable, int] = {}
        self._n = 0  # rows used, tombstones included
        self._snap: ort.InferenceSession | None = None
        self._snap_n = 0  # rows [0, _snap_n) are in the int8 snapshot
        self._f16: ort.InferenceSession | None = None
        # int8 blocks: MatMulNBits wants a power of two ≥ 16 dividing the dimension.
        self._block = max((b for b in (16, 32, 64, 128, 256) if dim % b == 0), default=0)
        if dtype == "int8" and not self._block:
            raise ValueError("int8 rows need a dimension divisible by 16")

    def __len__(self) -> int:
        return len(self._row)

    # ------------------------------------------------------------------ changes

    def add(self, ids: Sequence[Hashable], embeddings: np.ndarray) -> None:
        e = np.asarray(embeddings, np.float32).reshape(-1, self.dim)
        if len(ids) != len(e):
            raise ValueError(f"{len(ids)} ids for {len(e)} embeddings")
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        self.remove([i for i in ids if i in self._row])  # replaced rows become tombstones
        self._grow(self._n + len(e))
        rows = slice(self._n, self._n + len(e))
        if self.dtype == "int8":
            scale = np.maximum(np.abs(e).max(axis=1), 1e-12) / 127.0
            self._codes[rows] = np.rint(e / scale[:, None]).astype(np.int8)
            self._scales[rows] = scale
        else:
            self._codes[rows] = e.astype(np.float16)
        self._alive[rows] = True
        for k, i in enumerate(ids):
            self._ids.append(i)
            self._row[i] = self._n + k
        self._n += len(e)

    def remove(self, ids: Iterable[Hashable]) -> None:
        """Unknown ids are ignored (forgetting twice is not an error)."""
        for i in ids:
            row = self._row.pop(i, None)
            if row is not None:
                self._ids[row] = None
                self._alive[row] = False

    def _grow(self, need: int) -> None:
        if need <= len(self._codes):
            return
        cap = max(need, 2 * len(self._codes), 1024)
        for name in ("_codes", "_scales", "_alive"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def _compact(self) -> None:
        keep = np.nonzero(self._alive[: self._n])[0]
        self._codes = np.ascontiguousarray(self._codes[keep])
        self._scales, self._alive = self._scales[keep], self._alive[keep]
        self._ids = [self._ids[r] for r in keep]
        self._row = {i: r for r, i in enumerate(self._ids)}
        self._n = len(keep)
        self._snap, self._snap_n = None, 0

    def _maintain(self) -> None:
        slack = max(self.min_rebuild, int(self.rebuild_fraction * self._n))
        dead = self._n - len(self._row)
        if dead > slack:
            self._compact()
        if self.dtype == "int8" and (self._snap is None or self._n - self._snap_n > slack):
            self._build_snapshot()

    def _build_snapshot(self) -> None:
        n, d, b = self._n, self.dim, self._block
        self._snap, self._snap_n = None, n
        if n == 0:
            return
        codes = (self._codes[:n].astype(np.int16) + 128).astype(np.uint8).reshape(n, d // b, b)
        scales = np.repeat(self._scales[:n], d // b)
        nodes = [
            helper.make_node(
                "MatMulNBits",
                ["q", "codes", "scales"],  # zero point defaults to 128 for 8 bits
                ["scores"],
                domain="com.microsoft",
                K=d,
                N=n,
                bits=8,
                block_size=b,
                accuracy_level=4,
            ),
            helper.make_node("TopK", ["scores", "k"], ["top", "idx"]),
        ]
        model = _model_bytes(
            nodes,
            [
                helper.make_tensor_value_info("q", TensorProto.FLOAT, ["Q", d]),
                helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
            ],
            [
                helper.make_tensor_value_info("top", TensorProto.FLOAT, ["Q", "K"]),
                helper.make_tensor_value_info("idx", TensorProto.INT64, ["Q", "K"]),
            ],
            [nh.from_array(codes, "codes"), nh.from_array(scales, "scales")],
        )
        self._snap = make_session(model, self.threads, [CPU])

    # ------------------------------------------------------------------ search

    def search(self, query: np.ndarray, k: int) -> list[Any]:
        """Top-k (id, cosine) per query, best first: a list of `Match` for a (dim,)
        query, a list of such lists for (Q, dim)."""
        q = np.asarray(query, np.float32)
        single = q.ndim == 1
        q = q.reshape(-1, self.dim)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        self._maintain()
        if not self._row or k <= 0:
            return [] if single else [[] for _ in q]
        cands = self._candidates_int8(q, k) if self.dtype == "int8" else self._candidates_f16(q, k)
        out = [self._rescore(qi, c, k) for qi, c in zip(q, cands, strict=True)]
        return out[0] if single else out

    def _candidates_int8(self, q: np.ndarray, k: int) -> list[np.ndarray]:
        want = 4 * k + 16
        parts: list[np.ndarray] = [np.zeros((len(q), 0), np.int64)]
        if self._snap is not None:
            dead = self._snap_n - int(self._alive[: self._snap_n].sum())
            kk = np.array([min(self._snap_n, want + dead)], np.int64)
            parts.append(self._snap.run(["idx"], {"q": q, "k": kk})[0])
        if self._n > self._snap_n:  # rows added since the snapshot: few, numpy
            delta = self._codes[self._snap_n : self._n].astype(np.float32)
            scores = (q @ delta.T) * self._scales[self._snap_n : self._n]
            parts.append(self._snap_n + _top(scores, want))
        return list(np.concatenate(parts, axis=1))

    def _candidates_f16(self, q: np.ndarray, k: int) -> list[np.ndarray]:
        if self._f16 is None:  # rows @ q.T: the big operand never transposed
            model = _model_bytes(
                [
                    helper.make_node("Cast", ["rows"], ["rows32"], to=TensorProto.FLOAT),
                    helper.make_node("MatMul", ["rows32", "qt"], ["scores"]),
                ],
                [
                    helper.make_tensor_value_info("rows", TensorProto.FLOAT16, ["R", self.dim]),
                    helper.make_tensor_value_info("qt", TensorProto.FLOAT, [self.dim, "Q"]),
                ],
                [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["R", "Q"])],
            )
            self._f16 = make_session(model, self.threads, [CPU])
        qt = np.ascontiguousarray(q.T)
        scores = np.empty((self._n, len(q)), np.float32)
        for i in range(0, self._n, _CHUNK):
            rows = self._codes[i : min(i + _CHUNK, self._n)]
            scores[i : i + len(rows)] = self._f16.run(None, {"rows": rows, "qt": qt})[0]
        scores[~self._alive[: self._n]] = -np.inf
        return list(_top(scores.T, 4 * k + 16))

    def _rescore(self, q: np.ndarray, cand: np.ndarray, k: int) -> list[Match]:
        cand = np.unique(cand)
        cand = cand[self._alive[cand]]
        rows = self._codes[cand].astype(np.float32)
        if self.dtype == "int8":
            rows *= self._scales[cand, None]
        cos = rows @ q / np.maximum(np.linalg.norm(rows, axis=1), 1e-12)
        order = np.argsort(-cos, kind="stable")[:k]
        return [(self._ids[cand[j]], float(cos[j])) for j in order]


def _top(scores: np.ndarray, want: int) -> np.ndarray:
    """Column indices of the `want` largest scores per row (unordered)."""
    if scores.shape[1] <= want:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    return np.argpartition(scores, -want, axis=1)[:, -want:]
