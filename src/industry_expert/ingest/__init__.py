"""Ingest stage: one loader per format, structure-aware chunking, summaries, the incremental pipeline."""
