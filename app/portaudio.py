"""PortAudio held only while a stream of it plays.

sounddevice initializes PortAudio when it is imported, and PortAudio's JACK host API then keeps
a JACK client of its own active for as long as PortAudio stays initialized, stream or not: one
more thread woken every period (about 1 % of a core at 48 kHz / 128 on a 2-core machine). The
engine takes PortAudio when it opens a stream and lets it go when it plays through JACK itself.
"""

from __future__ import annotations

import sys
import weakref

_streams: weakref.WeakSet = weakref.WeakSet()


def portaudio():
    """The sounddevice module, with PortAudio initialized."""
    import sounddevice as sd

    if not sd._initialized:  # terminated by release_portaudio, or by a caller of its own
        sd._initialize()
    return sd


def track(stream) -> None:
    """Remember an open stream: PortAudio is not let go while one is open."""
    _streams.add(stream)


def release_portaudio() -> bool:
    """Terminate PortAudio if it is initialized and no tracked stream is open; whether it was."""
    sd = sys.modules.get("sounddevice")
    if sd is None or not sd._initialized or any(not s.closed for s in _streams):
        return False
    while sd._initialized:
        sd._terminate()
    return True
