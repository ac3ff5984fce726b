"""ML models for checkpoints (face, iris, thermometry): manifests, ONNX sessions and
pre/post-processing. Filled by the checkpoint issues; nothing is downloaded at run time."""
