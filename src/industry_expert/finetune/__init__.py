"""Fine-tuning stage: training data (formats, checks, synthesis, RAFT), LoRA/QLoRA/full recipe, merge."""
