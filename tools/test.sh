#!/usr/bin/env bash
# Everything the test suite needs, on a fresh Debian/Ubuntu machine or venv, then lint and tests.
# Idempotent: apt runs only for missing packages, pip only changes what is not there yet.
# Extra arguments go to pytest (e.g. `bash tools/test.sh tests/test_engine.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

# hydrogen-data: the real GMRockKit recordings the tests train and ingest on.
# jackd2 + libportaudio2: the real audio server (dummy backend) and PortAudio for sounddevice.
# fluidsynth + timgm6mb-soundfont: real instrument notes for the pitch metrics.
# hydrogen: its h2cli loads and checks the drumkits that `ganpad render` writes.
APT_PARTS=(hydrogen-data jackd2 libportaudio2 fluidsynth timgm6mb-soundfont hydrogen)
missing=()
for part in "${APT_PARTS[@]}"; do
    dpkg-query -W -f='${Status}' "$part" 2>/dev/null | grep -q "ok installed" || missing+=("$part")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q --upgrade pip
python3 -m pip install -q torch==2.13.0 # the CPU build (a plain `torch` pulls CUDA's)
python3 -m pip install -q -e '.[train,test]'

ruff check .
ruff format --check .
python3 -m pytest -q "$@"
