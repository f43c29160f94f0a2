/**
 * Shared pieces of the fault tests that drive the real CLI as child processes
 * (forecaster-faults, clickhouse-outage, model-folder-faults): a scenario's own
 * topics, groups and directories; consumer-group offsets read with the kafkajs
 * admin; and the process table (/proc, Linux) to find a role's training child
 * and how much CPU it has burnt.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { loadConfig, type Config } from '../lib/config';
import { createKafka } from '../lib/kafka-client';
import { createLogger } from '../lib/logger';
import { ensureTopicsOn, isolatedKafkaEnv } from '../lib/topics';
import type { CliProcess } from './child-process';
import { testBrokerAddress, uniqueName, waitFor } from './kafka-broker';

export interface FaultScenario {
  /** Environment of every CLI child of the scenario (on top of this process's). */
  env: Record<string, string>;
  config: Config;
  kafka: Kafka;
  /** Scratch directory of the scenario (embedded data, models, files). */
  dir: string;
}

/**
 * Topics, groups and a scratch directory no other test uses. NODE_ENV=production as deployed
 * (kafkajs's retry defaults depend on it). `overrides` go into the environment as given.
 */
export function faultScenario(name: string, overrides: Record<string, string> = {}): FaultScenario {
  const base = uniqueName(name);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tillcast-${name}-`));
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    KAFKA_BROKERS: testBrokerAddress(),
    ...isolatedKafkaEnv(base),
    KAFKA_SALES_PARTITIONS: '3',
    CLICKHOUSE_DATA_DIR: path.join(dir, 'clickhouse'),
    CLICKHOUSE_DATABASE: 'tillcast',
    MODELS_DIR: path.join(dir, 'models'),
    HOST: '127.0.0.1',
    PORT: '0',
    ...overrides,
  };
  const config = loadConfig({ ...process.env, ...env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' });
  scenarioDirs.push(dir);
  return { env, config, kafka: createKafka(config, createLogger(config.LOG_LEVEL)), dir };
}

const scenarioDirs: string[] = [];

/** Removes the scratch directories of every scenario this test file made (afterAll). */
export function removeScenarioDirs(): void {
  for (const d of scenarioDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export async function createTopics(s: FaultScenario): Promise<void> {
  await ensureTopicsOn(s.kafka, s.config);
}

/** Committed offset per partition of `topic` for `groupId` (-1: nothing committed). */
export async function committedOffsets(
  s: FaultScenario,
  groupId: string,
  topic: string,
): Promise<Record<number, string>> {
  const admin = s.kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

/** End offset (high watermark) per partition of `topic`. */
export async function endOffsets(s: FaultScenario, topic: string): Promise<Record<number, string>> {
  const admin = s.kafka.admin();
  await admin.connect();
  try {
    return Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
  } finally {
    await admin.disconnect();
  }
}

/** Polls until `groupId` has committed every message of `topic`. */
export async function waitForCommitted(
  s: FaultScenario,
  groupId: string,
  topic: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    async () => {
      const [ends, committed] = await Promise.all([
        endOffsets(s, topic),
        committedOffsets(s, groupId, topic),
      ]);
      return Object.entries(ends).every(([p, high]) => {
        const c = committed[Number(p)];
        return c !== undefined && BigInt(c === '-1' ? '0' : c) >= BigInt(high);
      });
    },
    { description: `group ${groupId} to commit every message of ${topic}`, timeoutMs, intervalMs: 250 },
  );
}

/** The port of a CLI child's API, from its `api listening` log line (PORT=0: any free port). */
export async function apiBase(child: CliProcess, timeoutMs = 120_000): Promise<string> {
  const seen = child.lines.find((l) => l.msg === 'api listening');
  if (seen) return `http://127.0.0.1:${String(seen.port)}`;
  let base = '';
  await child.nextLine(
    (_raw, l) => {
      if (l?.msg !== 'api listening') return false;
      base = `http://127.0.0.1:${String(l.port)}`;
      return true;
    },
    { description: 'the API to listen', timeoutMs },
  );
  return base;
}

// ---------------------------------------------------------------- the process table (Linux /proc)

interface ProcStat {
  pid: number;
  ppid: number;
  /** User + system CPU time, in seconds. */
  cpuS: number;
  state: string;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    cpuS: (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS,
  };
}

function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Living (not zombie) processes whose parent is `ppid`, with their command lines. */
export function childProcesses(ppid: number): (ProcStat & { args: string[] })[] {
  const out: (ProcStat & { args: string[] })[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st && st.ppid === ppid && st.state !== 'Z') out.push({ ...st, args: cmdline(st.pid) });
  }
  return out;
}

/** A process by pid, unless it is gone (or a zombie). */
export function livingProcess(pid: number): (ProcStat & { args: string[] }) | undefined {
  const st = procStat(pid);
  return st && st.state !== 'Z' ? { ...st, args: cmdline(pid) } : undefined;
}

/** Whether a command line is a forecaster's training child (dist/app/training-child.js --series-file …). */
export const isTrainingChild = (args: string[]): boolean =>
  args.some((a) => a.endsWith(path.join('app', 'training-child.js'))) && args.includes('--series-file');

/** The training child of a forecaster process, once it runs. */
export async function trainingChild(
  parentPid: number,
  timeoutMs = 60_000,
): Promise<ProcStat & { args: string[] }> {
  return waitFor(() => childProcesses(parentPid).find((p) => isTrainingChild(p.args)), {
    description: `the training child of pid ${parentPid}`,
    timeoutMs,
    intervalMs: 20,
  });
}
