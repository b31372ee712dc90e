"""Step load for the latency-vs-throughput curve: hold each user count for a while.

Add it to a run with ``-f loadtests/locustfiles/crop.py,loadtests/locustfiles/shape.py``.
``LOADTEST_STAGES`` (comma-separated user counts, e.g. ``1,2,4,8``) and
``LOADTEST_STAGE_SECONDS`` set the steps; the run ends after the last one. The runner
(``loadtests/run.py``) sets both.
"""

from __future__ import annotations

import os

from locust import LoadTestShape


def stages_from_env() -> tuple[list[int], float]:
    stages = [int(s) for s in os.environ.get("LOADTEST_STAGES", "1,2,4,8").split(",") if s]
    seconds = float(os.environ.get("LOADTEST_STAGE_SECONDS", "10"))
    if not stages or min(stages) < 1 or seconds <= 0:
        raise ValueError("LOADTEST_STAGES needs positive user counts, and a positive duration")
    return stages, seconds


class StepLoad(LoadTestShape):
    """Users step through ``LOADTEST_STAGES``, ``LOADTEST_STAGE_SECONDS`` each."""

    def __init__(self) -> None:
        super().__init__()
        self.stages, self.stage_seconds = stages_from_env()

    def tick(self) -> tuple[int, float] | None:
        stage = int(self.get_run_time() // self.stage_seconds)
        if stage >= len(self.stages):
            return None
        users = self.stages[stage]
        return users, float(users)  # spawn the whole step within about a second
