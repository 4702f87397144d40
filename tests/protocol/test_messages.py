"""Every handled message type is catalogued and named by Jupyter's convention."""

from __future__ import annotations

import re

from kernelray.core.core_worker import CoreWorker
from kernelray.gcs.server import GcsServer
from kernelray.protocol import messages
from kernelray.raylet.server import Raylet

SNAKE = re.compile(r"^[a-z]+(_[a-z]+)*$")


def test_handled_types_are_catalogued_and_well_named():
    known = set(messages.REQUESTS) | set(messages.NOTIFICATIONS) | messages.PARTIAL_REPLIES
    for server in (GcsServer, Raylet, CoreWorker):
        for msg_type in server.msg_types:
            assert SNAKE.match(msg_type), f"{server.__name__}: {msg_type} is not snake_case"
            assert hasattr(server, "handle_" + msg_type), f"{server.__name__} lists {msg_type} without a handler"
            if msg_type.endswith("_request"):
                assert msg_type in messages.REQUESTS, f"{msg_type} is not catalogued"
            elif not msg_type.endswith("_reply") and msg_type not in known:
                # notifications of other engineers' tables (actors, task events) are checked by name only
                assert "_" in msg_type
    for name in messages.NOTIFICATIONS:
        assert not name.endswith(("_request", "_reply")) and SNAKE.match(name)
