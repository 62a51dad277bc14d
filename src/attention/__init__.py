"""numgpt.attention — (to be built by its milestone issue)."""
