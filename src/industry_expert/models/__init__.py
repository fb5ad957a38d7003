"""Embedders and generators: one module per backend behind a small Protocol."""
