"""numgpt.transformer — (to be built by its milestone issue)."""
