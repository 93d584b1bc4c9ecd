"""Sample-accurate voice mixer: events in, audio blocks out, the same at any block size.

Everything here runs in the audio callback: the arrays are allocated once, events arrive on a
deque (append/popleft are atomic), and a block is mixed with in-place numpy operations.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ganpad.app.voice_pool import VoicePool

NOTE_ON = 1
NOTE_OFF = 2
ALL_OFF = 3
INVALIDATE = 4  # a slot's latents changed: its pool is re-rendered (pool flags stay audio-owned)
NOW = -1  # event frame: at the start of the next block


@dataclass(frozen=True)
class MixerConfig:
    polyphony: int = 32
    max_block: int = 4096
    choke_ms: float = 4.0  # fade when a voice is choked (a stolen voice is cut)
    release_ms: float = 60.0  # fade after note-off (pitched presets)
    velocity_exponent: float = 1.6  # gain = (velocity / 127) ** exponent
    master_gain: float = 0.8
    clip: bool = True  # a live output clips at full scale; an offline render limits instead


class Mixer:
    def __init__(
        self,
        pool: VoicePool,
        rate: int,
        choke_group: np.ndarray,
        config: MixerConfig = MixerConfig(),
        note_off: bool = False,
    ):
        self.pool = pool
        self.cfg = config
        self.choke_group = choke_group  # per slot; 0 = none
        self.honour_note_off = note_off
        p = config.polyphony
        self.active = np.zeros(p, bool)
        self.sounding = 0  # active voices: a plain count, a 20th of what active.any() costs
        self.slot = np.zeros(p, np.int64)
        self.buf = np.zeros(p, np.int64)
        self.pos = np.zeros(p, np.int64)
        self.gain = np.zeros(p, np.float32)
        self.age = np.zeros(p, np.int64)  # start frame, for stealing the oldest
        self.fade_len = np.zeros(p, np.int64)  # 0 = not fading
        self.fade_pos = np.zeros(p, np.int64)
        self.choke_frames = max(1, int(config.choke_ms * rate / 1000))
        self.release_frames = max(1, int(config.release_ms * rate / 1000))
        self.events: deque[tuple[int, int, int, int]] = deque()  # (frame, kind, slot, velocity)
        self.pending: deque[tuple[int, int, int, int]] = deque()  # future-frame events
        self._mono = np.zeros(config.max_block, np.float32)
        self._work = np.zeros(config.max_block, np.float32)
        self._ramp_work = np.zeros(config.max_block, np.float32)
        self._ramp = np.arange(config.max_block, dtype=np.float32)
        self.frame = 0  # frames mixed so far
        # (slot, frame, seed) of each note that sounded: meters, and what a MIDI render played.
        self.started: deque[tuple[int, int, int]] = deque(maxlen=4096)
        self.last_variation = np.full(pool.slots, -1, np.int64)  # what each slot played last
        self.last_seed = np.full(pool.slots, -1, np.int64)  # and that variation's seed
        self.missed = 0  # note-ons with no rendered variation ready

    # ---- called from any thread ------------------------------------------------------------

    def post(self, kind: int, slot: int, velocity: int = 0, frame: int = NOW) -> None:
        self.events.append((frame, kind, slot, velocity))

    # ---- audio thread ------------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing sounds and no event waits: the next block is silence."""
        return not self.sounding and not self.events and not self.pending

    def skip(self, frames: int) -> None:
        """Count a silent block the caller wrote itself (only when idle())."""
        self.frame += frames

    def process(self, out: np.ndarray) -> None:
        """Mix the next len(out) frames into `out` ([frames] or [frames, channels])."""
        frames = out.shape[0]
        if frames > self.cfg.max_block:
            raise ValueError(f"block of {frames} frames exceeds max_block {self.cfg.max_block}")
        end = self.frame + frames
        if self.idle():
            out.fill(0.0)  # at rest: the cheapest silent block
            self.frame = end
            return
        mono = self._mono[:frames] if out.ndim == 2 else out
        mono.fill(0.0)
        self._collect(end)
        # Split the block at event frames so every event lands on its exact sample.
        cursor = self.frame
        while self.pending and self.pending[0][0] < end:
            frame, kind, slot, velocity = self.pending.popleft()
            at = max(frame, cursor)
            if at > cursor:
                self._mix(mono, cursor - self.frame, at - cursor)
                cursor = at
            self._apply(kind, slot, velocity, at)
        if cursor < end:
            self._mix(mono, cursor - self.frame, end - cursor)
        mono *= self.cfg.master_gain
        if self.cfg.clip:
            np.clip(mono, -1.0, 1.0, out=mono)
        if out.ndim == 2:
            out[:] = mono[:, None]
        self.frame = end

    def _collect(self, end: int) -> None:
        """Move new events into the frame-ordered pending queue (NOW means this block)."""
        while self.events:
            frame, kind, slot, velocity = self.events.popleft()
            if frame == NOW or frame < self.frame:
                frame = self.frame
            if not self.pending or self.pending[-1][0] <= frame:
                self.pending.append((frame, kind, slot, velocity))
            else:  # rare: an event scheduled before one already queued
                self.pending.append((frame, kind, slot, velocity))
                ordered = sorted(self.pending)
                self.pending.clear()
                self.pending.extend(ordered)

    def _apply(self, kind: int, slot: int, velocity: int, frame: int) -> None:
        if kind == NOTE_ON:
            self._note_on(slot, velocity, frame)
        elif kind == NOTE_OFF and self.honour_note_off:
            for i in range(len(self.active)):
                if self.active[i] and self.slot[i] == slot and self.fade_len[i] == 0:
                    self._fade(i, self.release_frames)
        elif kind == ALL_OFF:
            for i in range(len(self.active)):
                if self.active[i]:
                    self._fade(i, self.choke_frames)
        elif kind == INVALIDATE:
            self.pool.invalidate(slot)

    def _note_on(self, slot: int, velocity: int, frame: int) -> None:
        group = self.choke_group[slot]
        if group:
            for i in range(len(self.active)):
                if self.active[i] and self.choke_group[self.slot[i]] == group:
                    self._fade(i, self.choke_frames)
        v = self.pool.take(slot)
        if v < 0:
            self.missed += 1
            return
        i = self._free_voice()
        self.active[i] = True
        self.sounding += 1
        self.slot[i] = slot
        self.buf[i] = v
        self.pos[i] = 0
        self.gain[i] = (velocity / 127.0) ** self.cfg.velocity_exponent
        self.age[i] = frame
        self.fade_len[i] = 0
        self.fade_pos[i] = 0
        self.last_variation[slot] = v
        self.last_seed[slot] = self.pool.seed[slot, v]
        self.started.append((slot, frame, int(self.last_seed[slot])))

    def _free_voice(self) -> int:
        """An idle voice, or the oldest one stolen (cut: a fade would need a voice of its own)."""
        oldest = 0
        for i in range(len(self.active)):
            if not self.active[i]:
                return i
            if self.age[i] < self.age[oldest]:
                oldest = i
        self._stop(oldest)
        return oldest

    def _fade(self, i: int, frames: int) -> None:
        """Fade voice i out over `frames`, from wherever an earlier fade has got to."""
        if self.fade_len[i] == 0:
            self.fade_len[i], self.fade_pos[i] = frames, 0
        elif self.fade_len[i] - self.fade_pos[i] > frames:
            self.gain[i] *= 1.0 - self.fade_pos[i] / self.fade_len[i]
            self.fade_len[i], self.fade_pos[i] = frames, 0

    def _stop(self, i: int) -> None:
        self.active[i] = False
        self.sounding -= 1
        self.pool.release(int(self.slot[i]), int(self.buf[i]))

    def _mix(self, mono: np.ndarray, offset: int, n: int) -> None:
        """Add `n` frames of every active voice into mono[offset:offset + n]."""
        for i in range(len(self.active)):  # a plain loop: flatnonzero would allocate
            if not self.active[i]:
                continue
            slot, v, pos = int(self.slot[i]), int(self.buf[i]), int(self.pos[i])
            length = int(self.pool.length[slot, v])
            count = min(n, length - pos)
            fading = self.fade_len[i] > 0
            if fading:
                count = min(count, int(self.fade_len[i] - self.fade_pos[i]))
            if count > 0:
                seg = self._work[:count]
                np.multiply(self.pool.audio[slot, v, pos : pos + count], self.gain[i], out=seg)
                if fading:
                    self._apply_fade(i, seg)
                mono[offset : offset + count] += seg
                self.pos[i] = pos + count
            if self.pos[i] >= length or (fading and self.fade_pos[i] >= self.fade_len[i]):
                self._stop(i)

    def _apply_fade(self, i: int, seg: np.ndarray) -> None:
        """Linear fade to zero over fade_len frames, continuing across blocks."""
        start, total = int(self.fade_pos[i]), int(self.fade_len[i])
        ramp = self._ramp_work[: len(seg)]
        np.subtract(total - start, self._ramp[: len(seg)], out=ramp)
        ramp *= 1.0 / total
        seg *= ramp
        self.fade_pos[i] = start + len(seg)
