"""A synchronous facade over the asyncio client, for scripts and notebooks.

    from dicomkit.net.sync import connect
    with connect("pacs", 104, called_aet="PACS") as assoc:
        assoc.echo()
        for status, identifier in assoc.find(query, "study"):
            ...

The association runs on an event loop in a background thread, so timeouts, A-ABORTs and
releases from the peer are handled between calls too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from dicomkit.core.dataset import Dataset
from dicomkit.net.client import Client
from dicomkit.net.client import connect as async_connect

T = TypeVar("T")


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dicomkit-net",
                                       daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class SyncClient:
    """The methods of :class:`dicomkit.net.client.Client`, blocking; iterators become lists."""

    def __init__(self, runner: _LoopThread, client: Client) -> None:
        self._runner = runner
        self.client = client

    @property
    def association(self) -> Any:
        return self.client.association

    def echo(self) -> int:
        return self._runner.run(self.client.echo())

    def store(self, source: Any, **kwargs: Any) -> Dataset:
        return self._runner.run(self.client.store(source, **kwargs))

    def _collect(self, iterator: Any) -> list[Any]:
        async def drain() -> list[Any]:
            return [item async for item in iterator]

        return self._runner.run(drain())

    def find(self, query: Dataset, model: str = "study", **kwargs: Any) -> list[Any]:
        return self._collect(self.client.find(query, model, **kwargs))

    def move(self, query: Dataset, destination: str, model: str = "study",
             **kwargs: Any) -> list[Dataset]:
        return self._collect(self.client.move(query, destination, model, **kwargs))

    def get(self, query: Dataset, model: str = "study", on_store: Any = None,
            **kwargs: Any) -> list[Dataset]:
        handler = on_store
        if on_store is not None and not asyncio.iscoroutinefunction(on_store):
            async def handler(ds: Dataset, message: Any) -> int:
                return int(on_store(ds, message))
        return self._collect(self.client.get(query, model, on_store=handler, **kwargs))

    def n_get(self, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(self.client.n_get(*args, **kwargs))

    def n_set(self, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(self.client.n_set(*args, **kwargs))

    def n_action(self, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(self.client.n_action(*args, **kwargs))

    def n_create(self, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(self.client.n_create(*args, **kwargs))

    def n_delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(self.client.n_delete(*args, **kwargs))

    def n_event_report(self, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(self.client.n_event_report(*args, **kwargs))

    def release(self) -> None:
        try:
            self._runner.run(self.client.release())
        finally:
            self._runner.stop()

    def abort(self) -> None:
        try:
            self._runner.run(self.client.abort())
        finally:
            self._runner.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.release()
        else:
            self.abort()


def connect(host: str, port: int, **kwargs: Any) -> SyncClient:
    """Open an association; the same keyword arguments as the asyncio ``connect``."""
    runner = _LoopThread()
    try:
        client = runner.run(_open(host, port, kwargs))
    except BaseException:
        runner.stop()
        raise
    return SyncClient(runner, client)


async def _open(host: str, port: int, kwargs: dict[str, Any]) -> Client:
    return await async_connect(host, port, **kwargs)
