"""Generate stage: prompts, grounded answers, citation checking."""
