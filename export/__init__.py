"""Checkpoint to ONNX graph and preset files."""
