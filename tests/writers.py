"""A process that writes many records: its own light module, so that each spawned writer imports
the store alone (not torch and the test modules)."""

from pathlib import Path

from bench.record import CellRecord
from bench.store import ResultStore


def write_many(root: str, worker: int, count: int = 25) -> None:
    store = ResultStore(Path(root))
    for index in range(count):
        store.write_record(CellRecord(f"cell-{worker}-{index}", "s", "noisy", {"payload": "x" * 5000}, False, "toy",
                                      "by-source", None, None, None))
