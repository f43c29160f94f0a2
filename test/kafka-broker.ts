/**
 * The test broker and helpers around it. The test suite runs its own broker
 * (STACK_DIR=<project>/.stack/test, port 19092 or TEST_KAFKA_PORT), apart from
 * a developer's broker on 9092: test/global-setup.ts starts it.
 *
 * Fault tests stop and start a broker with stopBroker()/startBroker(). Jest runs
 * test files in parallel against the shared broker, so a test that stops a broker
 * should use one of its own, `dedicatedBroker(name, port)`, rather than pull the
 * shared one from under the other files' tests. `kafkaCluster(name, basePort)` is a
 * 3-broker cluster of a test's or benchmark's own (scripts/kafka-cluster.sh).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/config';

const KAFKA_SH = path.join(PROJECT_ROOT, 'scripts', 'kafka.sh');

/** Which broker scripts/kafka.sh acts on. */
export interface BrokerTarget {
  stackDir: string;
  port: number;
}

export const TEST_STACK_DIR = path.join(PROJECT_ROOT, '.stack', 'test');

export function testBrokerPort(): number {
  const port = Number(process.env.TEST_KAFKA_PORT ?? 19092);
  if (!Number.isInteger(port) || port < 1 || port > 65534)
    throw new Error(`TEST_KAFKA_PORT must be a port number (got ${process.env.TEST_KAFKA_PORT})`);
  return port;
}

/** Bootstrap address of the shared test broker, as KAFKA_BROKERS. */
export function testBrokerAddress(): string {
  return `127.0.0.1:${testBrokerPort()}`;
}

/** The broker the global setup starts and every test file shares. */
export function sharedTestBroker(): BrokerTarget {
  return { stackDir: TEST_STACK_DIR, port: testBrokerPort() };
}

/**
 * A broker of a fault test's own: .stack/test-<name>, the given port (and port + 1 for its
 * controller). Start it with startBroker(target), stop it with stopBroker(target) in afterAll.
 */
export function dedicatedBroker(name: string, port: number): BrokerTarget & { address: string } {
  return { stackDir: path.join(PROJECT_ROOT, '.stack', `test-${name}`), port, address: `127.0.0.1:${port}` };
}

/**
 * The SCRAM users of every test broker and cluster (scripts/kafka.sh creates them at format time).
 * Not the development passwords: tests run NODE_ENV=production configs too, which refuse those.
 * Test-only secrets, also what a secrets test greps the logs for.
 */
export const TEST_KAFKA_USERS = Object.freeze({
  admin: { user: 'tillcast-admin', password: 'test-admin-6d1f0b9e' },
  pos: { user: 'tillcast-pos', password: 'test-pos-2a7c4e81' },
  ingest: { user: 'tillcast-ingest', password: 'test-ingest-93b5d0f2' },
  forecaster: { user: 'tillcast-forecaster', password: 'test-forecaster-5e8a17c3' },
  api: { user: 'tillcast-api', password: 'test-api-c41d9e26' },
});

/** scripts/kafka.sh's principals for a test broker or cluster (never a developer's exported ones). */
export function testBrokerCredentialsEnv(): Record<string, string> {
  const u = TEST_KAFKA_USERS;
  return {
    KAFKA_ADMIN_USER: u.admin.user,
    KAFKA_ADMIN_PASSWORD: u.admin.password,
    KAFKA_POS_USER: u.pos.user,
    KAFKA_POS_PASSWORD: u.pos.password,
    KAFKA_INGEST_USER: u.ingest.user,
    KAFKA_INGEST_PASSWORD: u.ingest.password,
    KAFKA_FORECASTER_USER: u.forecaster.user,
    KAFKA_FORECASTER_PASSWORD: u.forecaster.password,
    KAFKA_API_USER: u.api.user,
    KAFKA_API_PASSWORD: u.api.password,
  };
}

/**
 * What a test's clients authenticate with (the global setup exports it to every worker and the
 * CLI children inherit it): the admin, a super user, so tests with isolated topics need no ACLs;
 * no role password, so every role of a test process uses it too. test/integration/kafka-security.test.ts
 * runs the roles under their own principals.
 */
export function testKafkaClientEnv(): Record<string, string> {
  return {
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: TEST_KAFKA_USERS.admin.user,
    KAFKA_SASL_PASSWORD: TEST_KAFKA_USERS.admin.password,
    KAFKA_ADMIN_USER: TEST_KAFKA_USERS.admin.user,
  };
}

/**
 * Environment for scripts/kafka.sh acting on a test broker (the shared one by default). Sets
 * every variable a developer may have exported for their own broker, so the two never collide,
 * and shares the default stack's jar cache, so the jars are fetched once per machine.
 */
export function testBrokerEnv(target: BrokerTarget = sharedTestBroker()): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...testBrokerCredentialsEnv(),
    STACK_DIR: target.stackDir,
    KAFKA_PORT: String(target.port),
    KAFKA_CONTROLLER_PORT: String(target.port + 1),
    KAFKA_LIBS_DIR: process.env.KAFKA_LIBS_DIR ?? path.join(PROJECT_ROOT, '.stack', 'kafka', 'libs'),
  };
}

export interface ScriptOptions {
  /** Default: the shared test broker. */
  target?: BrokerTarget;
  /** Also copy the script's progress lines to this process's stderr. */
  echo?: boolean;
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bash scripts/kafka.sh <args>` without blocking the event loop (a test's clients keep
 * running while the broker stops or starts).
 */
export function kafkaScript(args: string[], opts: ScriptOptions = {}): Promise<ScriptResult> {
  return runScript(KAFKA_SH, args, testBrokerEnv(opts.target), opts.echo ?? false);
}

function runScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  echo: boolean,
): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (echo) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function mustRun(args: string[], opts: ScriptOptions): Promise<ScriptResult> {
  const r = await kafkaScript(args, opts);
  if (r.code !== 0)
    throw new Error(`scripts/kafka.sh ${args.join(' ')} exited with ${r.code}:\n${r.stderr.trim()}`);
  return r;
}

/** Starts a test broker (no-op when it runs) and resolves once it serves clients. */
export async function startBroker(opts: ScriptOptions = {}): Promise<void> {
  await mustRun(['up'], opts);
}

/** Stops a test broker cleanly (SIGTERM; SIGKILL after 30 s); no-op when it is stopped. */
export async function stopBroker(opts: ScriptOptions = {}): Promise<void> {
  await mustRun(['down'], opts);
}

export interface BrokerStatus {
  state: 'running' | 'starting' | 'stopped';
  running: boolean;
  pid: number | null;
  host: string;
  port: number;
  controllerPort: number;
  brokers: string;
  version: string;
  clusterId: string | null;
  stackDir: string;
  log: string;
}

/** `scripts/kafka.sh status --json` for a test broker. */
export async function brokerStatus(opts: ScriptOptions = {}): Promise<BrokerStatus> {
  const r = await kafkaScript(['status', '--json'], opts);
  if (r.code !== 0 && r.code !== 3)
    throw new Error(`scripts/kafka.sh status exited with ${r.code}:\n${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as BrokerStatus;
}

// ---------------------------------------------------------------- a multi-broker cluster

const KAFKA_CLUSTER_SH = path.join(PROJECT_ROOT, 'scripts', 'kafka-cluster.sh');

export interface ClusterNodeStatus extends BrokerStatus {
  nodeId: number;
}

export interface ClusterStatus {
  /** Every node runs. */
  running: boolean;
  bootstrap: string;
  clusterDir: string;
  nodes: ClusterNodeStatus[];
}

/**
 * A real KRaft cluster of separate broker processes on 127.0.0.1 (scripts/kafka-cluster.sh):
 * node i (1-based) serves clients on basePort + 2(i-1) and its controller on the port after.
 * Every method runs the script without blocking the event loop, so a test's clients keep
 * working while a node dies or comes back.
 *
 *   const cluster = kafkaCluster('leader-kill', 19400);
 *   await cluster.wipe();                  // optional: a fresh cluster (no node may run)
 *   await cluster.start();                 // all nodes, ready once each sees every broker
 *   config KAFKA_BROKERS = cluster.bootstrap
 *   await cluster.killNode(2);             // SIGKILL: a crash
 *   await cluster.startNode(2);            // back, ready once it is registered again
 *   await cluster.stop();                  // afterAll
 */
export interface KafkaCluster {
  /** .stack/test-cluster-<name>: node dirs and the shared cluster id. */
  readonly clusterDir: string;
  readonly basePort: number;
  readonly nodeIds: readonly number[];
  /** "127.0.0.1:p1,127.0.0.1:p2,..." (KAFKA_BROKERS). */
  readonly bootstrap: string;
  /** One address per node, in node order. */
  readonly brokers: readonly string[];
  /** Client port of a node (its broker id in metadata is the node id). */
  nodePort(nodeId: number): number;
  /** Starts every node (no-op for those running); resolves once each serves and sees all brokers. */
  start(): Promise<void>;
  /** Stops every node cleanly (SIGTERM, SIGKILL after 30 s). */
  stop(): Promise<void>;
  /** SIGKILLs one node (a crash: no controlled shutdown, no leadership handed over). */
  killNode(nodeId: number): Promise<void>;
  /** Stops one node cleanly. */
  stopNode(nodeId: number): Promise<void>;
  /** Starts one node again; resolves once it serves and is registered with the controller. */
  startNode(nodeId: number): Promise<void>;
  status(): Promise<ClusterStatus>;
  /** Deletes every node's data (topics, offsets, KRaft metadata) and the cluster id; refuses while a node runs. */
  wipe(): Promise<void>;
}

export interface KafkaClusterOptions {
  /** Default 3. */
  nodes?: number;
  /** Copy the script's progress lines to stderr. */
  echo?: boolean;
  /** JVM heap of each node (default: the script's -Xmx384m -Xms384m). */
  heap?: string;
}

/**
 * A cluster of a test's (or benchmark's) own, in .stack/test-cluster-<name>, on ports
 * basePort .. basePort + 2 * nodes - 1. The jars come from the shared cache, as for test brokers.
 */
export function kafkaCluster(name: string, basePort: number, opts: KafkaClusterOptions = {}): KafkaCluster {
  const nodes = opts.nodes ?? 3;
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`a cluster needs 1+ nodes (got ${nodes})`);
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + 2 * nodes - 1 > 65535)
    throw new Error(`no room for ${nodes} nodes from port ${basePort}`);
  const clusterDir = path.join(PROJECT_ROOT, '.stack', `test-cluster-${name}`);
  const nodeIds = Array.from({ length: nodes }, (_, i) => i + 1);
  const checkNode = (id: number) => {
    if (!nodeIds.includes(id)) throw new Error(`no node ${id} in a ${nodes}-node cluster`);
    return id;
  };
  const nodePort = (id: number) => basePort + 2 * (checkNode(id) - 1);
  const nodeArg = (id: number) => String(checkNode(id));
  const brokers = nodeIds.map((id) => `127.0.0.1:${nodePort(id)}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CLUSTER_DIR: clusterDir,
    KAFKA_NODES: String(nodes),
    KAFKA_PORT: String(basePort),
    KAFKA_LIBS_DIR: process.env.KAFKA_LIBS_DIR ?? path.join(PROJECT_ROOT, '.stack', 'kafka', 'libs'),
    ...testBrokerCredentialsEnv(),
    ...(opts.heap ? { KAFKA_HEAP: opts.heap } : {}),
  };
  // Variables a developer may have set for their own single broker must not reach the nodes.
  for (const k of ['STACK_DIR', 'KAFKA_CONTROLLER_PORT', 'KAFKA_NODE_ID', 'KAFKA_QUORUM_VOTERS'])
    delete env[k];
  delete env.KAFKA_CLUSTER_ID_FILE;
  delete env.KAFKA_EXPECT_BROKERS;
  const status = async () => JSON.parse((await run(['status', '--json'], [0, 3])).stdout) as ClusterStatus;
  const run = async (args: string[], okCodes: number[] = [0]) => {
    const r = await runScript(KAFKA_CLUSTER_SH, args, env, opts.echo ?? false);
    if (!okCodes.includes(r.code))
      throw new Error(
        `scripts/kafka-cluster.sh ${args.join(' ')} exited with ${r.code}:\n${r.stderr.trim()}`,
      );
    return r;
  };
  return {
    clusterDir,
    basePort,
    nodeIds,
    bootstrap: brokers.join(','),
    brokers,
    nodePort,
    start: async () => void (await run(['up'])),
    stop: async () => void (await run(['down'])),
    killNode: async (id) => void (await run(['kill-node', nodeArg(id)])),
    stopNode: async (id) => void (await run(['stop-node', nodeArg(id)])),
    startNode: async (id) => void (await run(['start-node', nodeArg(id)])),
    status,
    wipe: async () => {
      const running = (await status()).nodes.filter((n) => n.running).map((n) => n.nodeId);
      if (running.length > 0)
        throw new Error(`cannot wipe ${clusterDir}: node(s) ${running.join(', ')} running`);
      fs.rmSync(clusterDir, { recursive: true, force: true });
    },
  };
}

/** A name no other test (or earlier run) uses: for topics and consumer groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
}

export interface WaitForOptions {
  /** What is awaited, for the timeout message ("ingest group to commit offset 30"). */
  description: string;
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Polls `fn` until it returns a truthy value, and resolves with it. A throw counts as "not yet"
 * (the broker may be restarting); on timeout the error names the description and the last
 * value or error seen.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitForOptions): Promise<NonNullable<T>> {
  const { description, timeoutMs = 30_000, intervalMs = 100 } = opts;
  const deadline = Date.now() + timeoutMs;
  const timedOut = Symbol('timed out');
  let last = 'no attempt finished';
  for (;;) {
    // An attempt that hangs (a request to a stopped broker) must not outlive the deadline.
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<typeof timedOut>(
      (resolve) => (timer = setTimeout(() => resolve(timedOut), Math.max(0, deadline - Date.now()))),
    );
    try {
      const value = await Promise.race([Promise.resolve().then(fn), expiry]);
      if (value === timedOut) last = `the last attempt was still running (${last})`;
      else if (value) return value;
      else last = `last result: ${JSON.stringify(value)}`;
    } catch (err) {
      last = `last error: ${(err as Error).message}`;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description} (${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
