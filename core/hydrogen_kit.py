"""Write a Hydrogen drumkit.xml (the schema Debian's hydrogen-data ships as drumkit.xsd)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NAMESPACE = "http://www.hydrogen-music.org/drumkit"


@dataclass
class Layer:
    filename: str  # relative to the kit folder
    low: float = 0.0  # the velocity range it answers, 0..1
    high: float = 1.0


@dataclass
class Instrument:
    name: str
    midi_note: int
    layers: list[Layer] = field(default_factory=list)
    mute_group: int = -1  # instruments of one group cut each other (hi-hats)
    selection: str = "VELOCITY"  # or ROUND_ROBIN / RANDOM among layers that share a velocity


def _add(parent: ET.Element, tag: str, text: object) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = str(text)
    return child


# Instrument settings in the schema's order: a plain instrument, no filter, no envelope.
_INSTRUMENT_DEFAULTS = (
    ("volume", 1), ("isMuted", "false"), ("isSoloed", "false"), ("pan", 0), ("pitchOffset", 0),
    ("randomPitchFactor", 0), ("gain", 1), ("applyVelocity", "true"), ("filterActive", "false"),
    ("filterCutoff", 1), ("filterResonance", 0), ("Attack", 0), ("Decay", 0), ("Sustain", 1),
    ("Release", 1000),
)  # fmt: skip


def drumkit_xml(name: str, author: str, info: str, license: str,
                instruments: list[Instrument]) -> str:  # fmt: skip
    """The drumkit.xml text of a kit: one component, instruments with velocity layers."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}drumkit_info")
    q = f"{{{NAMESPACE}}}"
    for tag, text in (("name", name), ("author", author), ("info", info),
                      ("license", license), ("image", ""), ("imageLicense", "")):  # fmt: skip
        _add(root, q + tag, text)
    component = ET.SubElement(ET.SubElement(root, q + "componentList"), q + "drumkitComponent")
    for tag, text in (("id", 0), ("name", "Main"), ("volume", 1)):
        _add(component, q + tag, text)
    listing = ET.SubElement(root, q + "instrumentList")
    for i, inst in enumerate(instruments):
        el = ET.SubElement(listing, q + "instrument")
        _add(el, q + "id", i)
        _add(el, q + "name", inst.name)
        for tag, text in _INSTRUMENT_DEFAULTS:
            _add(el, q + tag, text)
        _add(el, q + "muteGroup", inst.mute_group)
        _add(el, q + "midiOutChannel", -1)
        _add(el, q + "midiOutNote", inst.midi_note)
        _add(el, q + "isStopNote", "false")
        _add(el, q + "sampleSelectionAlgo", inst.selection)
        _add(el, q + "isHihat", -1)
        _add(el, q + "lower_cc", 0)
        _add(el, q + "higher_cc", 127)
        comp = ET.SubElement(el, q + "instrumentComponent")
        _add(comp, q + "component_id", 0)
        _add(comp, q + "gain", 1)
        for layer in inst.layers:
            lay = ET.SubElement(comp, q + "layer")
            for tag, text in (("filename", layer.filename), ("min", f"{layer.low:.6g}"),
                              ("max", f"{layer.high:.6g}"), ("gain", 1), ("pitch", 0)):  # fmt: skip
                _add(lay, q + tag, text)
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def velocity_layers(velocities: list[int]) -> list[tuple[float, float]]:
    """Split 0..1 into one range per MIDI velocity (ascending), each boundary halfway."""
    v = sorted(velocities)
    edges = [0.0] + [(a + b) / 2 / 127 for a, b in zip(v, v[1:], strict=False)] + [1.0]
    return list(zip(edges[:-1], edges[1:], strict=True))
