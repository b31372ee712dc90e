"""The micro-batcher: many concurrent asyncio callers on the real model, each getting exactly its
own rows; coalescing, limits, failure isolation, cancellation, threads, shutdown and metrics."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service import metrics
from service.contract import ModelOutputs
from service.core.config import Settings
from service.core.errors import BackendUnavailable
from service.inference.batcher import ModelCaller
from service.inference.embedded import EmbeddedBackend
from service.inference.runtime import RuntimeOptions
from tests.service.imagekit import CROPS


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    paths = sorted(CROPS.glob("*.png"))[:24]
    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])


@pytest.fixture(scope="module")
def backend(model_path: Path) -> EmbeddedBackend:
    return EmbeddedBackend.open(model_path, RuntimeOptions(device="cpu", threads=1))


class Recorder:
    """The real model, recording the batch size of every call it gets."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, images: np.ndarray) -> ModelOutputs:
        with self._lock:
            self.sizes.append(len(images))
        return self.backend.infer(images)


def caller(
    call: Callable[[np.ndarray], ModelOutputs], **kwargs: object
) -> ModelCaller[ModelOutputs]:
    settings = Settings()
    kwargs.setdefault("max_batch", settings.batch_max_size)
    kwargs.setdefault("concurrency", settings.inference_concurrency)
    kwargs.setdefault("max_delay_us", settings.batch_max_delay_us)
    kwargs.setdefault("model", "attention")
    return ModelCaller(call, ModelOutputs.rows, **kwargs)  # type: ignore[arg-type]


def _requests(crops: np.ndarray) -> list[np.ndarray]:
    """1, 2 or 3 crops each (3 and 5 rows run OpenVINO buckets with padding)."""
    out, start, sizes = [], 0, [1, 2, 3, 1, 1, 3, 2, 1, 1, 2, 3, 1, 3]
    for size in sizes:
        out.append(crops[start % len(crops) : start % len(crops) + size])
        start += size
    return [each for each in out if len(each)]


async def _gather(models: ModelCaller[ModelOutputs], requests: list[np.ndarray]) -> list[object]:
    return await asyncio.gather(*(models.infer(r) for r in requests), return_exceptions=True)


def test_concurrent_callers_get_their_own_rows_in_order(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    recorder = Recorder(backend)
    models = caller(recorder, max_batch=8)
    requests = _requests(crops)
    results = asyncio.run(_gather(models, requests))
    models.close()
    assert len(recorder.sizes) < len(requests)  # one worker, busy: the rest were coalesced
    assert max(recorder.sizes) <= 8
    assert sum(recorder.sizes) == sum(len(r) for r in requests)
    for images, result in zip(requests, results, strict=True):
        assert isinstance(result, ModelOutputs)
        assert result.batch_size == len(images)  # padding dropped, only this caller's rows
        alone = backend.infer(images)
        np.testing.assert_allclose(result.landmarks, alone.landmarks, atol=1e-3)
        np.testing.assert_allclose(result.face_score, alone.face_score, atol=1e-5)


def test_a_request_larger_than_max_batch_runs_alone(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    recorder = Recorder(backend)
    models = caller(recorder, max_batch=4)
    big, small = crops[:6], crops[6:7]
    results = asyncio.run(_gather(models, [small, big, small]))
    models.close()
    assert 6 in recorder.sizes and max(recorder.sizes) == 6
    assert [r.batch_size for r in results] == [1, 6, 1]  # type: ignore[attr-defined]


def test_max_delay_lets_an_idle_model_wait_for_company(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    """With a generous delay, requests that arrive one after another while the model is idle
    still share one call."""
    recorder = Recorder(backend)
    models = caller(recorder, max_batch=16, max_delay_us=2_000_000)

    async def staggered() -> list[ModelOutputs]:
        tasks = []
        for index in range(4):
            tasks.append(asyncio.create_task(models.infer(crops[index : index + 1])))
            await asyncio.sleep(0.01)
        return await asyncio.gather(*tasks)

    results = asyncio.run(staggered())
    models.close()
    assert recorder.sizes == [4]
    assert [r.batch_size for r in results] == [1, 1, 1, 1]


def test_max_batch_is_reached_without_waiting_out_the_delay(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    recorder = Recorder(backend)
    models = caller(recorder, max_batch=2, max_delay_us=60_000_000)
    results = asyncio.run(_gather(models, [crops[:1], crops[1:2]]))  # would hang a minute
    models.close()
    assert recorder.sizes == [2] and len(results) == 2


def test_batches_are_trimmed_to_the_models_padding_free_sizes(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    """With OpenVINO's buckets 1, 4, 8, five waiting crops run as 4 then 1 (not 8 with three
    padding rows); every caller still gets its own rows."""
    recorder = Recorder(backend)
    entered, release = threading.Event(), threading.Event()

    def gated(images: np.ndarray) -> ModelOutputs:
        if not entered.is_set():  # the first call holds the worker until the rest wait
            entered.set()
            release.wait(30)
        return recorder(images)

    models = caller(gated, max_batch=8, batch_sizes=(1, 4, 8))

    async def run() -> list[ModelOutputs]:
        first = asyncio.create_task(models.infer(crops[:1]))  # occupies the worker
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
        rest = [asyncio.create_task(models.infer(crops[i : i + 1])) for i in range(1, 6)]
        await asyncio.sleep(0)  # every one of them queued
        release.set()
        return await asyncio.gather(first, *rest)

    results = asyncio.run(run())
    models.close()
    assert recorder.sizes == [1, 4, 1]
    for index, result in enumerate(results):
        np.testing.assert_allclose(
            result.landmarks, backend.infer(crops[index : index + 1]).landmarks, atol=1e-3
        )


def test_one_callers_failure_never_fails_another(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    """A batch with a poisoned request fails; each request is re-run alone, so only that one
    gets the error."""
    poison = np.full((1, 192, 192, 3), 255, np.uint8)

    def model(images: np.ndarray) -> ModelOutputs:
        if (images == 255).all(axis=(1, 2, 3)).any():
            raise RuntimeError("this input breaks the model")
        return backend.infer(images)

    models = caller(model, max_batch=16)
    requests = [crops[:1], crops[1:3], poison, crops[3:4], crops[4:5]]
    results = asyncio.run(_gather(models, requests))
    models.close()
    assert isinstance(results[2], RuntimeError)
    for index in (0, 1, 3, 4):
        result = results[index]
        assert isinstance(result, ModelOutputs), result
        np.testing.assert_allclose(
            result.landmarks, backend.infer(requests[index]).landmarks, atol=1e-3
        )


def test_backend_unavailable_fails_the_whole_batch_once(crops: np.ndarray) -> None:
    """The server being down is every caller's answer: no per-request retry storm."""
    calls: list[int] = []
    queued = threading.Event()

    def down(images: np.ndarray) -> ModelOutputs:
        calls.append(len(images))
        if len(calls) == 1:  # hold the worker until the other four wait behind this call
            queued.wait(30)
        raise BackendUnavailable("Triton unreachable")

    models = caller(down, max_batch=16, concurrency=1)

    async def run() -> list[object]:
        # Occupy the worker with the first request so the other four form one batch.
        first = asyncio.create_task(models.infer(crops[:1]))
        await asyncio.sleep(0)
        rest = [asyncio.create_task(models.infer(crops[i : i + 1])) for i in range(1, 5)]
        await asyncio.sleep(0)  # each task has submitted its request
        queued.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(run())
    models.close()
    assert all(isinstance(r, BackendUnavailable) for r in results)
    assert sum(calls) == 5 and len(calls) <= 2


def test_a_cancelled_caller_does_not_disturb_the_others(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    recorder = Recorder(backend)
    models = caller(recorder, model="cascade", max_batch=16)

    async def run() -> list[object]:
        busy = asyncio.create_task(models.infer(crops[:1]))
        await asyncio.sleep(0)
        gone = asyncio.create_task(models.infer(crops[1:2]))
        kept = asyncio.create_task(models.infer(crops[2:3]))
        await asyncio.sleep(0)
        gone.cancel()
        return await asyncio.gather(busy, kept)

    busy, kept = asyncio.run(run())
    assert isinstance(busy, ModelOutputs)
    models.close()
    assert isinstance(kept, ModelOutputs)
    np.testing.assert_allclose(kept.landmarks, backend.infer(crops[2:3]).landmarks, atol=1e-3)


def test_worker_threads_join_the_batches_without_a_loop(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    """``infer_blocking`` from plain threads (the frame pipeline's work) is micro-batched: no
    event loop, no binding; four one-crop calls fill one batch of four."""
    recorder = Recorder(backend)
    models = caller(recorder, max_batch=4, max_delay_us=60_000_000)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(models.infer_blocking, crops[i : i + 1]) for i in range(4)]
        results = [future.result(timeout=60) for future in futures]
    models.close()
    assert recorder.sizes == [4]
    for index, result in enumerate(results):
        np.testing.assert_allclose(
            result.landmarks, backend.infer(crops[index : index + 1]).landmarks, atol=1e-3
        )


def test_threads_and_the_loop_share_batches(backend: EmbeddedBackend, crops: np.ndarray) -> None:
    """A thread's ``infer_blocking`` and the loop's ``await infer`` join the same batch."""
    recorder = Recorder(backend)
    models = caller(recorder, max_batch=2, max_delay_us=60_000_000)

    async def run() -> list[ModelOutputs]:
        loop = asyncio.get_running_loop()
        threaded = loop.run_in_executor(None, models.infer_blocking, crops[:1])
        return list(await asyncio.gather(threaded, models.infer(crops[1:2])))

    results = asyncio.run(run())
    models.close()
    assert recorder.sizes == [2]
    assert [r.batch_size for r in results] == [1, 1]


def test_infer_blocking_refuses_the_event_loop_thread(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    models = caller(Recorder(backend))

    async def run() -> None:
        models.infer_blocking(crops[:1])

    with pytest.raises(RuntimeError, match="event loop"):
        asyncio.run(run())
    models.close()


def test_close_fails_new_calls(backend: EmbeddedBackend, crops: np.ndarray) -> None:
    models = caller(Recorder(backend))
    models.close()
    with pytest.raises(BackendUnavailable, match="shut down"):
        asyncio.run(models.infer(crops[:1]))


def _sample(name: str, model: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, {"model": model})
    return float(value or 0.0)


def test_metrics_count_model_calls_and_queue_delays(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    # Pre-created: every model's series exists before any call.
    for model in metrics.MODELS:
        assert (
            metrics.REGISTRY.get_sample_value(
                "facemesh_model_batch_size_images_count", {"model": model}
            )
            is not None
        )
    before = {
        key: _sample(f"facemesh_model_{key}", "cascade")
        for key in ("batch_size_images_count", "batch_size_images_sum", "queue_delay_seconds_count")
    }
    recorder = Recorder(backend)
    models = caller(recorder, model="cascade", max_batch=16)
    requests = _requests(crops)
    asyncio.run(_gather(models, requests))
    models.close()
    after = {key: _sample(f"facemesh_model_{key}", "cascade") for key in before}
    assert after["batch_size_images_count"] - before["batch_size_images_count"] == len(
        recorder.sizes
    )
    assert after["batch_size_images_sum"] - before["batch_size_images_sum"] == sum(
        len(r) for r in requests
    )
    assert after["queue_delay_seconds_count"] - before["queue_delay_seconds_count"] == len(requests)


def test_invalid_limits_are_refused(backend: EmbeddedBackend) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        caller(backend.infer, max_batch=0)


def test_callers_of_a_batch_cut_short_by_shutdown_get_an_answer(crops: np.ndarray) -> None:
    """Stopping the workers while a model call runs answers its callers (503), never leaves
    them waiting."""
    entered, release = threading.Event(), threading.Event()

    def slow(images: np.ndarray) -> ModelOutputs:
        entered.set()
        release.wait(30)
        raise BackendUnavailable("never answered")

    models = caller(slow)

    async def run() -> BaseException | None:
        pending = asyncio.create_task(models.infer(crops[:1]))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
        closing = asyncio.create_task(models.aclose())  # cancels the worker mid-call
        try:
            await asyncio.wait_for(pending, 10)  # bounded: a hang fails the test
        except BackendUnavailable as exc:
            return exc
        finally:
            release.set()  # let the model call return so the executor can shut down
            await closing
        return None

    result = asyncio.run(run())
    assert isinstance(result, BackendUnavailable) and "shut down" in str(result)


def test_a_failure_cutting_rows_answers_every_caller(
    crops: np.ndarray, backend: EmbeddedBackend
) -> None:
    def broken_rows(outputs: ModelOutputs, start: int, stop: int) -> ModelOutputs:
        raise IndexError("rows out of range")

    models = ModelCaller(
        backend.infer, broken_rows, model="attention", max_batch=8, concurrency=1, max_delay_us=0
    )
    results = asyncio.run(_gather(models, [crops[:1], crops[1:2]]))
    models.close()
    assert all(isinstance(result, IndexError) for result in results)


def test_the_batching_limits_come_from_the_caller() -> None:
    """``ModelCaller`` holds no default of its own: Settings (batch_max_size,
    inference_concurrency, batch_max_delay_us) hold them, passed in by ``service.lifespan``."""
    with pytest.raises(TypeError, match="max_batch"):
        ModelCaller(lambda images: images, lambda out, a, b: out, model="attention")  # type: ignore[call-arg]
    parameters = inspect.signature(ModelCaller).parameters
    for name in ("max_batch", "concurrency", "max_delay_us"):
        assert parameters[name].default is inspect.Parameter.empty, name


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_overlapping_model_calls_keep_every_worker(
    backend: EmbeddedBackend, crops: np.ndarray
) -> None:
    """With two calls at once, the batch that ends first leaves the running list while the other
    is still in it. Both workers must live on (a batch once was looked up by comparing its
    requests' arrays, which raised and killed the worker: the gateway hung once every worker
    had died), so a second pair overlaps again."""
    lock = threading.Lock()
    count = [0]
    started = [threading.Event() for _ in range(4)]
    overlapped: list[bool] = []

    def call(images: np.ndarray) -> ModelOutputs:
        with lock:
            index = count[0]
            count[0] += 1
        started[index].set()
        if index % 2 == 0:  # the pair's first call waits for its partner, which ends first
            overlapped.append(started[index + 1].wait(10))
            time.sleep(0.2)
        return backend.infer(images)

    models = caller(call, max_batch=1, concurrency=2, max_delay_us=0)
    for pair in range(2):
        with ThreadPoolExecutor(2) as pool:
            # The waiting call's batch joins the running list first, its partner's second.
            first = pool.submit(models.infer_blocking, crops[0:1])
            assert started[2 * pair].wait(10)
            second = pool.submit(models.infer_blocking, crops[1:2])
            for future in (first, second):
                future.result(timeout=60)
    models.close()
    assert overlapped == [True, True]
