"""Iris recognition: segmentation, normalisation, Gabor phase code, matching."""
