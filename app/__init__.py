"""The instrument: engine, MIDI, render and GUI. Never imports torch."""

import hashlib
from pathlib import Path

import numba
import platformdirs

# The audio callbacks are compiled by numba and cached on disk. numba checks only the source
# file of the function it loads, so a cached callback would keep an older copy of what it calls
# in the other modules (and an older table layout: a crash). The cache lives in a folder named
# for the sources of every compiled module together, so a change to any one rebuilds them all.
_COMPILED = ["native", "ring", "midi", "voice_pool", "mixer", "jack_process", "portaudio_process"]
_sources = hashlib.sha256()
for _name in _COMPILED:
    _sources.update((Path(__file__).parent / f"{_name}.py").read_bytes())
numba.config.CACHE_DIR = str(
    Path(platformdirs.user_cache_dir("ganpad")) / "numba" / _sources.hexdigest()[:16]
)
