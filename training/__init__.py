"""Training side: data ingest, models, losses, the GAN trainer (needs torch)."""
