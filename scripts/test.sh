#!/usr/bin/env bash
# Install what the tests need (from this checkout) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[test]" 2>&1 | grep -v -E "^(WARNING: Running pip|\[notice\])" || true
python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
python -m pytest tests -q -p no:cacheprovider "$@"
