/**
 * `tillcast keys create|list|revoke`: the API's bearer keys (api/keys.ts, api/README.md "Keys").
 * A key is printed once, by `create`; only its hash is stored, so a lost key is revoked and
 * replaced, never shown again. `list` shows ids, names, scopes and times, never a key or a hash.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { createClickHouse } from '../clickhouse/client';
import { ApiKeys, type ListedKey } from '../clickhouse/store/api-keys';
import { describeScopes, generateKey, keyPrefix } from '../api/keys';
import { loadBranchDirectory } from '../app/app';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { UsageError } from './usage-error';

async function withKeys<T>(fn: (keys: ApiKeys) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const ch = createClickHouse(config, createLogger(config.LOG_LEVEL));
  try {
    return await fn(new ApiKeys(ch));
  } finally {
    await ch.close();
  }
}

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19) + 'Z');

/** The key id of `id` or of a displayed prefix (`tc_<id>_`). */
const keyIdOf = (v: string): string => /^tc_([0-9a-f]{12})_?/.exec(v)?.[1] ?? v;

function listedJson(k: ListedKey) {
  return {
    key_id: k.keyId,
    prefix: keyPrefix(k.keyId),
    name: k.name,
    branches: k.branches,
    groups: k.groups,
    admin: k.admin,
    metrics: k.metrics,
    capture: k.capture === true,
    write: k.write === true,
    created_at: iso(k.createdAt),
    created_by: k.createdBy,
    last_used_at: k.lastUsedAt === null ? null : iso(k.lastUsedAt),
    revoked_at: k.revokedAt === null ? null : iso(k.revokedAt),
  };
}

export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description(
      'API keys: create (printed once), list, revoke; the API accepts them as "Authorization: Bearer <key>"',
    );
  keys
    .command('create')
    .description('make a key for the given branches or groups (and/or admin, metrics) and print it once')
    .requiredOption('--name <name>', 'what the key is for, e.g. the holder')
    .option('--branches <ids>', 'comma-separated branch ids it may read')
    .option('--group <ids>', 'comma-separated restaurant groups / POS company ids: every branch in them')
    .option('--admin', 'every branch, and managing keys')
    .option('--metrics', 'may scrape /metrics')
    .option('--capture', 'may publish events of its branches (POST /v1/events, docs/capture.md)')
    .option('--write', "may write operators' data of its branches: calendar entries and overrides (issue 16)")
    .option('--json', 'print one JSON object (with the key)')
    .addHelpText(
      'after',
      '\nThe key is printed once and stored only as a hash: keep it, or revoke it and make another.\n\nExamples:\n  tillcast keys create --name "Nory ops" --branches 352h67i328fh,345hngydkgs\n  tillcast keys create --name prometheus --metrics\n  tillcast keys create --name "Square POS" --branches 352h67i328fh --capture\n  tillcast keys create --name "Sushi manager" --branches 352h67i328fh --write\n  tillcast keys create --name operator --admin',
    )
    .action(
      async (opts: {
        name: string;
        branches?: string;
        group?: string;
        admin?: boolean;
        metrics?: boolean;
        capture?: boolean;
        write?: boolean;
        json?: boolean;
      }) => {
        const branches = list(opts.branches);
        const groups = list(opts.group);
        const admin = opts.admin === true;
        const metrics = opts.metrics === true;
        const capture = opts.capture === true;
        const write = opts.write === true;
        if (opts.name.trim() === '') throw new UsageError('--name must not be empty');
        if (branches.length === 0 && groups.length === 0 && !admin && !metrics)
          throw new UsageError('give the key something to do: --branches, --group, --admin or --metrics');
        if (capture && branches.length === 0 && groups.length === 0 && !admin)
          throw new UsageError(
            "--capture publishes events of the key's branches: add --branches, --group or --admin",
          );
        if (write && branches.length === 0 && groups.length === 0 && !admin)
          throw new UsageError(
            "--write writes operators' data of the key's branches: add --branches, --group or --admin",
          );
        const directory = loadBranchDirectory(loadConfig());
        const unknown = branches.filter((b) => directory.get(b) === undefined);
        if (unknown.length > 0)
          throw new UsageError(`unknown branch ${unknown.join(', ')} (see BRANCHES_FILE / DEMO_BRANCHES)`);
        const k = generateKey();
        const scopes = { branches, groups, admin, metrics, capture, write };
        await withKeys((store) =>
          store.create({
            keyId: k.keyId,
            keyHash: k.keyHash,
            name: opts.name.trim(),
            ...scopes,
            createdAt: Date.now(),
            createdBy: os.userInfo().username,
          }),
        );
        if (opts.json) {
          console.log(JSON.stringify({ key_id: k.keyId, key: k.key, name: opts.name.trim(), ...scopes }));
          return;
        }
        console.log(`key ${k.keyId} (${opts.name.trim()}): ${describeScopes(scopes)}`);
        console.log(k.key);
        console.log('Shown once: only its hash is stored. Send it as "Authorization: Bearer <key>".');
      },
    );
  keys
    .command('list')
    .description('every key: id, name, scopes, created, last used, revoked (never a key or its hash)')
    .option('--json', 'JSON lines')
    .addHelpText('after', '\nExample:\n  tillcast keys list')
    .action(async (opts: { json?: boolean }) => {
      const all = await withKeys((store) => store.list());
      if (opts.json) {
        for (const k of all) console.log(JSON.stringify(listedJson(k)));
        return;
      }
      if (all.length === 0) console.log('no keys yet (tillcast keys create --help)');
      for (const k of all)
        console.log(
          `${keyPrefix(k.keyId)}  ${k.name}  [${describeScopes(k)}]  created ${iso(k.createdAt)} by ${k.createdBy}  last used ${iso(k.lastUsedAt)}${k.revokedAt === null ? '' : `  REVOKED ${iso(k.revokedAt)}`}`,
        );
    });
  keys
    .command('revoke')
    .description('revoke a key: the API refuses it within API_KEY_CACHE_TTL_MS (10 s by default)')
    .argument('<id>', 'the key id or its prefix tc_<id>_ (tillcast keys list)')
    .addHelpText('after', '\nExample:\n  tillcast keys revoke 3f9a0c1b2d4e')
    .action(async (id: string) => {
      const keyId = keyIdOf(id);
      const done = await withKeys((store) => store.revoke(keyId, Date.now()));
      if (!done) throw new Error(`no key ${keyId}; see tillcast keys list`);
      console.log(`revoked ${keyId}`);
    });
}
