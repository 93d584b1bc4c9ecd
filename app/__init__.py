"""The instrument: engine, MIDI, render and GUI. Never imports torch."""
