#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for testing profiles/slurm with the real
# snakemake-executor-plugin-slurm: slurmctld and slurmd for one node (this host), munged for
# authentication, and the accounting the plugin reads job states from (`sacct`, which needs
# slurmdbd backed by MariaDB). No systemd: the daemons run in the background, and everything
# (configs, key, state, sockets, logs) lives in one private directory, on private ports.
#
#   tests/slurm/cluster.sh install   install Debian's packages with apt-get (as root)
#   tests/slurm/cluster.sh start     write configs, start, wait for an idle node (installs nothing)
#   tests/slurm/cluster.sh status    exit 0 when the node is up and idle
#   tests/slurm/cluster.sh env       print the export line for Slurm's commands (eval it)
#   tests/slurm/cluster.sh stop      stop the daemons it started (by their pid files)
#
# PL_EVAL_SLURM_DIR   the private directory (default /tmp/pl_eval_slurm)
# PL_EVAL_SLURM_PORT  first of four loopback ports: slurmctld, slurmd, slurmdbd, MariaDB
#                     (default 16817, clear of a system Slurm on 6817-6819)
# Exit status 3 means the cluster cannot be had here: not root (slurmd starts every job as its
# user), or the packages are not installed (start never installs them: `install` does, and CI's
# .ci/run runs it); the slurm tests skip on it, except in CI.
set -euo pipefail

DIR="${PL_EVAL_SLURM_DIR:-/tmp/pl_eval_slurm}"
PORT="${PL_EVAL_SLURM_PORT:-16817}"
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
COMMANDS=(slurmctld slurmd slurmdbd munged mariadbd mariadb-install-db sbatch sacct sacctmgr)
CONF="$DIR/slurm.conf"
RUN="$DIR/run"
LOG="$DIR/log"
MARKER="$DIR/.pl_eval_slurm"  # only a directory holding this is ever removed
# Where Slurm's commands look when SLURM_CONF is unset. The plugin's job step runs the rule
# through `srun` with every SLURM_* variable but a few removed, SLURM_CONF too, so a compute node
# must find its config there (as on a production cluster): start links it to ours, stop unlinks.
SYSTEM_CONF=/etc/slurm/slurm.conf
# Slurm's daemons and commands find this cluster through SLURM_CONF (slurmdbd reads the
# slurmdbd.conf beside it).
export SLURM_CONF="$CONF"

say() { echo "cluster.sh: $*" >&2; }

missing_commands() {
    local cmd
    for cmd in "${COMMANDS[@]}"; do
        PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null || echo "$cmd"
    done
}

install() {
    [[ -z "$(missing_commands)" ]] && return 0
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        say "missing $(missing_commands | tr '\n' ' ')and cannot install ${PACKAGES[*]}" \
            "(needs root and apt-get)"
        exit 3
    fi
    say "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: no mail server or documentation, just the daemons and clients
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

# Wait up to $1 seconds for the command after it to succeed.
wait_for() {
    local seconds=$1
    shift
    local tries=$((seconds * 5))
    until "$@" >/dev/null 2>&1; do
        tries=$((tries - 1))
        if ((tries <= 0)); then
            return 1
        fi
        sleep 0.2
    done
}

node_idle() {
    [[ "$(sinfo --noheader --Node --format=%T 2>/dev/null)" == idle ]]
}

DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)

# The pid of a daemon this script started, if it still runs (its pid file names a live process
# of that program, so a reused pid is never taken for it).
daemon_pid() {
    local pidfile="$RUN/$1.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid=$(<"$pidfile")
    [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1" ]] || return 1
    echo "$pid"
}

status() {
    local name
    for name in "${DAEMONS[@]}"; do
        daemon_pid "$name" >/dev/null || return 1
    done
    node_idle && sacct --noheader --allusers --starttime now >/dev/null 2>&1
}

# Stop the daemons by their pid files: all asked at once, then waited for (10 s each at most).
stop() {
    [[ -d "$RUN" ]] || return 0
    local name pid pids=()
    for name in "${DAEMONS[@]}"; do
        if pid=$(daemon_pid "$name"); then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$RUN/$name.pid"
    done
    for pid in "${pids[@]}"; do
        local tries=50
        while [[ -e "/proc/$pid" ]] && ((tries-- > 0)); do sleep 0.2; done
        if [[ -e "/proc/$pid" ]]; then
            say "process $pid did not stop; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [[ "$(readlink "$SYSTEM_CONF" 2>/dev/null)" == "$CONF" ]]; then
        rm -f "$SYSTEM_CONF"
    fi
}

fail() {
    say "$1 did not start; its log:"
    tail -n 20 "$2" >&2 || true
    stop
    exit 1
}

write_configs() {
    local node memory
    node=$(hostname -s)
    # The node as slurmd sees this machine (CPUs, sockets, cores, threads), with 2 GB of its
    # memory kept back for the daemons and the submitting Snakemake.
    memory=$(awk '/^MemTotal:/ {print int($2 / 1024) - 2048}' /proc/meminfo)
    cat >"$CONF" <<EOF
# Written by tests/slurm/cluster.sh: one node (this host), everything under $DIR.
ClusterName=pleval
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$RUN/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
MailProg=/bin/true
# No cgroups (containers seldom delegate them): processes tracked through /proc, no binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
# Cores and memory are consumable, so --mem and --cpus-per-task requests are scheduled.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Accounting through slurmdbd, as on a production cluster: the plugin polls sacct.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT + 2))
# The munge socket for talking to slurmdbd (else the default /run/munge/munge.socket.2).
AccountingStoragePass=$RUN/munge.socket
# Keep sbatch --comment (the plugin writes rule_<name>_wildcards_<...> there) in sacct.
AccountingStoreFlags=job_comment
$(slurmd -C | head -n 1 | sed "s/RealMemory=[0-9]*/RealMemory=$memory/") NodeAddr=127.0.0.1
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    # slurmdbd reads slurmdbd.conf beside slurm.conf; it holds a password, so mode 600.
    (
        umask 077
        cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$RUN/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=slurm
StoragePass=pl_eval
StorageLoc=slurm_acct_db
EOF
    )
}

start() {
    if status; then
        say "already running ($CONF)"
        return 0
    fi
    if [[ $EUID -ne 0 ]]; then
        say "starting the cluster needs root (slurmd starts every job as its user)"
        exit 3
    fi
    if [[ -n "$(missing_commands)" ]]; then
        say "missing $(missing_commands | tr '\n' ' ')(install ${PACKAGES[*]}: $0 install)"
        exit 3
    fi
    stop
    if [[ -e "$DIR" ]]; then
        [[ -f "$MARKER" ]] || { say "$DIR exists and is not this script's; not touching it"; exit 1; }
        rm -rf "$DIR"
    fi
    # munged wants its key private and its socket's directory open to all.
    mkdir -p "$DIR/munge" "$RUN" "$LOG" "$DIR/state" "$DIR/spool" "$DIR/db"
    touch "$MARKER"
    chmod 755 "$DIR" "$RUN"
    chmod 700 "$DIR/munge"
    PATH="$PATH:/usr/sbin:/sbin"

    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
    munged --key-file="$DIR/munge/munge.key" --socket="$RUN/munge.socket" \
        --pid-file="$RUN/munged.pid" --seed-file="$DIR/munge/munged.seed" \
        --log-file="$LOG/munged.log" || fail munged "$LOG/munged.log"

    mariadb-install-db --no-defaults --user=root --datadir="$DIR/db" --skip-test-db \
        --auth-root-authentication-method=socket >"$LOG/mariadb-install.log" 2>&1 \
        || fail "mariadb-install-db" "$LOG/mariadb-install.log"
    setsid -f mariadbd --no-defaults --user=root --datadir="$DIR/db" \
        --socket="$RUN/mariadb.sock" --pid-file="$RUN/mariadbd.pid" \
        --bind-address=127.0.0.1 --port=$((PORT + 3)) --skip-name-resolve \
        --innodb-buffer-pool-size=64M --log-error="$LOG/mariadb.log" </dev/null >/dev/null 2>&1
    wait_for 30 mariadb-admin --no-defaults --socket="$RUN/mariadb.sock" ping \
        || fail mariadbd "$LOG/mariadb.log"
    mariadb --no-defaults --socket="$RUN/mariadb.sock" -u root -e \
        "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'pl_eval';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || fail mariadbd "$LOG/mariadb.log"

    write_configs
    if [[ -e "$SYSTEM_CONF" && "$(readlink "$SYSTEM_CONF")" != "$CONF" ]]; then
        say "$SYSTEM_CONF exists (another Slurm cluster's?); not replacing it"
        stop
        exit 1
    fi
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -sfn "$CONF" "$SYSTEM_CONF"
    slurmdbd || fail slurmdbd "$LOG/slurmdbd.log"
    wait_for 30 sacctmgr --noheader list cluster || fail slurmdbd "$LOG/slurmdbd.log"
    # slurmctld registers the cluster with slurmdbd itself; slurmd names its node after the host.
    slurmctld || fail slurmctld "$LOG/slurmctld.log"
    slurmd -N "$(hostname -s)" || fail slurmd "$LOG/slurmd.log"
    wait_for 60 node_idle || fail "node $(hostname -s)" "$LOG/slurmd.log"
    wait_for 30 sacct --noheader --allusers --starttime now || fail accounting "$LOG/slurmdbd.log"
    say "up: $(sinfo --noheader --Node --format='%N %c CPUs %m MB %T'); $(env_line)"
}

env_line() {
    echo "export SLURM_CONF=$CONF"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    status) status ;;
    env) env_line ;;
    stop) stop ;;
    *)
        echo "usage: $0 install|start|status|env|stop" >&2
        exit 2
        ;;
esac
