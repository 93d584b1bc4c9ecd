"""A render as an instrument a sampler loads: an SFZ file and a Hydrogen drumkit.xml.

Both sit in the render's preset folder beside the class or note folders and name the WAVs
by relative path, so the folder can be moved or zipped whole. A class's or note's renders
are its round robins (SFZ seq_position, Hydrogen's ROUND_ROBIN layers). A velocity-aware
preset's renders are velocity layers too, one per engine velocity band (SFZ lovel/hivel,
Hydrogen layer ranges); the player's velocity scales the gain on top. The hats choke each other
in both, as in the engine (`keymap.choke_group_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ganpad import __version__
from ganpad.app.keymap import choke_group_of
from ganpad.app.voice_pool import VELOCITY_BANDS, band_of, band_range
from ganpad.atomic import atomic_write_text
from ganpad.hydrogen_kit import Instrument, Layer, drumkit_xml
from ganpad.notes import sample_name
from ganpad.presets import Preset

INSTRUMENTS = ("sfz", "hydrogen")
# The engine's choke fade; SFZ players that lack off_mode=time cut with their own short fade.
CHOKE_S = 0.004


@dataclass(frozen=True)
class Zone:
    """One class or note: the keys it answers and its round robins (relative paths)."""

    name: str
    keys: tuple[int, ...]
    files: tuple[str, ...]
    centre: int | None = None  # notes: the key the samples sound at
    velocities: tuple[float | None, ...] = ()  # each file's layer velocity (0..1), if layered

    def layers(self) -> list[tuple[tuple[int, int] | None, tuple[str, ...]]]:
        """(MIDI velocity range, or None for every velocity; its files) per layer, soft first."""
        bands: dict[int | None, list[str]] = {}
        for path, velocity in zip(self.files, self.velocities or [None] * len(self.files),
                                  strict=True):  # fmt: skip
            bands.setdefault(None if velocity is None else layer_band(velocity), []).append(path)
        if None in bands or not bands:
            return [(None, self.files)]
        return [(band_range(b, VELOCITY_BANDS), tuple(bands[b])) for b in sorted(bands)]


def layer_band(velocity: float) -> int:
    """The engine's velocity band a layer rendered at `velocity` (0..1) plays in."""
    return band_of(max(1, min(127, round(velocity * 127))), VELOCITY_BANDS)


def zones(preset: Preset, files: Sequence[tuple[str, str, float | None]]) -> list[Zone]:
    """(slot name, path relative to the preset folder, layer velocity or None) -> zones in key
    order.

    Drums answer every GM note of their class; a rendered note answers the keys up to halfway
    to its rendered neighbours (the sampler transposes), so the whole keyboard plays.
    """
    by_name: dict[str, list[str]] = {}
    velocity: dict[str, list[float | None]] = {}
    for name, path, v in files:
        by_name.setdefault(name, []).append(path)
        velocity.setdefault(name, []).append(v)
    if preset.kind != "notes":
        gm = {label.name: label.gm_notes for label in preset.labels}
        return sorted((Zone(n, tuple(gm.get(n, ())), tuple(f), None, tuple(velocity[n]))
                       for n, f in by_name.items() if gm.get(n)),
                      key=lambda z: z.keys[0])  # fmt: skip
    pitches = sorted(int(n) for n in by_name)
    edges = [0] + [(a + b) // 2 + 1 for a, b in zip(pitches, pitches[1:], strict=False)] + [128]
    return [Zone(str(p), tuple(range(lo, hi)), tuple(by_name[str(p)]), p, tuple(velocity[str(p)]))
            for p, lo, hi in zip(pitches, edges, edges[1:], strict=False)]  # fmt: skip


def sfz_text(preset: Preset, zone_list: Sequence[Zone]) -> str:
    """An SFZ instrument: a group per key and zone, its renders as sequential round robins."""
    lines = [f"// {preset.name}, rendered by ganpad {__version__}: load this file in any SFZ "
             "player; the samples are the WAVs beside it", "<control>", "default_path=",
             "<global>", "loop_mode=one_shot", "amp_veltrack=100", ""]  # fmt: skip
    for zone in zone_list:
        keys = (
            [(k, k) for k in zone.keys] if zone.centre is None else [(zone.keys[0], zone.keys[-1])]
        )
        for lo, hi in keys:
            label = zone.name if zone.centre is None else sample_name(zone.centre)
            lines.append(f"// {label}")
            centre = zone.centre if zone.centre is not None else lo
            choke = _sfz_choke(zone) if zone.centre is None else ""
            for velocities, paths in zone.layers():
                vel = "" if velocities is None else " lovel={} hivel={}".format(*velocities)
                lines.append(f"<group> lokey={lo} hikey={hi} pitch_keycenter={centre}{vel} "
                             f"seq_length={len(paths)}{choke}")  # fmt: skip
                lines += [f"<region> sample={path} seq_position={i}"
                          for i, path in enumerate(paths, 1)]  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def _sfz_choke(zone: Zone) -> str:
    """A drum's choke opcodes: any hit of its group silences it (none outside a group)."""
    group = choke_group_of(zone.name)
    if not group:
        return ""
    return f" group={group} off_by={group} off_mode=time off_time={CHOKE_S:g}"


def hydrogen_text(preset: Preset, zone_list: Sequence[Zone]) -> str:
    """A Hydrogen drumkit: an instrument per label (class or GM key) on its first GM note,
    round-robin layers."""
    instruments = [Instrument(z.name, z.keys[0], _hydrogen_layers(z), choke_group_of(z.name) or -1,
                              "ROUND_ROBIN") for z in zone_list]  # fmt: skip
    info = f"Generated by ganpad {__version__} from the preset {preset.name}."
    return drumkit_xml(preset.name, "ganpad", info, _licence(preset), instruments)


def _hydrogen_layers(zone: Zone) -> list[Layer]:
    """A zone's files as Hydrogen layers: each over its band's share of 0..1 (round robins
    share a range), or all over the whole range."""
    layers = []
    for velocities, paths in zone.layers():
        # Edges halfway between two bands' velocities, so no MIDI velocity sits on one.
        low, high = (0.0, 1.0) if velocities is None else (
            0.0 if velocities[0] == 1 else (velocities[0] - 0.5) / 127,
            1.0 if velocities[1] == 127 else (velocities[1] + 0.5) / 127)  # fmt: skip
        layers += [Layer(path, low, high) for path in paths]
    return layers


def _licence(preset: Preset) -> str:
    """The training data's licence as the preset records it: a kit's terms travel with it."""
    data = preset.meta.get("license", {})
    data = data.get("data") if isinstance(data, dict) else data
    return f"Generated from a model trained on: {data}" if data else "unstated"


def write_instruments(preset: Preset, folder: Path, files: Sequence[tuple[str, str, float | None]],
                      kinds: Sequence[str], stem: str | None = None) -> list[Path]:  # fmt: skip
    """Write each asked instrument file into the render's preset folder, atomically (an SFZ
    named `stem`, the preset's name by default)."""
    zone_list = zones(preset, files)
    written = []
    for kind in kinds:
        path = folder / (f"{stem or preset.name}.sfz" if kind == "sfz" else "drumkit.xml")
        text = sfz_text(preset, zone_list) if kind == "sfz" else hydrogen_text(preset, zone_list)
        atomic_write_text(path, text)
        written.append(path)
    return written
