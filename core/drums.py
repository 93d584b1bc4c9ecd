"""Canonical drum classes, the General MIDI drum map and name-based labelling."""

from __future__ import annotations

import re

# The classes every drum preset speaks, in a fixed order (a model's label index).
DRUM_CLASSES: tuple[str, ...] = (
    "kick",
    "snare",
    "clap",
    "closed_hat",
    "open_hat",
    "tom",
    "cymbal",
    "percussion",
)

# GM percussion key map (channel 10) folded onto the canonical classes.
GM_NOTE_CLASS: dict[int, str] = {
    35: "kick", 36: "kick",
    37: "percussion",  # side stick
    38: "snare", 40: "snare",
    39: "clap",
    42: "closed_hat", 44: "closed_hat",
    46: "open_hat",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
    49: "cymbal", 51: "cymbal", 52: "cymbal", 53: "cymbal", 55: "cymbal", 57: "cymbal",
    59: "cymbal",
    **{n: "percussion" for n in (54, 56, 58, *range(60, 82))},
}  # fmt: skip

# The note a class answers on first (what a render or a pad grid uses).
CLASS_GM_NOTES: dict[str, tuple[int, ...]] = {
    cls: tuple(sorted(n for n, c in GM_NOTE_CLASS.items() if c == cls)) for cls in DRUM_CLASSES
}
CLASS_PRIMARY_NOTE: dict[str, int] = {
    "kick": 36, "snare": 38, "clap": 39, "closed_hat": 42,
    "open_hat": 46, "tom": 45, "cymbal": 49, "percussion": 56,
}  # fmt: skip

# Ordered rules: the first that matches wins, so "cowbell" is percussion before "bell" is cymbal
# and "open hat" is an open hat before "hat" is a closed one.
_RULES: tuple[tuple[str, str], ...] = (
    (
        "percussion",
        r"cow ?bell|tambourine|tamb|shaker|maraca|clave|wood ?block|conga|bongo|"
        r"timbale|agogo|guiro|cabasa|cuica|vibra ?slap|triangle|side ?stick|cross ?stick|stick|"
        r"\bclav(es?)?(?![a-z])|"
        r"waterglass|vibraslap|whistle|perc",
    ),
    ("clap", r"clap"),
    ("open_hat", r"open ?(hi[- ]?)?(hat|hh)|(hat|hh|cymbal) ?open|semi[- ]?open|\bohh?\b|swish"),
    ("closed_hat", r"hi[- ]?hat|hihat|hat|\bhh\b|\bchh?\b|pedal|cymbal closed"),
    ("kick", r"kick|bass ?drum|drum bass|\bbd\b|\bkd\b|808 ?bd"),
    ("snare", r"snare|\bsd\b|rim"),
    ("tom", r"tom"),
    ("cymbal", r"crash|ride|splash|china|cymbal|bell|\bcy\b|\bcym"),
    ("percussion", r"djembe|drum|click|fx|zap"),
)
_COMPILED = tuple((cls, re.compile(pattern)) for cls, pattern in _RULES)


def _words(text: str) -> str:
    """A name as lower-case words: camel case and separators split."""
    return re.sub(r"[_\-.]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", text)).lower()


def classify_name(text: str) -> str | None:
    """Map a kit instrument name, folder or file name to a canonical class, or None."""
    words = _words(text)
    for cls, pattern in _COMPILED:
        if pattern.search(words):
            return cls
    return None


_HI, _LO = r"\b(hi|high)\b", r"\b(lo|low)\b"
# Ordered like _RULES: (instrument, its key, (qualifier, key) pairs tried in order). A name
# gets a key only where it says which GM instrument it is; "Tom 2" or "Drum 1" get none.
_KEY_RULES: tuple[tuple[str, int | None, tuple[tuple[str, int], ...]], ...] = (
    (r"ride ?(bell|cup)|bell ?ride|crash ?ride ?bell", 53, ()),
    (r"cow ?bell", 56, ()),
    (r"tambourine|tamb\b", 54, ()),
    (r"vibra ?slap", 58, ()),
    (r"bongo", 60, ((_LO, 61),)),
    (r"conga", 63, ((r"mute", 62), (_LO, 64))),
    (r"timbale", 65, ((_LO, 66),)),
    (r"agogo", 67, ((_LO, 68),)),
    (r"cabasa", 69, ()),
    (r"maraca|shaker", 70, ()),
    (r"whistle", 71, ((r"long", 72),)),
    (r"guiro", 73, ((r"long", 74),)),
    (r"clave|\bclav(es?)?(?![a-z])", 75, ()),
    (r"wood ?block", 76, ((_LO, 77),)),
    (r"cuica", 78, ((r"open", 79),)),
    (r"triangle", 81, ((r"mute", 80),)),
    (r"side ?stick|cross ?stick|rim ?click|\bstick\b", 37, ()),
    (r"clap", 39, ()),
    (r"splash", 55, ()),
    (r"china|chinese", 52, ()),
    (r"crash", 49, ((r"^crash( cymbal)? 2$", 57),)),  # "Crash 2" names a second cymbal, where
    (r"ride", 51, ((r"^ride( cymbal)? 2$", 59),)),  # "crash 02" is more likely a round robin
    (r"pedal|foot", 44, ()),
    (r"open ?(hi[- ]?)?(hat|hh)|(hat|hh|cymbal) ?open|semi ?open|\bohh?\b|swish", 46, ()),
    (r"hi[- ]?hat|hihat|hat|\bhh\b|\bchh?\b|cymbal closed", 42, ()),
    (r"kick|bass ?drum|drum bass|\bbd\b|\bkd\b", 36, ((r"acoustic", 35),)),
    (r"snare|\bsd\b", 38, ((r"electric", 40),)),
    (r"floor", 41, ((_HI, 43),)),
    (r"tom", None, ((r"(lo|low) ?mid", 47), (r"(hi|high) ?mid|\bmid", 48), (_LO, 45), (_HI, 50))),
    (r"cymbal", None, ()),  # which cymbal is not said
    (r"^(?!.*(tree|sleigh|chime|jingle|sangban|dununba|kenkeni)).*\bbell\b", 53, ()),
)
_KEY_COMPILED = tuple((re.compile(i), k, tuple((re.compile(q), n) for q, n in qs))
                      for i, k, qs in _KEY_RULES)  # fmt: skip


def key_for_name(text: str) -> int | None:
    """The GM drum key (35-81) a kit instrument's or file's name says it is, or None.

    Only a key of the class the name gets from `classify_name`: "Ride Bell" is key 53,
    "Conga Low" 64, "Tom Hi" 50; "Snare 2" is the acoustic snare, 38.
    """
    # "Conga-Low1": digits apart from letters, so "low" is a word
    words = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", _words(text))
    for instrument, key, qualifiers in _KEY_COMPILED:
        if instrument.search(words):
            key = next((n for q, n in qualifiers if q.search(words)), key)
            break
    else:
        return None
    return key if key is not None and GM_NOTE_CLASS[key] == classify_name(text) else None


def class_for_note(note: int) -> str | None:
    return GM_NOTE_CLASS.get(note)


# General MIDI percussion names, 35 to 81 (the keys GM_NOTE_CLASS maps).
GM_NOTE_NAMES: dict[int, str] = {
    35: "Acoustic Bass Drum", 36: "Bass Drum", 37: "Side Stick", 38: "Acoustic Snare",
    39: "Hand Clap", 40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat",
    43: "High Floor Tom", 44: "Pedal Hi-Hat", 45: "Low Tom", 46: "Open Hi-Hat",
    47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine",
    55: "Splash Cymbal", 56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap",
    59: "Ride Cymbal 2", 60: "Hi Bongo", 61: "Low Bongo", 62: "Mute Hi Conga",
    63: "Open Hi Conga", 64: "Low Conga", 65: "High Timbale", 66: "Low Timbale",
    67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas", 71: "Short Whistle",
    72: "Long Whistle", 73: "Short Guiro", 74: "Long Guiro", 75: "Claves",
    76: "Hi Wood Block", 77: "Low Wood Block", 78: "Mute Cuica", 79: "Open Cuica",
    80: "Mute Triangle", 81: "Open Triangle",
}  # fmt: skip

# A drums preset where every GM key is its own instrument speaks these labels: the classes
# first (clips no name gives a key to, and the keys nothing trained), then one label per key.
KEY_LABELS: dict[int, str] = {
    key: re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") for key, name in GM_NOTE_NAMES.items()
}
KEYED_LABELS: tuple[str, ...] = DRUM_CLASSES + tuple(KEY_LABELS.values())
_LABEL_KEYS = {name: key for key, name in KEY_LABELS.items()}


def label_key(name: str) -> int | None:
    """The GM key a key label ("cowbell") stands for; None for a class or any other label."""
    return _LABEL_KEYS.get(name)


def label_class(name: str) -> str:
    """The drum class of a label: a key label's class, any other label itself."""
    key = _LABEL_KEYS.get(name)
    return name if key is None else GM_NOTE_CLASS[key]


# A 4x4 pad grid, top row first, as on most drum machines (kick bottom left).
PAD_GRID: tuple[tuple[int, ...], ...] = (
    (49, 57, 51, 56),
    (50, 48, 45, 41),
    (42, 44, 46, 39),
    (36, 37, 38, 40),
)


def pad_banks() -> list[tuple[tuple[int | None, ...], ...]]:
    """PAD_GRID, then the other GM drum keys as further 4x4 banks, as a drum machine pages its
    pads: in key order from the bottom left, row by row up (None: an empty pad)."""
    kit = {note for row in PAD_GRID for note in row}
    rest: list[int | None] = [note for note in sorted(GM_NOTE_NAMES) if note not in kit]
    rest += [None] * (-len(rest) % 16)
    banks: list[tuple[tuple[int | None, ...], ...]] = [PAD_GRID]
    for start in range(0, len(rest), 16):
        rows = [tuple(rest[start + 4 * r : start + 4 * r + 4]) for r in range(4)]
        banks.append(tuple(reversed(rows)))
    return banks
