#!/usr/bin/env bash
# The main job: install kernelray and run the quickstart notebook headless against an
# embedded local cluster; the executed notebook is written to notebooks/quickstart.out.ipynb.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_ROOT_USER_ACTION=ignore python -m pip install -q --disable-pip-version-check -e ".[jupyter]"
python -m compileall -q kernelray  # bytecode once, as pip does for a regular install (each process would compile it otherwise)
python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=300 \
    --output quickstart.out.ipynb notebooks/quickstart.ipynb
echo "Executed notebooks/quickstart.ipynb -> notebooks/quickstart.out.ipynb"
