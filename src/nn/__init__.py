"""numgpt.nn — (to be built by its milestone issue)."""
