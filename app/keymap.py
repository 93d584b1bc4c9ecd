"""MIDI note -> playable slot (a preset label), and which slots choke each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganpad.drums import GM_NOTE_CLASS, label_class
from ganpad.presets import Preset

# Any hi-hat hit silences a ringing open hat, as on a real stand.
CHOKE_GROUPS = {"closed_hat": 1, "open_hat": 1}


def choke_group_of(label: str) -> int:
    """The choke group of a label (a class, or a GM key's label by its class); 0 for none."""
    return CHOKE_GROUPS.get(label_class(label), 0)


@dataclass(frozen=True)
class KeyMap:
    names: tuple[str, ...]  # slot -> label name
    label: np.ndarray  # slot -> label index for the graph
    note_slot: np.ndarray  # MIDI note (0-127) -> slot, or -1
    choke_group: np.ndarray  # slot -> group, 0 = none

    @property
    def slots(self) -> int:
        return len(self.names)

    @classmethod
    def for_preset(cls, preset: Preset) -> KeyMap:
        if not preset.conditional:
            return cls(
                ("all",), np.zeros(1, np.int64), np.zeros(128, np.int64), np.zeros(1, np.int64)
            )
        names = tuple(label.name for label in preset.labels)
        note_slot = np.full(128, -1, np.int64)
        for slot, label in enumerate(preset.labels):
            for note in label.gm_notes:
                note_slot[note] = slot
        if preset.kind == "drums":  # GM notes no label claims: play the class they belong to
            index = {name: slot for slot, name in enumerate(names)}
            for note, cls_name in GM_NOTE_CLASS.items():
                if note_slot[note] < 0 and cls_name in index:
                    note_slot[note] = index[cls_name]
        chokes = np.array([choke_group_of(n) for n in names], np.int64)
        return cls(names, np.arange(len(names), dtype=np.int64), note_slot, chokes)

    def played_slots(self) -> list[int]:
        """The slots some MIDI note plays (a drums preset with a label per GM key does not
        play a class whose keys all have their own)."""
        return sorted(set(self.note_slot[self.note_slot >= 0].tolist()))

    def played_labels(self) -> list[bool]:
        """For each slot, whether some MIDI note plays it."""
        played = set(self.played_slots())
        return [slot in played for slot in range(self.slots)]

    def slot_for(self, name_or_note: str | int) -> int:
        if isinstance(name_or_note, int):
            return int(self.note_slot[name_or_note]) if 0 <= name_or_note < 128 else -1
        return self.names.index(name_or_note) if name_or_note in self.names else -1
