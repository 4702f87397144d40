"""Wire protocol: signed Jupyter-format messages over ZeroMQ, and the I/O loop."""

from .session import DELIM, Message, SignedSession

__all__ = ["DELIM", "Message", "SignedSession"]
