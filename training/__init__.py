"""Training side (needs torch), by idea: `data` (ingest), `models`, `trainer` (losses, the loop,
checkpoints) and `evaluation` (metrics, the drum classifier); `config` and `cli` serve them all."""
