"""Checkpoint to ONNX graph and preset files, with an ONNX Runtime / PyTorch parity check."""
