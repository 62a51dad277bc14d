"""numgpt.sampling — (to be built by its milestone issue)."""
