#!/usr/bin/env bash
# Install what the tests need (from this checkout) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_ROOT_USER_ACTION=ignore python -m pip install -q --disable-pip-version-check -e ".[test]"
python -m compileall -q kernelray  # bytecode once, as pip does for a regular install (each process would compile it otherwise)
python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
# the dashboard's browser test drives Debian's Chromium (no browser download is possible here)
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "note: could not install chromium; the browser test will say it is skipped"
fi
# the durable GCS's Redis backend is tested against Debian's redis-server
if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq redis-server || (apt-get update -qq && apt-get install -y -qq redis-server)) >/dev/null 2>&1 \
        || echo "note: could not install redis-server; the Redis storage tests will say they are skipped"
fi
python -m pytest tests -q -p no:cacheprovider "$@"
