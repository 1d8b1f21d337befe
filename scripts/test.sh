#!/usr/bin/env bash
# Set-up (see scripts/setup.sh), then the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The server's page is tested in a real headless browser (Debian's chromium and its driver),
# installed here so that nothing is downloaded while the tests run.
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[test] installing chromium and chromium-driver for the page test"
  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } ||
    echo "[test] could not install chromium; the page test will skip"
fi
# pytest-xdist workers of one thread each, one more than the cores: many tests wait on the processes they
# start (recipes, torchrun, servers), so a third worker on 2 cores took the suite from 4 min 45 s to 4 min
# (one process with two threads: 5.7 minutes). PYTEST_WORKERS overrides the count.
workers=${PYTEST_WORKERS:-$(( $(nproc) + 1 ))}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec .venv/bin/python -m pytest -q -n "$workers" --dist worksteal "$@"
