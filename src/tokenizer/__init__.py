"""numgpt.tokenizer — (to be built by its milestone issue)."""
