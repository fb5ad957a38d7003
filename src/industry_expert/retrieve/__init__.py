"""Retrieval stage: BM25, dense and summary rankings fused with reciprocal rank fusion."""
