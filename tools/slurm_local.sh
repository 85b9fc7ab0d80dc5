#!/usr/bin/env bash
# tools/slurm_local.sh - a one-node SLURM cluster on this machine, for `make test-slurm`.
#
# Debian 12 (slurm 22.05), run as root, no systemd needed: every daemon is launched directly.
# Accounting goes through slurmdbd + MariaDB so that `sacct` answers: the SLURM tests check every
# job there, and the Snakemake executor plugin polls with it unless told to use squeue.
#
#   tools/slurm_local.sh start    install missing packages, write the configs, start what is
#                                 not running, register cluster/account/user, submit a smoke job
#   tools/slurm_local.sh stop     stop exactly the daemons that `start` launched (state file)
#   tools/slurm_local.sh status   which daemons answer, sinfo, the accounting associations
#
# Idempotent: `start` twice starts nothing new; a daemon that was already running before `start`
# (someone else's) is used as it is and never stopped by `stop`.
#
# Environment (defaults in brackets):
#   SLURM_LOCAL_DIR        state, timings and daemon output  [${TMPDIR:-/tmp}/absorbprune-slurm]
#   SLURM_LOCAL_CLUSTER    cluster name in slurm.conf/slurmdbd     [absorbprune]
#   SLURM_LOCAL_PARTITION  the single partition                    [local]
#   SLURM_LOCAL_ACCOUNT    account the workflow submits under      [absorbprune]
#   SLURM_LOCAL_MEM_PER_CPU DefMemPerCPU in MB (jobs without --mem) [1000]
#   SLURM_LOCAL_GPUS       GPUs the node advertises (placeholder files, no devices) [2]
#   SLURM_LOCAL_MEMORY_MB  memory the node advertises, at least the real one  [262144]
#   SLURM_LOCAL_FORCE=1    overwrite a slurm.conf this script did not write
#
# The node is the real machine's CPUs, but it advertises SLURM_LOCAL_GPUS GPUs and
# SLURM_LOCAL_MEMORY_MB of memory (SlurmdParameters=config_overrides), so that the project's
# profiles/slurm (GPU stages ask for `gpu: 1`, memory sized for 7B models) is submitted unchanged.
# Nothing enforces either here (no cgroups): a job "given" a GPU sees no CUDA device and the
# workflow's `device: auto` runs it on the CPU; memory requests are bookkeeping only.
set -euo pipefail

STATE_DIR=${SLURM_LOCAL_DIR:-${TMPDIR:-/tmp}/absorbprune-slurm}
CLUSTER=${SLURM_LOCAL_CLUSTER:-absorbprune}
PARTITION=${SLURM_LOCAL_PARTITION:-local}
ACCOUNT=${SLURM_LOCAL_ACCOUNT:-absorbprune}
MEM_PER_CPU=${SLURM_LOCAL_MEM_PER_CPU:-1000}
GPUS=${SLURM_LOCAL_GPUS:-2}
MEMORY_MB=${SLURM_LOCAL_MEMORY_MB:-262144}
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
MARKER="# written by absorbprune tools/slurm_local.sh"
STARTED="$STATE_DIR/started"   # one line per daemon this script launched: "<comm> <pid>"
TIMINGS="$STATE_DIR/timings.log"

SLURM_CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
GRES_CONF=/etc/slurm/gres.conf
FAKE_GPU_DIR=/var/lib/slurm/fake-gpu
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
DBD_PID=/run/slurmdbd.pid
MUNGE_PID=/run/munge/munged.pid
MARIADB_PID=/run/mysqld/mysqld.pid

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$STATE_DIR"
touch "$STARTED"

# ---- helpers ----------------------------------------------------------------------------------
T0=$EPOCHREALTIME
T_PREV=$T0
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
step() {  # step "message": one timing line (step time, time since the command began)
  local now=$EPOCHREALTIME line
  line=$(printf '[%6ss step %6ss total] %s' "$(elapsed "$T_PREV" "$now")" "$(elapsed "$T0" "$now")" "$1")
  echo "$line"
  echo "$(date +%H:%M:%S) $line" >> "$TIMINGS"
  T_PREV=$now
}
die() { echo "slurm_local.sh: $*" >&2; exit 1; }

# pid_alive PID COMM: the process exists, is not a zombie, and its command name is COMM
pid_alive() {
  local pid=$1 comm=$2 state
  [[ -n "$pid" && -r /proc/$pid/comm ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ "$state" != Z ]]
}
pid_gone() { ! pid_alive "$1" "$2"; }
pidfile_pid() { if [[ -s "$1" ]]; then tr -dc '0-9' < "$1"; fi; }

# retry SECONDS WHAT CMD...: run CMD every 0.25 s until it succeeds
retry() {
  local limit=$1 what=$2 deadline
  shift 2
  deadline=$(( EPOCHSECONDS + limit ))
  until "$@" > /dev/null 2>&1; do
    (( EPOCHSECONDS < deadline )) || die "gave up after ${limit}s waiting for: $what"
    sleep 0.25
  done
}

record_started() {  # record_started COMM PID (replacing an older line for COMM)
  forget "$1"
  echo "$1 $2" >> "$STARTED"
}
we_started() {  # we_started COMM: this script launched the running COMM (and it still runs)
  local comm pid
  while read -r comm pid; do
    [[ "$comm" == "$1" ]] && pid_alive "$pid" "$comm" && return 0
  done < "$STARTED"
  return 1
}
forget() {  # forget COMM: drop COMM's line from the state file
  local tmp
  tmp=$(mktemp "$STATE_DIR/started.XXXXXX")
  awk -v c="$1" '$1 != c' "$STARTED" > "$tmp"
  mv "$tmp" "$STARTED"
}

# Liveness probes that work whoever started the daemon.
munge_ok() { munge -n 2>/dev/null | unmunge > /dev/null 2>&1; }
mariadb_ok() { mariadb-admin --connect-timeout=2 ping > /dev/null 2>&1; }
dbd_ok() { timeout 10 sacctmgr -n -P show cluster format=cluster > /dev/null 2>&1; }
ctld_ok() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
slurmd_running() { pid_alive "$(pidfile_pid "$SLURMD_PID")" slurmd; }
node_ok() { timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'; }

# ---- start ------------------------------------------------------------------------------------
install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    apt-get update -qq
    # Without systemd the packages' postinst cannot start the services; that is expected.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$STATE_DIR/apt.log" 2>&1 ||
      { tail -20 "$STATE_DIR/apt.log" >&2; die "apt-get install failed (log: $STATE_DIR/apt.log)"; }
    step "installed ${missing[*]}"
  else
    step "packages already installed"
  fi
}

start_munge() {
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
  fi
  if munge_ok; then
    step "munged already running"
    return
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  retry 20 "munged" munge_ok
  record_started munged "$(pidfile_pid "$MUNGE_PID")"
  step "started munged (pid $(pidfile_pid "$MUNGE_PID"))"
}

write_configs() {
  if [[ -e "$SLURM_CONF" ]] && ! grep -qF "$MARKER" "$SLURM_CONF" && [[ "${SLURM_LOCAL_FORCE:-0}" != 1 ]]; then
    die "$SLURM_CONF was not written by this script; set SLURM_LOCAL_FORCE=1 to replace it"
  fi
  # Node line from the hardware slurmd detects (CPUs, sockets, cores, threads, RealMemory).
  local hw new real gres_line="" new_gres i
  hw=$(slurmd -C | awk 'NR == 1 { sub(/^NodeName=[^ ]+ /, ""); print }')
  real=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<< "$hw")
  if (( MEMORY_MB > real )); then hw=${hw/RealMemory=$real/RealMemory=$MEMORY_MB}; fi
  if (( GPUS > 0 )); then gres_line="Gres=gpu:$GPUS"; fi
  new=$(mktemp "$STATE_DIR/slurm.conf.XXXXXX")
  cat > "$new" <<EOF
$MARKER (one node, accounting via slurmdbd)
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups without systemd: track processes by parentage, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# The node line below is taken as configured (advertised GPUs and memory), not probed.
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageTRES=gres/gpu
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default a job that asks for no memory is given the whole node, and runs alone.
DefMemPerCPU=$MEM_PER_CPU
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
# Keep sbatch --comment (the plugin writes rule_<name>_wildcards_<...> there) for sacct.
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
MailProg=/bin/true
NodeName=$NODE NodeAddr=127.0.0.1 $hw $gres_line State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  CONF_CHANGED=0
  if ! cmp -s "$new" "$SLURM_CONF"; then
    install -D -m 0644 "$new" "$SLURM_CONF"
    CONF_CHANGED=1
  fi
  rm -f "$new"
  new_gres="$MARKER"$'\n'
  if (( GPUS > 0 )); then
    # A gpu GRES needs one File per device or slurmd reports 0 and the node drains; plain
    # files stand in for /dev/nvidiaN (no cgroup device constraint is in force to notice).
    install -d -m 0755 "$FAKE_GPU_DIR"
    for (( i = 0; i < GPUS; i++ )); do touch "$FAKE_GPU_DIR/gpu$i"; done
    new_gres+="NodeName=$NODE Name=gpu File=$FAKE_GPU_DIR/gpu[0-$(( GPUS - 1 ))]"$'\n'
  fi
  if [[ "$(cat "$GRES_CONF" 2>/dev/null)"$'\n' != "$new_gres" ]]; then
    printf '%s' "$new_gres" > "$GRES_CONF"
    CONF_CHANGED=1
  fi

  # The database password: kept from an earlier run, else a fresh random one.
  local pass=""
  [[ -r "$DBD_CONF" ]] && pass=$(sed -n 's/^StoragePass=//p' "$DBD_CONF")
  [[ -n "$pass" ]] || pass=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  DB_PASS=$pass
  new=$(mktemp "$STATE_DIR/slurmdbd.conf.XXXXXX")
  cat > "$new" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$DBD_PID
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  DBD_CHANGED=0
  if ! cmp -s "$new" "$DBD_CONF"; then
    install -D -m 0600 "$new" "$DBD_CONF"   # slurmdbd refuses a file others can read
    DBD_CHANGED=1
  fi
  rm -f "$new"
  install -d -m 0755 /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  step "configs in /etc/slurm (slurm.conf changed: $CONF_CHANGED, slurmdbd.conf changed: $DBD_CHANGED; node $NODE: $hw)"
}

start_mariadb() {
  if mariadb_ok; then
    step "MariaDB already running"
  else
    install -d -o mysql -g root -m 0755 /run/mysqld
    setsid /usr/sbin/mariadbd --user=mysql > "$STATE_DIR/mariadbd.out" 2>&1 < /dev/null &
    retry 90 "MariaDB" mariadb_ok
    record_started mariadbd "$(pidfile_pid "$MARIADB_PID")"
    step "started MariaDB (pid $(pidfile_pid "$MARIADB_PID"))"
  fi
  mariadb <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
  step "accounting database and its user ensured"
}

# restart_if_ours COMM PIDFILE: after a config change, restart COMM if this script runs it
restart_if_ours() {
  local comm=$1 pid
  if we_started "$comm"; then
    pid=$(awk -v c="$comm" '$1 == c { p = $2 } END { print p }' "$STARTED")
    kill -TERM "$pid"
    retry 60 "$comm to exit" pid_gone "$pid" "$comm"
    forget "$comm"
    step "stopped $comm (pid $pid) to load the new config"
  else
    local probe
    case $comm in slurmd) probe=slurmd_running ;; slurmctld) probe=ctld_ok ;; *) probe=dbd_ok ;; esac
    if $probe; then
      echo "warning: $comm was not started by this script and keeps its old config (restart it yourself)" >&2
    fi
  fi
}

start_slurmdbd() {
  [[ $DBD_CHANGED == 1 ]] && restart_if_ours slurmdbd
  if dbd_ok; then
    step "slurmdbd already running"
  else
    slurmdbd
    retry 60 "slurmdbd" dbd_ok
    record_started slurmdbd "$(pidfile_pid "$DBD_PID")"
    step "started slurmdbd (pid $(pidfile_pid "$DBD_PID"))"
  fi
  if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" > /dev/null
    step "registered cluster $CLUSTER"
  fi
}

start_slurm() {
  if [[ $CONF_CHANGED == 1 ]]; then
    restart_if_ours slurmd
    restart_if_ours slurmctld
  fi
  if ctld_ok; then
    step "slurmctld already running"
  elif slurmd_running; then
    slurmctld
    retry 60 "slurmctld" ctld_ok
    record_started slurmctld "$(pidfile_pid "$CTLD_PID")"
    step "started slurmctld (pid $(pidfile_pid "$CTLD_PID"))"
  else
    # No slurmd runs, so no job can be running on the one node: jobs that slurmctld's saved state
    # still calls RUNNING were cut off by an unclean end (a killed session) and would hold the
    # node's CPUs forever. -c starts from an empty job and node state.
    slurmctld -c
    retry 60 "slurmctld" ctld_ok
    record_started slurmctld "$(pidfile_pid "$CTLD_PID")"
    step "started slurmctld (pid $(pidfile_pid "$CTLD_PID")) with the saved job state cleared"
  fi
  if slurmd_running; then
    step "slurmd already running"
  else
    slurmd
    retry 30 "slurmd" slurmd_running
    record_started slurmd "$(pidfile_pid "$SLURMD_PID")"
    step "started slurmd (pid $(pidfile_pid "$SLURMD_PID"))"
  fi
  # A node left DOWN/DRAIN by an earlier unclean stop comes back with ReturnToService=2, or here.
  if ! node_ok; then
    scontrol update NodeName="$NODE" State=RESUME > /dev/null 2>&1 || true
  fi
  retry 60 "node $NODE to be idle" node_ok
  step "node $NODE up in partition $PARTITION"
}

ensure_account() {
  sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT" ||
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="absorbprune workflow" Organization=local > /dev/null
  sacctmgr -n -P show assoc where cluster="$CLUSTER" account="$ACCOUNT" user=root format=user | grep -qx root ||
    sacctmgr -i add user root Account="$ACCOUNT" Cluster="$CLUSTER" > /dev/null
  step "account $ACCOUNT with user root registered on cluster $CLUSTER"
}

smoke_test() {
  local job
  job=$(sbatch --parsable -A "$ACCOUNT" -p "$PARTITION" -t 1 -J slurm_local_smoke -o /dev/null --wrap true)
  job=${job%%;*}
  if ! (retry 60 "sacct to report smoke job $job COMPLETED" \
    bash -c "sacct -n -X -P -j $job --format=State | grep -qx COMPLETED"); then
    echo "the queue (job, state, reason, start):" >&2
    timeout 10 squeue -h -o '%i %T %r %S' >&2 || true
    die "smoke job $job did not complete"
  fi
  step "smoke job $job COMPLETED according to sacct"
}

start() {
  echo "=== $(date -Is) start" >> "$TIMINGS"
  [[ $EUID == 0 ]] || die "run as root"
  install_packages
  NODE=$(hostname -s)
  start_munge
  write_configs
  start_mariadb
  start_slurmdbd
  start_slurm
  ensure_account
  smoke_test
  step "cluster ready: partition=$PARTITION account=$ACCOUNT (state: $STARTED)"
}

# ---- stop -------------------------------------------------------------------------------------
stop() {
  echo "=== $(date -Is) stop" >> "$TIMINGS"
  local order=(slurmd slurmctld slurmdbd mariadbd munged) comm pid n=0
  for comm in "${order[@]}"; do
    pid=$(awk -v c="$comm" '$1 == c { p = $2 } END { print p }' "$STARTED")
    [[ -n "$pid" ]] || continue
    if pid_alive "$pid" "$comm"; then
      kill -TERM "$pid"
      local deadline=$(( EPOCHSECONDS + 60 ))
      while pid_alive "$pid" "$comm"; do
        (( EPOCHSECONDS < deadline )) || die "$comm (pid $pid) did not exit within 60s"
        sleep 0.25
      done
      step "stopped $comm (pid $pid)"
      n=$(( n + 1 ))
    else
      step "$comm (pid $pid) had already exited"
    fi
    forget "$comm"
  done
  (( n )) || step "nothing to stop: this script has no daemon running"
}

# ---- status -----------------------------------------------------------------------------------
status() {
  NODE=$(hostname -s)
  local rc=0 name probe
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    case $name in
      munged) probe=munge_ok ;; mariadbd) probe=mariadb_ok ;; slurmdbd) probe=dbd_ok ;;
      slurmctld) probe=ctld_ok ;; slurmd) probe=node_ok ;;
    esac
    if $probe; then
      if we_started "$name"; then echo "$name: up (started by this script)"; else echo "$name: up"; fi
    else
      echo "$name: down"; rc=3
    fi
  done
  if command -v sinfo > /dev/null; then
    timeout 10 sinfo 2>&1 || true
    timeout 10 sacctmgr -n -P show assoc format=cluster,account,user 2>&1 || true
  fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
