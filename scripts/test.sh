#!/usr/bin/env bash
# The whole test suite: installs the Debian tools the interop tests drive (when missing), starts
# a private PostgreSQL for the database tests and a throwaway Ceph cluster for the RBD tests,
# builds, and runs every test. `.ci/run` calls exactly `npm test`, which runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-tools.sh
# Empty when PostgreSQL is not installed; the tests then skip their PostgreSQL variant.
postgres_url=$(bash scripts/start-test-postgres.sh)
if [ -n "$postgres_url" ]; then export STRATA_TEST_POSTGRES_URL="$postgres_url"; fi
# Empty when Ceph is not installed; the tests then skip their RBD variant.
ceph_conf=$(bash scripts/start-test-ceph.sh --fresh)
if [ -n "$ceph_conf" ]; then export STRATA_TEST_CEPH_CONF="$ceph_conf"; fi
npm run build --silent
node --test --test-reporter=spec --test-reporter-destination=stdout dist/test/
