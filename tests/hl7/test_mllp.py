"""MLLP framing and the listener (HL7 v2.5.1 Implementation Guide C.4): blocks cut from any
chunking, oversized blocks refused without holding them, truncated blocks and idle
connections closed, and the listener serving on after each."""

from __future__ import annotations

import asyncio

import pytest

from dicomkit.hl7.mllp import END_BLOCK, HEAD, START_BLOCK, Frame, Frames, MLLPServer, exchange

STREAM = (b"noise\r\n" + START_BLOCK + b"MSH|one" + END_BLOCK + b"\r\n" + START_BLOCK
          + b"MSH|two" + END_BLOCK + START_BLOCK + b"x" * 40 + END_BLOCK)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, len(STREAM)])
def test_blocks_are_cut_the_same_whatever_the_chunking(chunk: int) -> None:
    frames = Frames(limit=16)
    found: list[Frame] = []
    for start in range(0, len(STREAM), chunk):
        found += frames.feed(STREAM[start:start + chunk])
    assert [(f.data[:7], f.size, f.oversized) for f in found] == [
        (b"MSH|one", 7, False), (b"MSH|two", 7, False), (b"x" * 7, 40, True)]
    assert not frames.partial


def test_an_oversized_block_keeps_only_its_head() -> None:
    frames = Frames(limit=100)
    body = b"MSH|" + b"y" * 10 * HEAD
    found = frames.feed(START_BLOCK + body[:5000]) + frames.feed(body[5000:] + END_BLOCK)
    assert len(found) == 1 and found[0].oversized and found[0].size == len(body)
    assert found[0].data == body[:HEAD]
    assert len(frames.buffer) == 0


def test_a_block_of_exactly_the_limit_is_accepted() -> None:
    frames = Frames(limit=10)
    assert frames.feed(START_BLOCK + b"0123456789" + b"\x1c") == []
    assert frames.feed(b"\r") == [Frame(b"0123456789", 10)]


def test_a_start_block_inside_a_block_starts_it_again() -> None:
    frames = Frames(limit=100)
    assert frames.feed(START_BLOCK + b"lost" + START_BLOCK + b"kept" + END_BLOCK) == [
        Frame(b"kept", 4)]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Frames(limit=0)


async def _server(**kwargs: float | int) -> MLLPServer:
    async def echo(data: bytes) -> bytes:
        return b"ACK:" + data[:20]

    def refuse(head: bytes, size: int) -> bytes:
        return b"AR:" + str(size).encode()

    server = MLLPServer(echo, refuse, **kwargs)  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0)
    return server


def test_listener_answers_each_block_in_order_and_survives_bad_input() -> None:
    async def scenario() -> None:
        server = await _server(max_message=64)
        try:
            # truncated: the connection closes inside a block
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(START_BLOCK + b"MSH|cut")
            await writer.drain()
            writer.close()
            # oversized, then a good one on the same connection
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(START_BLOCK + b"z" * 500 + END_BLOCK + START_BLOCK + b"MSH|ok"
                         + END_BLOCK)
            await writer.drain()
            answers = b""
            while answers.count(END_BLOCK) < 2:
                answers += await asyncio.wait_for(reader.read(1024), 10)
            assert answers == (START_BLOCK + b"AR:500" + END_BLOCK + START_BLOCK
                               + b"ACK:MSH|ok" + END_BLOCK)
            writer.close()
            # and a fresh connection still works
            assert await exchange("127.0.0.1", server.port, b"MSH|again") == b"ACK:MSH|again"
        finally:
            await server.close()

    asyncio.run(scenario())


def test_an_idle_connection_is_closed() -> None:
    async def scenario() -> None:
        server = await _server(idle_timeout=0.2)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(START_BLOCK + b"MSH|never ends")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
            writer.close()
            assert await exchange("127.0.0.1", server.port, b"MSH|x") == b"ACK:MSH|x"
        finally:
            await server.close()

    asyncio.run(scenario())


def test_many_connections_are_served_at_once() -> None:
    async def scenario() -> None:
        server = await _server()
        try:
            answers = await asyncio.gather(*(
                exchange("127.0.0.1", server.port, f"MSH|{n}".encode()) for n in range(50)))
            assert answers == [f"ACK:MSH|{n}".encode() for n in range(50)]
        finally:
            await server.close()

    asyncio.run(scenario())


def test_a_handler_that_raises_closes_only_its_connection() -> None:
    async def scenario() -> None:
        async def boom(data: bytes) -> bytes:
            if data == b"boom":
                raise RuntimeError("bug")
            return b"fine"

        server = MLLPServer(boom, lambda head, size: b"AR")
        await server.start("127.0.0.1", 0)
        try:
            with pytest.raises(ConnectionError):
                await exchange("127.0.0.1", server.port, b"boom")
            assert await exchange("127.0.0.1", server.port, b"ok") == b"fine"
        finally:
            await server.close()

    asyncio.run(scenario())
