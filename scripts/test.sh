#!/usr/bin/env bash
# The whole test suite: installs the Debian tools the interop tests drive (when missing),
# builds, and runs every test. `.ci/run` calls exactly `npm test`, which runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-tools.sh
npm run build --silent
node --test --test-reporter=spec --test-reporter-destination=stdout dist/test/
