/**
 * `tillcast train` when the model folder cannot take the model: exit 1 and one
 * clear line on stderr naming the folder and the cause, and no half-written
 * artifact left behind. (The forecaster's side — a training that cannot save
 * leaves the current model serving — is case 5 of forecaster-faults.test.ts.)
 *
 * - not a folder (a path under a regular file: ENOTDIR) — always;
 * - read-only folder (chmod 0555: EACCES) — as root, for whom permissions do not
 *   block writes, the command runs as the unprivileged user `nobody` (uid 65534);
 * - disk full (a 32 KiB tmpfs: ENOSPC while the weights are written) — only where
 *   the test may mount a tmpfs (root with CAP_SYS_ADMIN, e.g. in a container).
 * The skipped cases say so in the test names.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, killAllChildren, requireBuiltCli, spawnCli } from '../child-process';
import { requireSharedExport } from '../shared-data';

jest.setTimeout(120_000);

const file = requireSharedExport();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-model-folder-'));
fs.chmodSync(tmp, 0o755); // `nobody` must reach the folders inside
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Whether this process may mount a tmpfs (tried once, on a scratch folder). */
function mayMountTmpfs(): boolean {
  const probe = path.join(tmp, 'mount-probe');
  fs.mkdirSync(probe);
  const ok =
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32k', 'tmpfs', probe], { stdio: 'ignore' }).status === 0;
  if (ok) spawnSync('umount', [probe], { stdio: 'ignore' });
  return ok;
}
const canMount = asRoot && mayMountTmpfs();
const mounted: string[] = [];

beforeAll(() => {
  requireBuiltCli();
});

afterAll(async () => {
  await killAllChildren();
  for (const m of mounted) spawnSync('umount', [m], { stdio: 'ignore' });
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `tillcast train` on five weeks of the export (a few seconds of training), saving to `modelsDir`. */
async function train(modelsDir: string) {
  const child = spawnCli(
    'train',
    ['train', '--export', file, '--through', '2020-07-31', '--models-dir', modelsDir, '--no-register'],
    {
      LOG_LEVEL: 'warn',
      CLICKHOUSE_DATA_DIR: path.join(tmp, 'clickhouse'), // never opened: --export, --no-register
    },
  );
  const exit = await child.waitForExit(90_000);
  return { exit, stderr: child.stderr, stdout: child.output.join('\n') };
}

/** The same command as another user (root only): a permission error root would not get. */
function trainAs(
  uid: number,
  modelsDir: string,
): Promise<{ exit: { code: number | null }; stderr: string; stdout: string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'train', '--export', file, '--through', '2020-07-31', '--models-dir', modelsDir, '--no-register'],
    {
      uid,
      gid: uid,
      env: { ...process.env, LOG_LEVEL: 'warn', CLICKHOUSE_DATA_DIR: path.join(tmp, 'clickhouse') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tillcast train as uid ${uid} did not exit in 90 s\n${stderr}`));
    }, 90_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ exit: { code }, stderr, stdout });
    });
  });
}

describe('tillcast train with a model folder that cannot take the model', () => {
  it('not a folder (ENOTDIR): exit 1, the folder named, before any training', async () => {
    const blocker = path.join(tmp, 'a-file');
    fs.writeFileSync(blocker, 'not a folder\n');
    const dir = path.join(blocker, 'models');
    const t0 = Date.now();
    const r = await train(dir);
    expect(r.exit.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `tillcast: cannot save the model in ${dir}: ENOTDIR: not a directory, mkdir '${dir}'`,
    );
    expect(r.stdout).not.toMatch(/saved to/);
    process.stderr.write(`[model-folder] ENOTDIR reported after ${Date.now() - t0} ms\n`);
  });

  it(`read-only folder (EACCES): exit 1, the folder named, before any training${asRoot ? ' (run as nobody: root writes anyway)' : ''}`, async () => {
    const dir = path.join(tmp, 'read-only');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o555);
    const r = asRoot ? await trainAs(NOBODY, dir) : await train(dir);
    expect(r.exit.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `tillcast: cannot save the model in ${dir}: EACCES: permission denied, access '${dir}'`,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  (canMount ? it : it.skip)(
    `disk full (ENOSPC on a 32 KiB tmpfs): exit 1, the folder named, no half-written artifact${canMount ? '' : ' [skipped: cannot mount a tmpfs here]'}`,
    async () => {
      const dir = path.join(tmp, 'small-disk');
      fs.mkdirSync(dir);
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32k', 'tmpfs', dir]).status).toBe(0);
      mounted.push(dir);
      const r = await train(dir);
      expect(r.exit.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(
        `tillcast: cannot save the model in ${dir}: ENOSPC: no space left on device, write`,
      );
      // The model trained; its artifact (a 64 KB weights file) did not fit and was removed.
      expect(fs.readdirSync(dir)).toEqual([]);
    },
  );
});
