"""The preset format: load, validate and list presets."""
