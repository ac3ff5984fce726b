"""The Gabor filter bank as an ONNX graph, so the inference pool runs it batched on the
CPU or CUDA provider like the face models.

Input: normalised irises (B, 1, ROWS, COLS) float32 (zero mean, unit variance over the
iris, masked pixels at 0) and their validity (B, 1, ROWS, COLS) float32 (1 = iris
texture). The graph wraps the angle axis around (the iris is a ring), reflects the
radial axis, correlates with a complex 2-D Gabor kernel (real and imaginary parts as two
output channels) sampled at RINGS radii × ANGLES angles, and returns
- `bits`  (B, 2, RINGS, ANGLES) bool: the phase quadrant (signs of real, imaginary);
- `magnitude` (B, RINGS, ANGLES) float32: |response|, for masking fragile bits;
- `valid` (B, RINGS, ANGLES) float32: the fraction of iris pixels under each sample.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnx import numpy_helper as nh
from pydantic import BaseModel, ConfigDict, Field

from dichte.models.faces.runtime import make_session
from dichte.models.iris.code import ANGLES, RINGS

ROWS, COLS = 64, 512  # the rubber sheet: radial × angular samples


class GaborParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    wavelength: float = Field(
        16.0, gt=4, description="along the angle, in normalised columns (of 512): 11°"
    )
    sigma_angle: float = Field(0.3, gt=0, description="angular envelope, in wavelengths")
    sigma_radius: float = Field(3.0, gt=0, description="radial envelope, in rows (of 64)")
    threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads")
    providers: list[str] | None = Field(None, description="ORT providers (default: CUDA if any)")


def gabor_kernel(p: GaborParams) -> np.ndarray:
    """(2, 1, kh, kw) float32: the real part (zero DC) and imaginary part, L1-normalised."""
    half_w = round(1.2 * p.wavelength)
    half_h = round(2 * p.sigma_radius)
    y, x = np.mgrid[-half_h : half_h + 1, -half_w : half_w + 1].astype(np.float64)
    envelope = np.exp(
        -(x**2) / (2 * (p.sigma_angle * p.wavelength) ** 2) - y**2 / (2 * p.sigma_radius**2)
    )
    real = envelope * np.cos(2 * np.pi * x / p.wavelength)
    imag = envelope * np.sin(2 * np.pi * x / p.wavelength)
    real -= envelope * (real.sum() / envelope.sum())  # no response to plain brightness
    real /= np.abs(real).sum()
    imag /= np.abs(imag).sum()
    return np.stack([real, imag])[:, None].astype(np.float32)


def gabor_graph(p: GaborParams) -> bytes:
    kernel = gabor_kernel(p)
    kh, kw = kernel.shape[2:]
    ph, pw = kh // 2, kw // 2
    row_step, col_step = ROWS // RINGS, COLS // ANGLES
    first_row = row_step // 2  # ring centres in the middle of their bands
    inits = [
        nh.from_array(kernel, "kernel"),
        nh.from_array(
            np.ones((1, 1, row_step, col_step), np.float32) / (row_step * col_step), "box"
        ),
        nh.from_array(np.array([COLS - pw], np.int64), "tail_start"),
        nh.from_array(np.array([COLS], np.int64), "tail_end"),
        nh.from_array(np.array([0], np.int64), "zero"),
        nh.from_array(np.array([pw], np.int64), "head_end"),
        nh.from_array(np.array([3], np.int64), "angle_axis"),
        nh.from_array(np.array([2], np.int64), "radius_axis"),
        nh.from_array(np.array([0, 0, ph, 0, 0, 0, ph, 0], np.int64), "radial_pads"),
        nh.from_array(np.array([first_row], np.int64), "first_row"),
        nh.from_array(np.array([ROWS + 2 * ph], np.int64), "rows_end"),
        nh.from_array(np.array([0.0], np.float32), "zero_f"),
        nh.from_array(np.array([1], np.int64), "channel_axis"),
    ]
    nodes = [
        # Wrap the angle: the last pw columns before, the first pw after.
        helper.make_node("Slice", ["iris", "tail_start", "tail_end", "angle_axis"], ["tail"]),
        helper.make_node("Slice", ["iris", "zero", "head_end", "angle_axis"], ["head"]),
        helper.make_node("Concat", ["tail", "iris", "head"], ["wrapped"], axis=3),
        helper.make_node("Pad", ["wrapped", "radial_pads"], ["padded"], mode="reflect"),
        helper.make_node(
            "Slice", ["padded", "first_row", "rows_end", "radius_axis"], ["from_first_ring"]
        ),
        helper.make_node(
            "Conv",
            ["from_first_ring", "kernel"],
            ["response"],
            strides=[row_step, col_step],
            kernel_shape=[kh, kw],
        ),
        helper.make_node("Greater", ["response", "zero_f"], ["bits"]),
        helper.make_node("Mul", ["response", "response"], ["squared"]),
        helper.make_node("ReduceSum", ["squared", "channel_axis"], ["energy"], keepdims=0),
        helper.make_node("Sqrt", ["energy"], ["magnitude"]),
        helper.make_node("Conv", ["validity", "box"], ["valid_4d"], strides=[row_step, col_step]),
        helper.make_node("Squeeze", ["valid_4d", "channel_axis"], ["valid"]),
    ]
    batch: list[str | int | None] = ["batch", 1, ROWS, COLS]
    graph = helper.make_graph(
        nodes,
        "iris_gabor",
        [
            helper.make_tensor_value_info("iris", TensorProto.FLOAT, batch),
            helper.make_tensor_value_info("validity", TensorProto.FLOAT, batch),
        ],
        [
            helper.make_tensor_value_info("bits", TensorProto.BOOL, ["batch", 2, RINGS, ANGLES]),
            helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["batch", RINGS, ANGLES]),
            helper.make_tensor_value_info("valid", TensorProto.FLOAT, ["batch", RINGS, ANGLES]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


class GaborBank:
    """The filter bank in an ONNX Runtime session; `run` takes a batch."""

    def __init__(self, params: GaborParams | None = None) -> None:
        self.params = params or GaborParams()
        self._session: ort.InferenceSession = make_session(
            gabor_graph(self.params), self.params.threads, self.params.providers
        )

    def run(
        self, irises: np.ndarray, validity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bits, magnitude, valid) for (B, ROWS, COLS) irises and validities."""
        feeds = {
            "iris": np.ascontiguousarray(irises, np.float32)[:, None],
            "validity": np.ascontiguousarray(validity, np.float32)[:, None],
        }
        bits, magnitude, valid = self._session.run(None, feeds)
        return bits, magnitude, valid
