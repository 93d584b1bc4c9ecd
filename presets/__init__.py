"""The preset format: load, validate and list presets (ONNX Runtime only, never torch)."""

from ganpad.presets.preset import (
    CHECKPOINT_FILE,
    CHECKPOINT_STATE_FILE,
    GENERATOR_FILE,
    META_PREFIX,
    PRESET_FILE,
    SCHEMA_VERSION,
    Label,
    Preset,
    PresetError,
    Program,
    choose_providers,
    load_preset,
    provider_name,
)
from ganpad.presets.registry import (
    DEFAULT_NOTES_PRESET,
    DEFAULT_PRESET,
    find_preset,
    list_presets,
    shipped_dir,
    user_dir,
)

__all__ = [
    "CHECKPOINT_FILE", "CHECKPOINT_STATE_FILE", "DEFAULT_NOTES_PRESET", "DEFAULT_PRESET",
    "GENERATOR_FILE", "META_PREFIX", "PRESET_FILE", "SCHEMA_VERSION", "Label", "Preset",
    "PresetError", "Program", "choose_providers", "find_preset", "list_presets", "load_preset",
    "provider_name", "shipped_dir", "user_dir",
]  # fmt: skip
