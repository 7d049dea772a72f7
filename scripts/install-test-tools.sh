#!/usr/bin/env bash
# Installs the real clients the interop tests use, and the PostgreSQL server the database tests
# use, if any is missing. Needs root (CI is).
set -euo pipefail
needed=()
command -v qemu-img >/dev/null 2>&1 || needed+=(qemu-utils)
command -v nbdinfo >/dev/null 2>&1 || needed+=(libnbd-bin)
command -v nbdkit >/dev/null 2>&1 || needed+=(nbdkit)
command -v fio >/dev/null 2>&1 || needed+=(fio)
# The platforms' own API clients, driven by the dialect interop tests.
command -v cinder >/dev/null 2>&1 || needed+=(python3-cinderclient)
command -v manila >/dev/null 2>&1 || needed+=(python3-manilaclient)
# The browser the console tests drive through playwright-core (Debian's build; nothing is downloaded
# by npm), with a font so the screenshots have legible text.
[ -x /usr/bin/chromium ] || needed+=(chromium fonts-liberation)
# The server itself, not just psql: scripts/start-test-postgres.sh runs a private cluster.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || needed+=(postgresql)
# A throwaway Ceph cluster for the RBD backend tests (scripts/start-test-ceph.sh), the libraries
# the backend loads, and qemu's rbd driver for the benchmark beside qemu-nbd.
command -v ceph-mon >/dev/null 2>&1 || needed+=(ceph-mon)
command -v ceph-mgr >/dev/null 2>&1 || needed+=(ceph-mgr)
command -v ceph-osd >/dev/null 2>&1 || needed+=(ceph-osd)
command -v rbd >/dev/null 2>&1 || needed+=(ceph-common)
ldconfig -p | grep -q 'librbd\.so\.1 ' || needed+=(librbd1)
ldconfig -p | grep -q 'librados\.so\.2 ' || needed+=(librados2)
ls /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so >/dev/null 2>&1 || needed+=(qemu-block-extra)
if [ ${#needed[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing test tools (${needed[*]}); run as root or install them: apt-get install ${needed[*]}" >&2
  exit 0
fi
echo "installing test tools: ${needed[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
