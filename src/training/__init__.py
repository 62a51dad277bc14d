"""numgpt.training — (to be built by its milestone issue)."""
