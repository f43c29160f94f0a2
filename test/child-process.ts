/**
 * The real `tillcast` CLI (dist/cli/tillcast.js, built by `npm run build`) as
 * child processes of a test: spawn it with an environment of the test's own,
 * follow its pino log (JSON lines on stdout) and wait for lines or for its exit,
 * kill it (SIGKILL: a crash; SIGTERM: an orderly stop), run one-shot commands
 * such as `tillcast sql` to completion.
 *
 * Every child is registered, so `killAllChildren()` (afterAll) leaves nothing
 * behind when a test fails half-way. Children are killed by their pid only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/config';

export const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'tillcast.js');

/** Fails with a helpful message when the build is missing (the tests run the built CLI). */
export function requireBuiltCli(): string {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does).`);
  return CLI;
}

/** One pino line of a child (only the fields the tests look at are typed). */
export interface LogLine {
  level: number;
  msg: string;
  module?: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WaitOptions {
  description: string;
  timeoutMs?: number;
}

/** Lines of kafkajs's own debug output: counted and searchable, but not kept (there are thousands). */
const isKafkajsDebug = (raw: string) => raw.includes('"module":"kafkajs"') && raw.startsWith('{"level":20');

export class CliProcess {
  readonly child: ChildProcess;
  /** Parsed log lines of the child (kafkajs debug chatter excluded). */
  readonly lines: LogLine[] = [];
  /** Stdout lines that are not pino log lines (command output, e.g. `tillcast sql` rows). */
  readonly output: string[] = [];
  /** Every stdout line as written, kafkajs debug included (the last 100,000: secrets tests grep it). */
  readonly transcript: string[] = [];
  /** Last lines of any kind (raw), for failure messages. */
  private readonly tail: string[] = [];
  private stderrText = '';
  private stdoutRest = '';
  private readonly watchers = new Set<(raw: string, line: LogLine | undefined) => void>();
  private exit: Exit | undefined;
  readonly exited: Promise<Exit>;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [requireBuiltCli(), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.stdoutRest + chunk).split('\n');
      this.stdoutRest = parts.pop() ?? '';
      for (const raw of parts) this.onLine(raw);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrText += chunk;
      if (this.stderrText.length > 200_000) this.stderrText = this.stderrText.slice(-100_000);
    });
    children.add(this);
    void this.exited.then(() => children.delete(this));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get stderr(): string {
    return this.stderrText;
  }

  private onLine(raw: string): void {
    this.transcript.push(raw);
    if (this.transcript.length > 100_000) this.transcript.shift();
    this.tail.push(raw.length > 400 ? `${raw.slice(0, 400)}…` : raw);
    if (this.tail.length > 40) this.tail.shift();
    let line: LogLine | undefined;
    if (!isKafkajsDebug(raw)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      const p = parsed as Partial<LogLine> | undefined;
      if (p && typeof p === 'object' && typeof p.level === 'number' && typeof p.msg === 'string') {
        line = p as LogLine;
        this.lines.push(line);
      } else if (raw !== '') {
        this.output.push(raw);
      }
    }
    for (const w of this.watchers) w(raw, line);
  }

  /** Parsed lines with this message. */
  logs(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /**
   * Resolves with the first line from now on for which `match` is true (raw text, and the parsed
   * line unless it is kafkajs debug output). Rejects if the child exits or the time runs out.
   */
  nextLine(match: (raw: string, line: LogLine | undefined) => boolean, opts: WaitOptions): Promise<string> {
    const { description, timeoutMs = 60_000 } = opts;
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
        fn();
      };
      const watcher = (raw: string, line: LogLine | undefined) => {
        if (match(raw, line)) done(() => resolve(raw));
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `${this.name}: timed out after ${timeoutMs} ms waiting for ${description}\n${this.diagnostics()}`,
              ),
            ),
          ),
        timeoutMs,
      );
      this.watchers.add(watcher);
      void this.exited.then((e) =>
        done(() =>
          reject(
            new Error(
              `${this.name} exited (${JSON.stringify(e)}) while waiting for ${description}\n${this.diagnostics()}`,
            ),
          ),
        ),
      );
    });
  }

  /** Waits for a log line with this message (from now on, or already seen when `orSeen`). */
  async waitForLog(msg: string, opts: WaitOptions & { orSeen?: boolean }): Promise<void> {
    if (opts.orSeen && this.lines.some((l) => l.msg === msg)) return;
    await this.nextLine((_raw, l) => l?.msg === msg, opts);
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals, timeoutMs = 30_000): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}\n${this.diagnostics()}`),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the child to exit by itself. */
  async waitForExit(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} still running after ${timeoutMs} ms\n${this.diagnostics()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  diagnostics(): string {
    const errors = this.lines.filter((l) => l.level >= 50).slice(-10);
    return [
      `--- errors logged by ${this.name} (pid ${this.pid}): ${errors.length === 0 ? 'none' : ''}`,
      ...errors.map((l) => JSON.stringify(l).slice(0, 600)),
      `--- last output of ${this.name}:`,
      ...this.tail,
      '--- stderr:',
      this.stderrText.slice(-3000),
    ].join('\n');
  }
}

const children = new Set<CliProcess>();

/** Starts `tillcast <args>` with the test's environment on top of this process's. */
export function spawnCli(name: string, args: string[], env: Record<string, string>): CliProcess {
  return new CliProcess(name, args, env);
}

/** SIGKILLs every child still running (afterAll: nothing outlives a failed test). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill('SIGKILL').catch(() => undefined)));
}

/** Runs a one-shot command to completion; throws unless it exits 0. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ stdout: string[]; stderr: string }> {
  const c = spawnCli(`tillcast ${args[0] ?? ''}`, args, env);
  const exit = await c.waitForExit(timeoutMs);
  if (exit.code !== 0)
    throw new Error(`tillcast ${args.join(' ')} exited with ${JSON.stringify(exit)}\n${c.diagnostics()}`);
  return { stdout: c.output, stderr: c.stderr };
}

/**
 * `tillcast sql '<query>'` against the data directory in `env` (the embedded engine: run it only
 * when no other process holds that directory). Returns the rows (JSON lines on stdout).
 */
export async function sqlRows<T>(env: Record<string, string>, query: string): Promise<T[]> {
  const { stdout } = await runCli(['sql', query], { ...env, LOG_LEVEL: 'warn' });
  return stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T);
}
