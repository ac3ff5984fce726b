"""Checkpoint models (faces, thermometry, QR codes in photos; iris not yet): manifests,
ONNX sessions and pre/post-processing, and the plain results they answer with
(`results.py`). Nothing is downloaded at run time."""
