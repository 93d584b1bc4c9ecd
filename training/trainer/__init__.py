"""The GAN trainer: losses, the loop, checkpoints, EMA, augmentation, logs, torchrun, finetune."""
