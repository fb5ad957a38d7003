"""Evaluation stage: question sets and metrics (retrieval now; answers and the four systems later)."""
