"""Shared test set-up: the xqueue contract fixtures, no plugin autoloading unless asked."""

pytest_plugins = ["xqueue_core.testing.pytest_plugin"]
