"""The signed framing: Jupyter-compatible, and nothing unsigned is ever unpacked."""

from __future__ import annotations

import zmq

from kernelray._jupyter import Session
from kernelray.protocol.session import SignedSession, recv_frames


def pair():
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b.connect(f"tcp://127.0.0.1:{port}")
    return a, b


def test_roundtrip_with_buffers():
    s = SignedSession(b"k" * 32)
    a, b = pair()
    s.send(a, "push_task_request", {"x": 1}, buffers=[b"payload" * 1000])
    msg = s.unpack(recv_frames(b, 0))
    assert msg.msg_type == "push_task_request" and msg.content == {"x": 1}
    assert bytes(msg.buffers[0]) == b"payload" * 1000


def test_interoperates_with_jupyter_session():
    key = b"k" * 32
    ours, stock = SignedSession(key), Session(key=key, signature_scheme="hmac-sha256")
    a, b = pair()
    stock.send(a, "kernel_info_request", {"a": 1})
    assert ours.unpack(recv_frames(b, 0)).content == {"a": 1}
    ours.send(a, "kernel_info_reply", {"status": "ok"})
    _, frames = stock.feed_identities(b.recv_multipart())
    assert stock.deserialize(frames)["content"] == {"status": "ok"}


def test_wrong_key_missing_signature_replay_and_tampering_are_dropped():
    ours = SignedSession(b"k" * 32)
    a, b = pair()
    SignedSession(b"x" * 32).send(a, "kv_get_request", {"key": "a"})
    assert ours.unpack(recv_frames(b, 0)) is None
    frames = ours.pack("kv_get_request", {"key": "a"})
    unsigned = list(frames)
    unsigned[1] = b""
    assert ours.unpack(unsigned) is None
    tampered = list(frames)
    tampered[5] = b'{"key":"b"}'
    assert ours.unpack(tampered) is None
    assert ours.unpack(list(frames)) is not None
    assert ours.unpack(list(frames)) is None  # the same signature twice is a replay
    padded = ours.pack("x", {}, buffers=[b"12"]) + [b"extra"]
    assert ours.unpack(padded) is None
    assert ours.dropped == 5


def test_stock_session_on_demand_has_our_key_and_identity():
    """Cluster processes never import jupyter_client.session; asking for it builds one that interoperates."""
    ours = SignedSession(b"k" * 32)
    stock = ours.session
    assert stock.session == ours.session_id and stock.key == ours.key
    msg = ours.unpack(stock.serialize(stock.msg("ping_request", {"a": 1})))
    assert msg.msg_type == "ping_request" and msg.content == {"a": 1}
    _, frames = stock.feed_identities(ours.pack("ping_reply", {"status": "ok"}))
    assert stock.deserialize(frames)["content"] == {"status": "ok"}
