"""Test support for xqueue and its plugins (opt-in).

Enable the fixtures in a ``conftest.py`` with
``pytest_plugins = ["xqueue_core.testing.pytest_plugin"]``, then subclass the
contract classes (:class:`StoreContract`, :class:`BrokerContract`,
:class:`NotifierContract`) with a ``backend_url`` fixture for your backend.
"""
