#!/usr/bin/env bash
# A real, single-node Apache Kafka broker for development and tests (no Docker).
#
#   bash scripts/kafka.sh up        start it (fetches the jars the first time), wait until it serves
#   bash scripts/kafka.sh down      stop it (SIGTERM, up to 30 s for a clean shutdown, then SIGKILL)
#   bash scripts/kafka.sh kill      SIGKILL it at once (a crash, for fault tests)
#   bash scripts/kafka.sh restart   down, then up
#   bash scripts/kafka.sh status [--json]
#                                   one human line (or a JSON object) on stdout;
#                                   exit 0 when running, 3 when not
#   bash scripts/kafka.sh fetch     only fetch the jars (no broker)
#   bash scripts/kafka.sh cluster-id
#                                   print the cluster id, creating KAFKA_CLUSTER_ID_FILE if missing
#
# Apache Kafka's broker jars come from Maven Central through mvn (scripts/kafka/pom.xml) and
# are cached in an ignored folder keyed by the Kafka version and the pom, so only the first
# `up` (or a version bump) runs mvn. The broker is KRaft (broker and controller in one
# process, node id 1), listens on 127.0.0.1 only and keeps its data, log, pid file and
# cluster id under the stack dir. Several brokers can run side by side with different
# STACK_DIR and ports (the test suite runs its own, see test/global-setup.ts).
#
# The same script runs one node of a multi-node cluster: scripts/kafka-cluster.sh sets
# KAFKA_NODE_ID, KAFKA_QUORUM_VOTERS, KAFKA_CLUSTER_ID_FILE and KAFKA_EXPECT_BROKERS per node.
# The replication of the internal topics and min.insync.replicas follow the number of voters.
#
# Environment:
#   STACK_DIR              where the broker lives           (default: <project root>/.stack)
#                          <STACK_DIR>/kafka/{data/,kafka.log,kafka.pid,server.properties,cluster.id}
#   KAFKA_PORT             client (SASL_PLAINTEXT) port          (default: 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port             (default: KAFKA_PORT + 1)
#   KAFKA_HEAP             JVM heap options                  (default: -Xmx512m -Xms512m)
#   KAFKA_START_TIMEOUT_S  how long `up` waits for readiness (default: 120)
#   KAFKA_LIBS_DIR         jar cache                         (default: <STACK_DIR>/kafka/libs;
#                          the test broker shares the dev stack's cache through it). The jars
#                          go to <KAFKA_LIBS_DIR>/<version>-<pom hash>/: a version bump fetches
#                          anew, and a broker still running on the old jars keeps them.
#   KAFKA_VERIFY           1: `up` also checks the broker with a kafkajs describeCluster
#                          when node and kafkajs are installed (default: 1; 0 skips it)
#   KAFKA_NODE_ID          this node's id                    (default: 1)
#   KAFKA_QUORUM_VOTERS    the KRaft voters, id@host:controllerPort,...
#                          (default: this node alone). With 3+ voters the internal topics
#                          get 3 replicas and min.insync.replicas defaults to 2.
#   KAFKA_CLUSTER_ID_FILE  the cluster id (shared by every node of a cluster)
#                          (default: <STACK_DIR>/kafka/cluster.id)
#   KAFKA_EXPECT_BROKERS   readiness: describeCluster through this node must see at least
#                          this many brokers, this node among them (default: 1)
#   JAVA_HOME              the JVM to use (default: java on PATH; Java 17 expected)
#
# Security (issue 14): the client port is a SASL_PLAINTEXT listener that takes SCRAM-SHA-512
# only; the KRaft StandardAuthorizer denies whatever no ACL allows
# (allow.everyone.if.no.acl.found=false), and only the admin principal is a super user. Brokers
# talk to each other on the client listener as the admin (SCRAM); the controller listener takes
# SASL/PLAIN with the admin's credentials from server.properties (KRaft controllers cannot check
# SCRAM: its credentials live in the metadata they serve). The SCRAM users (admin and one per
# role) are created when the storage is formatted (`kafka-storage format --add-scram`); the ACLs
# are tillcast's (lib/kafka-principals.ts, applied by `tillcast init` / `tillcast start`). A storage
# formatted with other credentials (or before SCRAM) is formatted anew: this broker is local and
# disposable (its topics are created again at start). server.properties (it holds the admin
# password) is readable by its owner only. Passwords: letters, digits and ._~+/@%:^- only (they
# go into JAAS and --add-scram syntax unquoted-safe).
#   KAFKA_ADMIN_USER / KAFKA_ADMIN_PASSWORD          super user (default tillcast-admin / dev password)
#   KAFKA_POS_USER / KAFKA_POS_PASSWORD              POS producers (tillcast-pos)
#   KAFKA_INGEST_USER / KAFKA_INGEST_PASSWORD        ingest (tillcast-ingest)
#   KAFKA_FORECASTER_USER / KAFKA_FORECASTER_PASSWORD  forecaster and trainer (tillcast-forecaster)
#   KAFKA_API_USER / KAFKA_API_PASSWORD              the API's branch calendar changes (tillcast-api)
# The default passwords are the development ones of lib/config.ts (DEV_KAFKA_PASSWORDS,
# kept equal by test/integration/kafka-security.test.ts); tillcast refuses them in production.
#
# Readiness: not an open port (KRaft opens its listeners before the broker is unfenced), but
# the broker's own "Kafka Server started" log line from this start (the log is rotated at
# every start), the client port answering and, unless KAFKA_VERIFY=0, a kafkajs
# describeCluster that sees the broker. On timeout `up` prints the log's last 40 lines,
# stops what it started and exits non-zero.
#
# Progress goes to stderr; only `status` writes to stdout.
set -euo pipefail

readonly KAFKA_VERSION=3.9.2
readonly HOST=127.0.0.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly POM=$ROOT/scripts/kafka/pom.xml
readonly LOG4J=$ROOT/scripts/kafka/log4j.properties

STACK_DIR=$(realpath -m "${STACK_DIR:-$ROOT/.stack}")
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_HEAP=${KAFKA_HEAP:--Xmx512m -Xms512m}
KAFKA_START_TIMEOUT_S=${KAFKA_START_TIMEOUT_S:-120}
KAFKA_VERIFY=${KAFKA_VERIFY:-1}
NODE_ID=${KAFKA_NODE_ID:-1}
KAFKA_EXPECT_BROKERS=${KAFKA_EXPECT_BROKERS:-1}
KDIR=$STACK_DIR/kafka
LIBS_ROOT=$(realpath -m "${KAFKA_LIBS_DIR:-$KDIR/libs}")
LIBS=$LIBS_ROOT/$KAFKA_VERSION-$(sha256sum "$POM" | cut -c1-12)
DATA=$KDIR/data
LOG=$KDIR/kafka.log
PIDFILE=$KDIR/kafka.pid
PROPS=$KDIR/server.properties
CLUSTER_ID_FILE=$(realpath -m "${KAFKA_CLUSTER_ID_FILE:-$KDIR/cluster.id}")
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
SCRAM_FILE=$KDIR/scram.sha256

# The principals (see Security above). Defaults: the development credentials.
ADMIN_USER=${KAFKA_ADMIN_USER:-tillcast-admin}
ADMIN_PASSWORD=${KAFKA_ADMIN_PASSWORD:-tillcast-admin-dev-password}
POS_USER=${KAFKA_POS_USER:-tillcast-pos}
POS_PASSWORD=${KAFKA_POS_PASSWORD:-tillcast-pos-dev-password}
INGEST_USER=${KAFKA_INGEST_USER:-tillcast-ingest}
INGEST_PASSWORD=${KAFKA_INGEST_PASSWORD:-tillcast-ingest-dev-password}
FORECASTER_USER=${KAFKA_FORECASTER_USER:-tillcast-forecaster}
FORECASTER_PASSWORD=${KAFKA_FORECASTER_PASSWORD:-tillcast-forecaster-dev-password}
API_USER=${KAFKA_API_USER:-tillcast-api}
API_PASSWORD=${KAFKA_API_PASSWORD:-tillcast-api-dev-password}

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_START_TIMEOUT_S NODE_ID KAFKA_EXPECT_BROKERS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number (got '${!v}')"
done
((KAFKA_PORT != KAFKA_CONTROLLER_PORT)) || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
for v in ADMIN_USER POS_USER INGEST_USER FORECASTER_USER API_USER; do
  [[ ${!v} =~ ^[A-Za-z0-9._-]+$ ]] || die "KAFKA_$v must be letters, digits, '.', '_' or '-' (got '${!v}')"
done
for v in ADMIN_PASSWORD POS_PASSWORD INGEST_PASSWORD FORECASTER_PASSWORD API_PASSWORD; do
  # Never echoed: only the variable's name.
  [[ ${!v} =~ ^[A-Za-z0-9._~+/@%:^-]{8,}$ ]] ||
    die "KAFKA_$v must be 8+ letters, digits or ._~+/@%:^- (it goes into JAAS and --add-scram unquoted)"
done
VOTERS=${KAFKA_QUORUM_VOTERS:-$NODE_ID@$HOST:$KAFKA_CONTROLLER_PORT}
[[ $VOTERS =~ ^[0-9]+@[^,@]+:[0-9]+(,[0-9]+@[^,@]+:[0-9]+)*$ ]] ||
  die "KAFKA_QUORUM_VOTERS must be id@host:port,... (got '$VOTERS')"
[[ ,$VOTERS, == *",$NODE_ID@$HOST:$KAFKA_CONTROLLER_PORT,"* ]] ||
  die "KAFKA_QUORUM_VOTERS ($VOTERS) must list this node as $NODE_ID@$HOST:$KAFKA_CONTROLLER_PORT"
VOTER_COUNT=$(tr ',' '\n' <<<"$VOTERS" | wc -l)
# Three or more nodes: internal topics on 3 replicas, and an acks=all write needs 2 of them, so
# losing one broker loses nothing and stops nothing. Fewer: everything on what there is.
if ((VOTER_COUNT >= 3)); then
  INTERNAL_RF=3
  MIN_ISR=2
else
  INTERNAL_RF=$VOTER_COUNT
  MIN_ISR=1
fi

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- process and port checks -------------------------------------------------------------

# The pid in the pid file, or nothing.
read_pid() {
  if [[ -f $PIDFILE ]]; then tr -dc '0-9' <"$PIDFILE"; fi
}

# Alive, not a zombie, and really this stack's broker (pids get reused).
is_our_broker() {
  local pid=$1 stat args
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  stat=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
  [[ $stat != Z* ]] || return 1
  args=$(ps -o args= -ww -p "$pid" 2>/dev/null) || return 1
  [[ $args == *kafka.Kafka* && $args == *"$PROPS"* ]]
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# --- jars ----------------------------------------------------------------------------------

jar_has() { # jar, entry (no grep -q: an early exit would SIGPIPE the lister and fail pipefail)
  if command -v unzip >/dev/null; then
    unzip -Z1 "$1" 2>/dev/null | grep -xF "$2" >/dev/null
  else
    jar tf "$1" 2>/dev/null | grep -xF "$2" >/dev/null
  fi
}

fetch_libs() {
  local stamp want tmp t0 core old
  want="kafka_2.13 $KAFKA_VERSION $(basename "$LIBS")"
  stamp=$LIBS/.fetched # written last: its presence means a complete, verified fetch
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0

  mkdir -p "$LIBS_ROOT"
  # Stacks sharing a jar cache (KAFKA_LIBS_DIR) must not fetch into it at the same time.
  exec 8>"$LIBS_ROOT/.lock"
  flock -w 900 8 || die "timed out waiting for another fetch into $LIBS_ROOT"
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    exec 8>&-
    return 0
  fi

  command -v mvn >/dev/null || die "mvn not found: install Maven 3.8+ (the broker jars come from Maven Central)"
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central with mvn into $LIBS"
  say "(first time only, or after a version bump: this can take a minute or two)"
  t0=$(now)
  tmp=$LIBS.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" >"$tmp.mvn.log" 2>&1; then
    cat "$tmp.mvn.log" >&2
    rm -rf "$tmp" "$tmp.mvn.log"
    die "mvn could not fetch the Kafka jars (output above)"
  fi
  rm -f "$tmp.mvn.log"
  core=$tmp/kafka_2.13-$KAFKA_VERSION.jar
  [[ -f $core ]] || die "mvn did not deliver $(basename "$core")"
  jar_has "$core" kafka/Kafka.class || die "kafka.Kafka is not in $(basename "$core")"
  jar_has "$core" kafka/tools/StorageTool.class || die "kafka.tools.StorageTool is not in $(basename "$core")"
  compgen -G "$tmp/reload4j-*.jar" >/dev/null || die "reload4j missing from the fetched jars"
  printf '%s\n' "$want" >"$tmp/.fetched"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  # Other versions go, unless a running broker (of any stack) still uses them.
  for old in "$LIBS_ROOT"/*/; do
    old=${old%/}
    [[ $old == "$LIBS" ]] && continue
    if pgrep -f -- "$old/" >/dev/null; then
      say "keeping $old: a running process uses it"
    else
      rm -rf "$old"
    fi
  done
  exec 8>&-
  say "fetched $(compgen -G "$LIBS/*.jar" | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $(since "$t0")s"
}

# --- configuration -------------------------------------------------------------------------

write_server_properties() {
  # It holds the admin password: its owner's only.
  (umask 077 && : >"$PROPS.tmp")
  cat >"$PROPS.tmp" <<EOF
# Generated by scripts/kafka.sh at every start: edit the script, not this file.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$VOTERS
listeners=CLIENT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=CLIENT://$HOST:$KAFKA_PORT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT

# Clients and brokers: SCRAM-SHA-512 (users created by kafka-storage format --add-scram).
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$ADMIN_PASSWORD";
# Controllers: PLAIN, the admin only (SCRAM credentials live in the metadata the controllers serve).
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$ADMIN_USER" password="$ADMIN_PASSWORD" user_$ADMIN_USER="$ADMIN_PASSWORD";
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN

# Whatever no ACL allows is denied; the admin (brokers, controllers, tillcast init) may do anything.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$ADMIN_USER
log.dirs=$DATA

# $VOTER_COUNT node(s): internal topics on $INTERNAL_RF replica(s); an acks=all write needs $MIN_ISR in sync.
offsets.topic.replication.factor=$INTERNAL_RF
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$INTERNAL_RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=4
default.replication.factor=$INTERNAL_RF
min.insync.replicas=$MIN_ISR
# A replica that was not in sync never becomes leader: that would silently drop acknowledged writes.
unclean.leader.election.enable=false

# Topics are created explicitly (lib/topics.ts), never by a typo in a producer.
auto.create.topics.enable=false
num.partitions=1
# Consumers join at once (tests start and stop many groups).
group.initial.rebalance.delay.ms=0
# After a crash (SIGKILL), the controller keeps the dead incarnation's registration until its
# session expires and only then admits the restarted broker: 6 s instead of the default 9 s.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000

# A small dev box: modest threads, segments and retention.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.segment.bytes=67108864
log.retention.hours=168
log.retention.bytes=1073741824
log.retention.check.interval.ms=300000
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.threads=1
EOF
  mv "$PROPS.tmp" "$PROPS"
}

# Creates the cluster id file when missing. Under a lock: the nodes of a cluster share the file,
# and all of them must be formatted with the same id.
ensure_cluster_id() {
  local id
  mkdir -p "$(dirname "$CLUSTER_ID_FILE")"
  exec 7>"$CLUSTER_ID_FILE.lock"
  flock -w 120 7 || die "timed out waiting for the lock on $CLUSTER_ID_FILE"
  if [[ ! -s $CLUSTER_ID_FILE ]]; then
    id=$("$JAVA" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 | tr -d '[:space:]')
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not generate a cluster id (got '$id')"
    printf '%s\n' "$id" >"$CLUSTER_ID_FILE"
  fi
  exec 7>&-
}

# A digest of the SCRAM users and passwords (not the passwords): a storage formatted with others
# (or with none, before issue 14) is formatted anew.
scram_digest() {
  printf '%s\n' "$ADMIN_USER" "$ADMIN_PASSWORD" "$POS_USER" "$POS_PASSWORD" "$INGEST_USER" \
    "$INGEST_PASSWORD" "$FORECASTER_USER" "$FORECASTER_PASSWORD" "$API_USER" "$API_PASSWORD" | sha256sum | cut -d' ' -f1
}

ensure_formatted() {
  local id out digest
  digest=$(scram_digest)
  if [[ -f $DATA/meta.properties ]]; then
    [[ -f $SCRAM_FILE && $(<"$SCRAM_FILE") == "$digest" ]] && return 0
    say "the storage in $DATA was formatted with other (or no) SCRAM credentials: formatting it anew (its topics and offsets are lost)"
    rm -rf "$DATA"
    mkdir -p "$DATA"
  fi
  rm -f "$SCRAM_FILE"
  ensure_cluster_id
  id=$(tr -d '[:space:]' <"$CLUSTER_ID_FILE")
  say "formatting storage in $DATA (cluster id $id) with SCRAM-SHA-512 users $ADMIN_USER, $POS_USER, $INGEST_USER, $FORECASTER_USER, $API_USER"
  # The passwords are in this command line for the second it runs (kafka-storage takes them no
  # other way); its output is shown only on failure, and it never prints them.
  if ! out=$("$JAVA" -Dlog4j.configuration="file:$LOG4J" -Dkafka.logs.dir="$KDIR" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$id" -c "$PROPS" --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=$ADMIN_USER,password=$ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$POS_USER,password=$POS_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$INGEST_USER,password=$INGEST_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$FORECASTER_USER,password=$FORECASTER_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$API_USER,password=$API_PASSWORD]" 2>&1); then
    printf '%s\n' "$out" >&2
    die "formatting the storage failed"
  fi
  printf '%s\n' "$digest" >"$SCRAM_FILE"
}

# --- readiness -----------------------------------------------------------------------------

# describeCluster through kafkajs, as the application will talk to the broker.
verify_with_kafkajs() {
  [[ $KAFKA_VERIFY == 1 ]] || return 0
  command -v node >/dev/null && [[ -d $ROOT/node_modules/kafkajs ]] || return 0
  KAFKAJS="$ROOT/node_modules/kafkajs" BROKER="$HOST:$KAFKA_PORT" NODE_ID="$NODE_ID" \
    EXPECT="$KAFKA_EXPECT_BROKERS" SASL_USER="$ADMIN_USER" SASL_PASSWORD="$ADMIN_PASSWORD" timeout 20 node -e '
    const { Kafka, logLevel } = require(process.env.KAFKAJS);
    const sasl = { mechanism: "scram-sha-512", username: process.env.SASL_USER, password: process.env.SASL_PASSWORD };
    const kafka = new Kafka({ clientId: "kafka.sh", brokers: [process.env.BROKER], sasl, logLevel: logLevel.NOTHING,
      connectionTimeout: 3000, requestTimeout: 5000, retry: { retries: 0 } });
    const admin = kafka.admin();
    admin.connect()
      .then(() => admin.describeCluster())
      .then((c) => {
        if (c.controller === null) throw new Error("no controller yet");
        if (c.brokers.length < Number(process.env.EXPECT)) throw new Error("not every broker registered yet");
        if (!c.brokers.some((b) => b.nodeId === Number(process.env.NODE_ID))) throw new Error("this node is not registered yet");
      })
      .then(() => admin.disconnect())
      .then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
  ' >/dev/null 2>&1
}

fail_start() { # pid, reason
  say "error: $2"
  if [[ -s $LOG ]]; then
    say "last 40 lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
  else
    say "$LOG is still empty (the JVM had not logged anything yet)"
  fi
  if is_our_broker "$1"; then
    say "stopping the half-started broker (pid $1)"
    stop_pid "$1" 10
  fi
  rm -f "$PIDFILE"
  exit 1
}

wait_ready() { # pid, t0
  local pid=$1 deadline=$((SECONDS + KAFKA_START_TIMEOUT_S)) logged=0
  while :; do
    is_our_broker "$pid" || fail_start "$pid" "the broker exited during start-up"
    if grep -qF 'Kafka Server started' "$LOG" 2>/dev/null && port_open "$KAFKA_PORT"; then
      if ((logged == 0)); then
        say "broker reports 'Kafka Server started' after $(since "$2")s$([[ $KAFKA_VERIFY == 1 ]] && echo '; checking it with kafkajs')"
        logged=1
      fi
      verify_with_kafkajs && return 0
    fi
    ((SECONDS < deadline)) || fail_start "$pid" "the broker was not ready within ${KAFKA_START_TIMEOUT_S}s (KAFKA_START_TIMEOUT_S)"
    sleep 0.2
  done
}

# --- commands ------------------------------------------------------------------------------

stop_pid() { # pid, seconds before SIGKILL
  local pid=$1 grace=$2 deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + grace))
  while is_our_broker "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if is_our_broker "$pid"; then
    say "pid $pid did not stop within ${grace}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while is_our_broker "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  fi
}

lock_stack() {
  mkdir -p "$KDIR"
  exec 9>"$KDIR/.lock"
  flock -w 600 9 || die "another kafka.sh is busy with $KDIR"
}

cmd_up() {
  local pid t0
  lock_stack
  pid=$(read_pid)
  if is_our_broker "$pid" && ! [[ -f $SCRAM_FILE && $(<"$SCRAM_FILE") == "$(scram_digest)" ]]; then
    say "pid $pid runs with other (or no) SCRAM credentials: restarting it with these"
    stop_pid "$pid" 30
    is_our_broker "$pid" && die "pid $pid is still there after SIGKILL"
  fi
  if is_our_broker "$pid"; then
    if port_open "$KAFKA_PORT"; then
      say "already running: pid $pid on $HOST:$KAFKA_PORT (version $KAFKA_VERSION)"
      return 0
    fi
    say "pid $pid is alive but $HOST:$KAFKA_PORT does not answer yet: waiting for it"
    wait_ready "$pid" "$(now)"
    say "running: pid $pid on $HOST:$KAFKA_PORT"
    return 0
  fi
  if [[ -n $pid ]]; then
    say "removing stale pid file (pid $pid is gone, or no longer this stack's broker)"
  fi
  rm -f "$PIDFILE"
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_open "$p" && die "$HOST:$p is already in use by another process (not the broker of $STACK_DIR): pick other KAFKA_PORT / KAFKA_CONTROLLER_PORT, or stop it"
  done
  command -v "$JAVA" >/dev/null || die "java not found: install Java 17 (or set JAVA_HOME)"

  fetch_libs
  mkdir -p "$DATA"
  write_server_properties
  ensure_formatted

  # A fresh log per start: readiness looks for this start's "Kafka Server started".
  [[ -f $LOG ]] && mv -f "$LOG" "$LOG.prev"
  : >"$LOG"
  say "starting Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), stack $KDIR, log $LOG"
  t0=$(now)
  # setsid: the broker outlives this script and its caller's process group (a Ctrl-C in the
  # terminal that ran `up` does not take it down). The wrapper writes its own pid, then execs
  # java, so the pid file holds the JVM's pid. fd 9 (the stack lock) is not inherited.
  # shellcheck disable=SC2086,SC2016 # KAFKA_HEAP is a list of JVM options; $$ is the wrapper's
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    "$JAVA" $KAFKA_HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J" -Dkafka.logs.dir="$KDIR" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOG" 2>&1 9>&- &
  # The pid file appears as soon as the wrapper runs.
  for _ in $(seq 50); do
    pid=$(read_pid)
    [[ -n $pid ]] && break
    sleep 0.1
  done
  [[ -n $pid ]] || die "the broker process did not start"
  wait_ready "$pid" "$t0"
  say "ready: pid $pid on $HOST:$KAFKA_PORT (version $KAFKA_VERSION) in $(since "$t0")s"
}

cmd_down() {
  local pid t0
  lock_stack
  pid=$(read_pid)
  if ! is_our_broker "$pid"; then
    [[ -n $pid ]] && say "removing stale pid file (pid $pid is gone, or no longer this stack's broker)"
    rm -f "$PIDFILE"
    say "not running ($KDIR)"
    return 0
  fi
  say "stopping pid $pid (SIGTERM, up to 30s for a clean shutdown)"
  t0=$(now)
  stop_pid "$pid" 30
  if is_our_broker "$pid"; then
    die "pid $pid is still there after SIGKILL"
  fi
  rm -f "$PIDFILE"
  say "stopped in $(since "$t0")s"
}

cmd_kill() {
  local pid
  lock_stack
  pid=$(read_pid)
  if ! is_our_broker "$pid"; then
    rm -f "$PIDFILE"
    say "not running ($KDIR)"
    return 0
  fi
  say "SIGKILL pid $pid (node $NODE_ID)"
  kill -KILL "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while is_our_broker "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  is_our_broker "$pid" && die "pid $pid is still there after SIGKILL"
  rm -f "$PIDFILE"
}

json_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

cmd_status() {
  local json=0 pid state cluster_id=""
  [[ ${1:-} == --json ]] && json=1
  pid=$(read_pid)
  if is_our_broker "$pid"; then
    if port_open "$KAFKA_PORT"; then state=running; else state=starting; fi
  else
    state=stopped
    pid=""
  fi
  [[ -s $CLUSTER_ID_FILE ]] && cluster_id=$(tr -d '[:space:]' <"$CLUSTER_ID_FILE")
  if ((json)); then
    printf '{"state":%s,"running":%s,"pid":%s,"nodeId":%s,"host":%s,"port":%s,"controllerPort":%s,"brokers":%s,"version":%s,"clusterId":%s,"stackDir":%s,"log":%s}\n' \
      "$(json_str "$state")" "$([[ $state == running ]] && echo true || echo false)" "${pid:-null}" "$NODE_ID" \
      "$(json_str "$HOST")" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$(json_str "$HOST:$KAFKA_PORT")" \
      "$(json_str "$KAFKA_VERSION")" "$([[ -n $cluster_id ]] && json_str "$cluster_id" || echo null)" \
      "$(json_str "$KDIR")" "$(json_str "$LOG")"
  else
    case $state in
      running) echo "kafka: running pid $pid on $HOST:$KAFKA_PORT (version $KAFKA_VERSION)" ;;
      starting) echo "kafka: starting pid $pid, $HOST:$KAFKA_PORT not answering yet (version $KAFKA_VERSION)" ;;
      stopped) echo "kafka: stopped" ;;
    esac
  fi
  [[ $state == running ]] && return 0 || return 3
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  kill) cmd_kill ;;
  fetch) fetch_libs ;;
  cluster-id)
    command -v "$JAVA" >/dev/null || die "java not found: install Java 17 (or set JAVA_HOME)"
    fetch_libs
    ensure_cluster_id
    tr -d '[:space:]' <"$CLUSTER_ID_FILE"
    echo
    ;;
  restart)
    cmd_down
    exec 9>&-
    cmd_up
    ;;
  status) cmd_status "${2:-}" ;;
  -h | --help | help) usage ;;
  *)
    usage
    exit 2
    ;;
esac
