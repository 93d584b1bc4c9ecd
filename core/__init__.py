"""ganpad: GAN one-shot generators you train, export and play."""

__version__ = "0.1.0"
