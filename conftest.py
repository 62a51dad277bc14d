"""Root conftest: loads the spec's plugin (the ``impl`` fixture, ``--impl``, ``--grade-json``,
``--bench``, and the per-milestone summary). See spec/plugin.py and docs/spec.md."""
pytest_plugins = ["spec.plugin"]
