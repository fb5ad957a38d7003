"""Advise stage: profile the data, answer the guide's four questions, recommend RAG / fine-tuning / both."""
