"""The gateway's memory budget per process, as ``docs/operations.md`` states it ("Memory
budget"); ``deploy/k8s`` sizes the pods' memory with it and the hostile-corpus test holds a
real gateway to it.

peak RSS <= RSS at ready (models loaded, batch buckets compiled)
          + FACEMESH_DECODE_MEMORY_BYTES (every decoded image at once, process-wide)
          + (FACEMESH_MAX_IN_FLIGHT + FACEMESH_MAX_QUEUE) x FACEMESH_MAX_BODY_BYTES
            (the request bodies admitted or queued requests hold)
          + WORKING_MEMORY_MIB (model calls and their batch buffers, crops, answers)
"""

from __future__ import annotations

from service.core.config import Settings

MIB = 1024 * 1024
WORKING_MEMORY_MIB = 256
# RSS at ready, measured (docs/operations.md): the embedded runtime with every model loaded
# and every batch bucket compiled; a Triton-backed gateway (only the detectors in process).
READY_RSS_MIB = {"embedded": 512, "triton": 200}


def memory_budget_mib(settings: Settings, ready_mib: float | None = None) -> float:
    """The budget for ``settings``; ``ready_mib``: the process's own RSS at ready (else the
    measured figure for its backend)."""
    if ready_mib is None:
        ready_mib = READY_RSS_MIB["triton" if settings.backend == "triton" else "embedded"]
    bodies = (settings.max_in_flight + settings.max_queue) * settings.max_body_bytes
    return ready_mib + (settings.decode_memory_bytes + bodies) / MIB + WORKING_MEMORY_MIB


def settings_from_env(variables: dict[str, str]) -> Settings:
    """``Settings`` from ``FACEMESH_*`` variables (a ConfigMap, a test's server settings)."""
    fields = {name.removeprefix("FACEMESH_").lower(): value for name, value in variables.items()}
    return Settings(**fields)
