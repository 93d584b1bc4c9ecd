"""Hydrogen drumkit.xml: which sample files belong to which instrument."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ganpad.drums import GM_NOTE_CLASS, class_for_note, classify_name, key_for_name

KIT_FILE = "drumkit.xml"


@dataclass(frozen=True)
class KitSample:
    path: Path
    instrument: str
    label: str | None
    key: int | None = None  # the GM drum key, where the names or the kit's MIDI note say
    # The middle of its layer's velocity range (0..1), where the instrument has layers for
    # several ranges: a hard and a soft hit of one drum
    velocity: float | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def read_kit(kit_dir: Path) -> tuple[str, list[KitSample]]:
    """Parse a kit folder's drumkit.xml: (kit name, samples with their instrument's class)."""
    xml_path = kit_dir / KIT_FILE
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"{xml_path}: not a readable Hydrogen drumkit: {exc}") from exc
    kit_name = _child_text(root, "name") or kit_dir.name
    samples: list[KitSample] = []
    for instrument in root.iter():
        if _local(instrument.tag) != "instrument":
            continue
        name = _child_text(instrument, "name") or ""
        label, key = classify_name(name), key_for_name(name)
        note = _child_text(instrument, "midiOutNote")
        note = int(note) if note and note.lstrip("-").isdigit() else None
        if label is None and note is not None:
            label = class_for_note(note)
        if key is None and note is not None and label and class_for_note(note) == label:
            key = note  # "Tom 2" on note 43: the kit says which tom
        velocities = _layer_velocities(instrument)
        # Old kits put <filename> straight under <instrument>, newer ones under <layer>.
        for element in instrument.iter():
            if _local(element.tag) == "filename" and element.text and element.text.strip():
                file_path = kit_dir / element.text.strip()
                file_label = label or classify_name(file_path.stem)
                file_key = key if key is not None else key_for_name(file_path.stem)
                if file_key is not None and GM_NOTE_CLASS[file_key] != file_label:
                    file_key = None
                velocity = velocities.get(element.text.strip())
                samples.append(KitSample(file_path, name, file_label, file_key, velocity))
    return kit_name, samples


def _layer_velocities(instrument: ET.Element) -> dict[str, float]:
    """File name -> the middle of its layer's velocity range, for an instrument whose layers
    span several ranges ({} for one range: nothing says how hard its hits are)."""
    ranges = {}
    for layer in instrument.iter():
        if _local(layer.tag) != "layer":
            continue
        name, low, high = (_child_text(layer, n) for n in ("filename", "min", "max"))
        try:
            low_v, high_v = float(low or 0.0), float(high or 1.0)
        except ValueError:
            continue
        if name and 0.0 <= low_v <= high_v <= 1.0:
            ranges[name] = (low_v, high_v)
    if len(set(ranges.values())) < 2:
        return {}
    return {name: (low + high) / 2 for name, (low, high) in ranges.items()}


def kit_license(kit_dir: Path) -> tuple[str, str]:
    """(kit name, the licence its drumkit.xml states, or 'unstated')."""
    root = ET.parse(kit_dir / KIT_FILE).getroot()
    return _child_text(root, "name") or kit_dir.name, _child_text(root, "license") or "unstated"


def kit_licenses(root: Path, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """Kit name -> licence for every Hydrogen kit below `root` (excluded kits left out)."""
    out = {}
    for xml_path in sorted(Path(root).rglob(KIT_FILE)):
        try:
            name, licence = kit_license(xml_path.parent)
        except (OSError, ET.ParseError):
            continue
        if name not in exclude and xml_path.parent.name not in exclude:
            out[name] = licence
    return out
