"""What every picture view shares: an anywidget fed by the shared poller, with a static fallback.

A view subclasses ``PictureView``: ``update(tick)`` returns True when its data changed, and
``static_html()`` renders the same data as SVG/HTML.  The poller calls ``poll`` on each tick;
the view refreshes at most every ``refresh_s``.  ``_repr_mimebundle_`` adds ``text/html``
(the static picture) and ``text/plain`` beside the widget view, for nbconvert, GitHub and nbviewer.
"""

from __future__ import annotations

import time
from pathlib import Path

import anywidget
import traitlets

from ._poller import Tick, poller

JS = Path(__file__).with_name("js")


class PictureView(anywidget.AnyWidget):
    data = traitlets.Dict().tag(sync=True)
    refresh_s = 1.0

    def __init__(self, refresh_s: float | None = None, live: bool = True, **kwargs):
        super().__init__(**kwargs)
        if refresh_s is not None:
            self.refresh_s = refresh_s
        self._last_refresh = 0.0
        self.pushes = 0
        self.refresh()
        if live:
            poller.register(self)

    # -- fed by the poller -------------------------------------------------------------------------
    def poll(self, tick, force: bool = False) -> None:
        now = time.monotonic()
        if not tick.connected or (not force and now - self._last_refresh < self.refresh_s):
            return
        self._last_refresh = now
        if self.update(tick) or force:
            self.data = self.payload()
            self.pushes += 1

    def refresh(self) -> None:
        """Fetch and push now, from this thread (e.g. a notebook's last cell, so the saved state is final)."""
        from ..core import context

        self.poll(Tick(poller, context.core), force=True)

    def update(self, tick) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def payload(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def static_html(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def text_summary(self) -> str:
        return type(self).__name__

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = self.text_summary()
        return bundle

    def close(self) -> None:
        try:
            poller.unregister(self)
        except Exception:  # noqa: BLE001 - at interpreter exit the module may be gone
            pass
        super().close()


class SvgView(PictureView):
    """A view whose picture is drawn in Python (the same SVG live and static); the browser adds the
    click-to-explain behaviour of elements with ``data-how`` (e.g. how to release an object)."""

    _esm = JS / "svgview.js"

    def payload(self) -> dict:
        return {"svg": self.static_html(), "version": self.pushes}


__all__ = ["PictureView", "SvgView"]
