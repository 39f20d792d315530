"""racecourse's pytest plugin (``pytest_plugin``, registered as ``racecourse`` through the
``pytest11`` entry point) and its per-test time limit (``hang_guard``).

Nothing is imported here: the hang guard's watchdog runs as
``python -m racecourse.plugin.hang_guard`` and should not pay for importing pytest.
"""
