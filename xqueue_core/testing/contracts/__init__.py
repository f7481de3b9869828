"""Contract suites: the semantics of DESIGN §3–§5 as assertions, one class per role.

Subclass a contract in your test module and provide its URL fixture; every
test then runs against your backend, built through the factory its plugin
registered (so discovery is tested too)::

    from xqueue_core.testing.contracts import StoreContract

    class TestRedisStore(StoreContract):
        @pytest.fixture
        def store_url(self, redis_server):
            return f"redis://127.0.0.1:{redis_server.port}/0?prefix=t{uuid4().hex}"

Each URL fixture must give a fresh, empty backend per test.
"""

from .broker import BrokerContract
from .common import LEASE, contract_settings, make_task, open_backend
from .dependencies import DependencyContract
from .notifier import NotifierContract
from .publish_faults import PublishFaultContract
from .schedules import ScheduleStoreContract
from .store import StoreContract

__all__ = [
    "LEASE",
    "BrokerContract",
    "DependencyContract",
    "NotifierContract",
    "PublishFaultContract",
    "ScheduleStoreContract",
    "StoreContract",
    "contract_settings",
    "make_task",
    "open_backend",
]
