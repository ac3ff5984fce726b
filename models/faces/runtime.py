"""ONNX Runtime sessions for the face models: one place that picks providers and threads."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it (onnxruntime-gpu), else CPU only."""
    return [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]


def make_session(
    path: str | Path | bytes,
    threads: int,
    providers: list[str] | None = None,
    *,
    disable_quant_qdq: bool = False,
) -> ort.InferenceSession:
    """A session with `threads` intra-op threads (callers pass Ray's CPU allotment), one
    inter-op thread (the graphs are chains; a second pool only competes for the same
    cores) and every graph optimisation (constant folding, Conv+BN+activation fusion,
    NCHWc layout on x86)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # ORT warns about initializers our rewrite left for it to drop
    if disable_quant_qdq:  # weight-only DequantizeLinear graphs: don't re-quantise per call
        so.add_session_config_entry("session.disable_quant_qdq", "1")
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, sess_options=so, providers=providers or default_providers())
