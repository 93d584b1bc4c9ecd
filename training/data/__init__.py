"""Data ingest: sample packs, Hydrogen kits, SoundFonts rendered note by note, named references."""
