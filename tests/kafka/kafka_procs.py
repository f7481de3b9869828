"""Worker processes for the Kafka fault tests, and what their run logs say."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from xqueue_core.testing.workers import WorkerProcesses

WORKER_SCRIPT = Path(__file__).with_name("kafka_worker.py")


class Run:
    """One line of a run log: ``start|done task_id pid type``."""

    def __init__(self, words: list[str]) -> None:
        self.event, self.task_id, pid, self.type = words
        self.pid = int(pid)


class Workers(WorkerProcesses):
    """Worker processes running ``kafka_worker.py``; each logs its runs under ``directory``."""

    ready_what = "a worker process to join the consumer group"

    def __init__(self, directory: Path, broker: str, store: str, **env: str) -> None:
        super().__init__(
            directory,
            WORKER_SCRIPT,
            {
                "XQ_BROKER": broker,
                "XQ_STORE": store,
                "XQ_DIR": str(directory),
                "XQUEUE_LOAD_PLUGINS": "kafka",
                **env,
            },
        )

    def runs(self) -> list[Run]:
        """Every logged start and finish, per process in order."""
        return [Run(words) for words in self.run_lines() if len(words) == 4]

    def count(self, event: str = "start") -> Counter[str]:
        """How many times each task id was started (or finished) across every process."""
        return Counter(r.task_id for r in self.runs() if r.event == event)
