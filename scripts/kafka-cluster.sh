#!/usr/bin/env bash
# A real 3-broker (KAFKA_NODES) Apache Kafka KRaft cluster on 127.0.0.1, for development,
# tests and benchmarks (no Docker). Each node is its own JVM, with its own ports and data dir,
# run by scripts/kafka.sh (which also fetches and caches the jars: nothing is duplicated here).
# Every node is broker and controller; the controllers form one KRaft quorum of KAFKA_NODES
# voters, and all nodes are formatted with one cluster id.
#
#   bash scripts/kafka-cluster.sh up            start every node (in parallel: a node is only
#                                               ready once a quorum of controllers runs), and
#                                               wait until each serves and sees all brokers
#   bash scripts/kafka-cluster.sh down          stop every node (SIGTERM, then SIGKILL after 30 s)
#   bash scripts/kafka-cluster.sh status [--json]
#                                               one line per node (or a JSON object); exit 0
#                                               when every node runs, 3 otherwise
#   bash scripts/kafka-cluster.sh bootstrap     print the bootstrap list (KAFKA_BROKERS)
#   bash scripts/kafka-cluster.sh stop-node N   stop node N cleanly (a planned restart)
#   bash scripts/kafka-cluster.sh kill-node N   SIGKILL node N (a crash)
#   bash scripts/kafka-cluster.sh start-node N  start node N again; ready once it serves and
#                                               sees every running broker
#
# Layout and ports (node i = 1..KAFKA_NODES):
#   client port      KAFKA_PORT + 2(i-1)        controller port  KAFKA_PORT + 2(i-1) + 1
#   node dir         <CLUSTER_DIR>/node-i/kafka/{data/,kafka.log,kafka.pid,server.properties}
#   cluster id       <CLUSTER_DIR>/cluster.id
# With the defaults: brokers 127.0.0.1:9192, :9194, :9196 (controllers 9193, 9195, 9197).
#
# Security as scripts/kafka.sh's (issue 14): every node takes SASL/SCRAM-SHA-512 clients and runs
# the StandardAuthorizer; all nodes are formatted with the same SCRAM users (KAFKA_ADMIN_USER /
# KAFKA_ADMIN_PASSWORD, KAFKA_POS_*, KAFKA_INGEST_*, KAFKA_FORECASTER_*, KAFKA_API_*, passed through to each
# node) and talk to each other as the admin.
#
# Settings that follow from 3 nodes (scripts/kafka.sh derives them from the voter count):
# internal topics (consumer offsets, transaction state) on 3 replicas, min.insync.replicas=2
# by default, unclean leader election off.
#
# Environment:
#   CLUSTER_DIR            where the nodes live     (default: <project root>/.stack/kafka-cluster)
#   KAFKA_NODES            how many nodes           (default: 3)
#   KAFKA_PORT             node 1's client port     (default: 9192, apart from kafka.sh's 9092)
#   KAFKA_HEAP             JVM heap of each node    (default: -Xmx384m -Xms384m)
#   KAFKA_START_TIMEOUT_S  per node, as in kafka.sh (default: 180: three JVMs on a small box)
#   KAFKA_LIBS_DIR         jar cache shared with kafka.sh (default: <project root>/.stack/kafka/libs)
#
# Progress goes to stderr; only `status` and `bootstrap` write to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly KAFKA_SH=$ROOT/scripts/kafka.sh
readonly HOST=127.0.0.1

CLUSTER_DIR=$(realpath -m "${CLUSTER_DIR:-$ROOT/.stack/kafka-cluster}")
KAFKA_NODES=${KAFKA_NODES:-3}
BASE_PORT=${KAFKA_PORT:-9192}
export KAFKA_HEAP=${KAFKA_HEAP:--Xmx384m -Xms384m}
export KAFKA_START_TIMEOUT_S=${KAFKA_START_TIMEOUT_S:-180}
export KAFKA_LIBS_DIR=${KAFKA_LIBS_DIR:-$ROOT/.stack/kafka/libs}

say() { printf 'kafka-cluster.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

[[ $KAFKA_NODES =~ ^[1-9][0-9]*$ ]] || die "KAFKA_NODES must be a positive number (got '$KAFKA_NODES')"
[[ $BASE_PORT =~ ^[0-9]+$ ]] || die "KAFKA_PORT must be a number (got '$BASE_PORT')"

client_port() { echo $((BASE_PORT + 2 * ($1 - 1))); }

voters() {
  local i out=""
  for ((i = 1; i <= KAFKA_NODES; i++)); do out+="${out:+,}$i@$HOST:$(($(client_port "$i") + 1))"; done
  echo "$out"
}

bootstrap() {
  local i out=""
  for ((i = 1; i <= KAFKA_NODES; i++)); do out+="${out:+,}$HOST:$(client_port "$i")"; done
  echo "$out"
}

check_node() {
  [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= KAFKA_NODES)) || die "node must be 1..$KAFKA_NODES (got '$1')"
}

# scripts/kafka.sh acting on node $1, expecting $2 brokers at readiness; the rest are its arguments.
node_sh() {
  local i=$1 expect=$2 port all_voters
  shift 2
  # Computed first: the assignments below are made left to right, and KAFKA_PORT is the base
  # port for voters() but node i's port for kafka.sh.
  port=$(client_port "$i")
  all_voters=$(voters)
  STACK_DIR=$CLUSTER_DIR/node-$i \
    KAFKA_PORT=$port \
    KAFKA_CONTROLLER_PORT=$((port + 1)) \
    KAFKA_NODE_ID=$i \
    KAFKA_QUORUM_VOTERS=$all_voters \
    KAFKA_CLUSTER_ID_FILE=$CLUSTER_DIR/cluster.id \
    KAFKA_EXPECT_BROKERS=$expect \
    bash "$KAFKA_SH" "$@"
}

node_running() { node_sh "$1" 1 status >/dev/null 2>&1; }

# Runs `kafka.sh <cmd>` on every node at once; fails if any of them failed.
all_nodes() {
  local cmd=$1 i failed=0
  local -a pids=()
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    # A pipe, not a process substitution: bash leaves a substitution's fd open in the children,
    # the broker JVM would inherit it, and the prefixing sed would never see its end.
    (node_sh "$i" "$KAFKA_NODES" "$cmd" 2>&1 | sed "s/^/[node $i] /" >&2) &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || {
      say "node $((i + 1)): kafka.sh $cmd failed"
      failed=1
    }
  done
  return "$failed"
}

cmd_up() {
  # The jars and the one cluster id first, so the parallel starts find both ready.
  node_sh 1 "$KAFKA_NODES" fetch
  say "cluster id $(node_sh 1 "$KAFKA_NODES" cluster-id)"
  say "starting $KAFKA_NODES nodes: $(bootstrap)"
  if ! all_nodes up; then
    die "the cluster did not come up (see the node logs under $CLUSTER_DIR/node-*/kafka/kafka.log)"
  fi
  say "ready: $KAFKA_NODES brokers at $(bootstrap)"
}

cmd_down() {
  all_nodes down || die "a node did not stop"
}

cmd_start_node() {
  local n=$1 i running=1
  check_node "$n"
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    ((i != n)) && node_running "$i" && running=$((running + 1))
  done
  node_sh "$n" "$running" up
}

cmd_status() {
  local i json=0 all=0 out
  [[ ${1:-} == --json ]] && json=1
  if ((json)); then
    out=""
    for ((i = 1; i <= KAFKA_NODES; i++)); do
      out+="${out:+,}$(node_sh "$i" 1 status --json || true)"
      node_running "$i" || all=3
    done
    printf '{"running":%s,"bootstrap":"%s","clusterDir":"%s","nodes":[%s]}\n' \
      "$([[ $all == 0 ]] && echo true || echo false)" "$(bootstrap)" "$CLUSTER_DIR" "$out"
  else
    for ((i = 1; i <= KAFKA_NODES; i++)); do
      printf 'node %s: ' "$i"
      node_sh "$i" 1 status || all=3
    done
  fi
  return "$all"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status "${2:-}" ;;
  bootstrap) bootstrap ;;
  stop-node)
    check_node "${2:-}"
    node_sh "$2" 1 down
    ;;
  kill-node)
    check_node "${2:-}"
    node_sh "$2" 1 kill
    ;;
  start-node) cmd_start_node "${2:-}" ;;
  -h | --help | help) usage ;;
  *)
    usage
    exit 2
    ;;
esac
