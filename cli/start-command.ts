/**
 * `tillcast start` (the README's main command): everything in one process on
 * the embedded engine — local broker, migrations and topics, ingest, forecaster,
 * API — fed by the simulator or by a POS export replay.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { App } from '../app/app';
import { createApp, runUntilSignal } from '../app/app';
import type { ApiRole } from '../api/role';
import { generateKey } from '../api/keys';
import { ApiKeys } from '../clickhouse/store/api-keys';
import { loadConfig, PROJECT_ROOT } from '../lib/config';
import { dateToDayNumber, formatCivilDate } from '../lib/time/civil-date';
import { localWallClock } from '../lib/time/wall-clock';
import { runReplay } from './replay-command';
import { startSimulation } from './simulate-command';

export async function runStart(opts: { replay?: string; stack: boolean }): Promise<number> {
  if (opts.stack) {
    const r = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), 'up'], { stdio: 'inherit' });
    if (r.status !== 0) return 3;
  }
  const env = { ...process.env };
  if (!opts.replay && !env.DEMO_BRANCHES) env.DEMO_BRANCHES = '5';
  const config = loadConfig(env);
  const app = createApp(config);
  const log = app.ctx.logger.child({ module: 'start' });
  let stopSource: () => Promise<void> = async () => {};
  const base = `http://localhost:${config.PORT}`;

  // The source starts once the roles run; the shutdown stops it first, then the roles in order.
  const startSource = () => {
    let sampleBranch: string;
    let sampleStart: string;
    if (opts.replay) {
      const file = opts.replay;
      const outcome = runReplay(
        file,
        { speed: 'max', heartbeats: true },
        { ...app.ctx, kafka: app.ctx.kafkaFor('pos') },
      );
      sampleBranch = app.ctx.branches.list()[0]?.id ?? '';
      sampleStart = '2021-02-01';
      void outcome.then(
        (r) =>
          log.info(
            { published: r.published, rejectedRows: r.rejectedRows },
            'replay finished; still serving',
          ),
        (err: unknown) => log.error({ err }, 'replay failed'),
      );
      stopSource = async () => {
        await outcome.catch(() => undefined);
      };
    } else {
      const branches = app.ctx.branches.list().filter((b) => b.id.startsWith('sim-'));
      const sim = startSimulation(
        { branches, seed: 1, daysOfHistory: 56, speed: 'realtime' },
        { ...app.ctx, kafka: app.ctx.kafkaFor('pos') },
      );
      sampleBranch = branches[0]?.id ?? '';
      sampleStart = localWallClock(branches[0]?.timezone ?? 'UTC', Date.now()).date;
      stopSource = () => sim.stop();
    }
    const sampleEnd = formatCivilDate(dateToDayNumber(sampleStart) + 6);
    const demoBranches = app.ctx.branches
      .list()
      .filter((b) => opts.replay !== undefined || b.id.startsWith('sim-'))
      .map((b) => b.id);
    const forecast = `${base}/predict?branch_id=${sampleBranch}&start=${sampleStart}&end=${sampleEnd}`;
    void demoLogin(app, demoBranches).then(
      (login) =>
        process.stdout.write(
          [
            '',
            'tillcast is running',
            ...(login
              ? [
                  `  dashboard   ${base}/#login=${login.dashboardCode}`,
                  '              (signs you in with the demo key; the link works once, within 15 minutes)',
                  `  API key     curl -s -X POST -H 'Content-Type: application/json' -d '{"code":"${login.curlCode}"}' ${base}/auth/login`,
                  '              (prints the demo key once; send it as "Authorization: Bearer <key>")',
                  `  forecast    curl -H "Authorization: Bearer $KEY" '${forecast}'`,
                ]
              : [`  dashboard   ${base}/`, `  forecast    ${forecast}`]),
            `  branches    ${base}/branches`,
            `  API docs    ${base}/docs`,
            `  metrics     ${base}/metrics${login ? ' (the demo key may read it)' : ''}`,
            '  stop        Ctrl-C (then `npm run stack:down` to stop the Kafka broker)',
            '',
          ].join('\n') + '\n',
        ),
      (err: unknown) =>
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'demo key failed'),
    );
  };
  return runUntilSignal(app, log, { afterStart: startSource, stopSource: () => stopSource() });
}

const DEMO_KEY_NAME = 'demo (tillcast start)';

/**
 * The newcomer's way in (AUTH_MODE=keys): a fresh demo key for the demo branches (with the
 * metrics scope), the demo keys of earlier starts revoked, and two one-time login codes for it:
 * one for the dashboard link, one to fetch the key with curl. The key itself is never printed
 * nor put in a URL. AUTH_MODE=none: nothing to sign in to (undefined).
 */
async function demoLogin(
  app: App,
  branchIds: string[],
): Promise<{ dashboardCode: string; curlCode: string } | undefined> {
  if (app.ctx.config.AUTH_MODE === 'none') return undefined;
  const api = (app.roles.get('api') as ApiRole | undefined)?.api;
  if (!api) return undefined;
  const keys = new ApiKeys(app.ctx.ch);
  for (const old of await keys.list())
    if (old.name === DEMO_KEY_NAME && old.revokedAt === null) await keys.revoke(old.keyId, Date.now());
  const k = generateKey();
  await keys.create({
    keyId: k.keyId,
    keyHash: k.keyHash,
    name: DEMO_KEY_NAME,
    branches: branchIds,
    groups: [],
    admin: false,
    metrics: true,
    createdAt: Date.now(),
    createdBy: 'tillcast start',
  });
  const grant = { key: k.key, keyId: k.keyId, name: DEMO_KEY_NAME };
  return { dashboardCode: api.issueLoginCode(grant), curlCode: api.issueLoginCode(grant) };
}
