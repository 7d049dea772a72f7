#!/usr/bin/env bash
# Starts (or reuses; with --fresh, always makes anew) a throwaway single-node Ceph cluster for the RBD tests and prints the path
# of its ceph.conf as the only line on stdout: one monitor from an explicit monmap, one manager,
# one memstore OSD, authentication off, loopback only, pools of size 1, clone format 2, and the
# pool strata-test. Prints
# nothing when Ceph is not installed, so the tests skip their RBD variant instead of failing.
# Memstore keeps the data in the OSD's memory: a restart of the OSD loses it, so a cluster
# whose daemons died is discarded and made anew.
set -euo pipefail

readonly BASE_DIR=/tmp/strata-test-ceph
readonly CONF="$BASE_DIR/ceph.conf"
readonly MON_V2_PORT=13300
readonly MON_V1_PORT=16789
readonly HOST=127.0.0.1
# The RBD pool made for the tests (STRATA_TEST_CEPH_POOL).
readonly POOL=strata-test

exec 3>&1 1>&2
log() { echo "start-test-ceph: $*"; }

for tool in ceph-mon ceph-mgr ceph-osd ceph monmaptool; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "$tool is not installed; the Ceph tests will be skipped"
    exit 0
  fi
done
if [ -L "$BASE_DIR" ]; then log "$BASE_DIR is a symlink; remove it"; exit 1; fi
mkdir -p -m 700 "$BASE_DIR"
if [ "$(stat -c %u "$BASE_DIR")" != "$(id -u)" ]; then log "$BASE_DIR belongs to someone else; remove it"; exit 1; fi
# Serialise concurrent runs.
exec 9<"$BASE_DIR"
flock 9

cluster() { timeout 20 ceph --conf "$CONF" --connect-timeout 5 "$@"; }

healthy() {
  [ -f "$CONF" ] && [ -f "$BASE_DIR/ready" ] || return 1
  for daemon in mon.a mgr.x osd.0; do
    local pid_file="$BASE_DIR/run/$daemon.pid"
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null || return 1
  done
  cluster osd pool ls >/dev/null 2>&1
}

stop_daemons() {
  for pid_file in "$BASE_DIR"/run/*.pid; do
    [ -f "$pid_file" ] || continue
    pid=$(cat "$pid_file")
    # Only our own daemons: the pid must still run a ceph binary with our conf.
    if kill -0 "$pid" 2>/dev/null && grep -qa -- "$CONF" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" || true; fi
  done
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<CONF
# Written by scripts/start-test-ceph.sh: a throwaway cluster for tests, nothing durable.
[global]
fsid = $fsid
mon host = [v2:$HOST:$MON_V2_PORT,v1:$HOST:$MON_V1_PORT]
public network = $HOST/32
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = $BASE_DIR/run
pid file = $BASE_DIR/run/\$name.pid
admin socket = $BASE_DIR/run/\$name.asok
log file = $BASE_DIR/log/\$name.log
log to stderr = false
err to stderr = false
mon cluster log file = $BASE_DIR/log/cluster.log
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
# Proposals (snapshot ids, pool changes) commit at once instead of after the default 1 s.
paxos propose interval = 0.01
paxos min wait = 0.001
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
# A killed client's watch (and so its claim on an image's exclusive lock) expires after 5 s, not 30.
osd client watch timeout = 5
memstore device bytes = 6442450944
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2
mgr initial modules =
rbd default clone format = 2
rbd default features = 61
[mon.a]
mon data = $BASE_DIR/mon.a
[mgr.x]
mgr data = $BASE_DIR/mgr.x
[osd.0]
osd data = $BASE_DIR/osd.0
CONF
}

create_cluster() {
  stop_daemons
  rm -rf "${BASE_DIR:?}"/{mon.a,mgr.x,osd.0,run,log,monmap,ready,ceph.conf}
  mkdir -p "$BASE_DIR"/{mon.a,mgr.x,osd.0,run,log}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  log "creating a single-node Ceph cluster in $BASE_DIR (fsid $fsid)"
  monmaptool --create --fsid "$fsid" --addv a "[v2:$HOST:$MON_V2_PORT,v1:$HOST:$MON_V1_PORT]" "$BASE_DIR/monmap" >/dev/null
  ceph-mon --conf "$CONF" --mkfs -i a --monmap "$BASE_DIR/monmap" --keyring /dev/null
  # The daemons outlive this script: they must not inherit stdout (fd 3) or the lock (fd 9).
  ceph-mon --conf "$CONF" -i a 3>&- 9<&-
  ceph-mgr --conf "$CONF" -i x 3>&- 9<&-
  local osd_id
  osd_id=$(cluster osd create)
  [ "$osd_id" = 0 ] || { log "expected osd id 0, got $osd_id"; exit 1; }
  ceph-osd --conf "$CONF" -i 0 --mkfs >/dev/null 2>&1
  ceph-osd --conf "$CONF" -i 0 3>&- 9<&-
  cluster osd crush add osd.0 1 root=default host=localhost >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    if cluster osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1'; then break; fi
    sleep 0.5
  done
  cluster osd stat -f json | grep -q '"num_up_osds":1' || { log "the OSD did not come up; see $BASE_DIR/log"; exit 1; }
  # The pool the tests use; each test works in a namespace of its own inside it.
  cluster osd pool create "$POOL" 8 >/dev/null 2>&1
  cluster osd pool application enable "$POOL" rbd >/dev/null 2>&1
  timeout 20 rbd --conf "$CONF" pool init "$POOL"
  touch "$BASE_DIR/ready"
}

# --fresh (what `npm test` asks): a new, empty cluster, whatever is running; tests leave images
# behind and the OSD keeps them in memory.
if [ "${1:-}" != "--fresh" ] && healthy; then
  log "reusing the Ceph cluster in $BASE_DIR"
else
  create_cluster
fi
echo "$CONF" >&3
