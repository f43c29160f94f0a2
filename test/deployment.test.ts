/**
 * The deployment files, read the way Docker would: every docker-compose*.yml validated by
 * Compose itself (`docker-compose config -q`, Debian's Compose 1.29, which needs no Docker
 * engine; scripts/ensure-docker-compose.sh installs it for `npm test`), then its normalized
 * form (`docker-compose config`) checked against the code: the variables the app containers
 * get are lib/config.ts's, the simulator's branches are known to ingest, Kafka's data is on
 * its volume, ClickHouse's variables are used by the files it mounts, the engine version is
 * the one the SQL is tested on, one service builds the image. The Dockerfile and
 * .dockerignore are checked against the README. Nothing here starts a container: there is no
 * Docker engine on these machines (README "Deployment").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envSchema, PROJECT_ROOT } from '../lib/config';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  pull_policy?: string;
  command?: string[];
  environment?: Record<string, string | number | null>;
  volumes?: { type: string; source: string; target: string }[] | string[];
  deploy?: { replicas?: number };
  hostname?: string;
  stop_grace_period?: string;
  entrypoint?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const APP_IMAGE = 'tillcast:latest';
const composeFiles = fs
  .readdirSync(PROJECT_ROOT)
  .filter((f) => /^docker-compose.*\.ya?ml$/.test(f))
  .sort();
const read = (rel: string) => fs.readFileSync(path.join(PROJECT_ROOT, rel), 'utf8');

/** The `${VAR:?message}` variables a compose file refuses to run without. */
function requiredVariables(file: string): string[] {
  return [...new Set([...read(file).matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!))].sort();
}

const emptyEnvFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-compose-')), 'empty.env');
fs.writeFileSync(emptyEnvFile, '');

/** Runs docker-compose on a file with only the given variables (and no .env file). */
function compose(file: string, args: string[], vars: Record<string, string>) {
  const r = spawnSync('docker-compose', ['--env-file', emptyEnvFile, '-f', file, ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ...vars },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) {
    throw new Error(
      `docker-compose could not run (${r.error.message}): scripts/ensure-docker-compose.sh installs Debian's docker-compose (npm test runs it)`,
    );
  }
  return r;
}

function dummyPasswords(file: string): Record<string, string> {
  return Object.fromEntries(requiredVariables(file).map((v) => [v, `dummy-${v.toLowerCase()}`]));
}

function normalized(file: string): Compose {
  const r = compose(file, ['config'], dummyPasswords(file));
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return parseYaml(r.stdout) as Compose;
}

function env(s: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
}

function mounts(s: Service): { type: string; source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return v;
    const [source = '', target = ''] = v.split(':');
    return { type: source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume', source, target };
  });
}

const appServices = (c: Compose) => Object.entries(c.services).filter(([, s]) => s.image === APP_IMAGE);
const imageServices = (c: Compose, prefix: string) =>
  Object.entries(c.services).filter(([, s]) => s.image?.startsWith(prefix));

it('finds both compose files', () => {
  expect(composeFiles).toEqual(['docker-compose.cluster.yml', 'docker-compose.yml']);
});

describe('docker-compose config -q', () => {
  it('refuses a file that is not a valid compose file (the check checks)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-compose-'));
    const bad = path.join(dir, 'docker-compose.yml');
    fs.writeFileSync(bad, 'services:\n  x:\n    image: a\n    no_such_key: 1\n');
    const r = compose(bad, ['config', '-q'], {});
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no_such_key/);
  });

  it.each(composeFiles)('%s is valid with its required passwords set', (file) => {
    const vars = dummyPasswords(file);
    expect(Object.keys(vars)).toEqual(
      expect.arrayContaining(['CLICKHOUSE_ADMIN_PASSWORD', 'CLICKHOUSE_API_PASSWORD']),
    );
    const r = compose(file, ['config', '-q'], vars);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(composeFiles)('%s is valid with every variable it reads set to a plain word', (file) => {
    // A value without a slash must never turn a bind mount into a named volume (KAFKA_TLS_DIR=tls).
    const names = new Set(
      [...fs.readFileSync(file, 'utf8').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!),
    );
    expect(names).toContain('KAFKA_TLS_DIR');
    const vars = Object.fromEntries([...names].map((n) => [n, 'placeholder']));
    const r = compose(file, ['config', '-q'], vars);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(composeFiles)('%s refuses to start without a Kafka password', (file) => {
    const vars = dummyPasswords(file);
    expect(Object.keys(vars)).toEqual(
      expect.arrayContaining([
        'KAFKA_ADMIN_PASSWORD',
        'KAFKA_POS_PASSWORD',
        'KAFKA_INGEST_PASSWORD',
        'KAFKA_FORECASTER_PASSWORD',
      ]),
    );
    delete vars.KAFKA_INGEST_PASSWORD;
    const r = compose(file, ['config', '-q'], vars);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/set KAFKA_INGEST_PASSWORD/);
  });

  it.each(composeFiles)('%s refuses to start without the admin password', (file) => {
    const vars = dummyPasswords(file);
    delete vars.CLICKHOUSE_ADMIN_PASSWORD;
    const r = compose(file, ['config', '-q'], vars);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/set CLICKHOUSE_ADMIN_PASSWORD/);
  });
});

describe.each(composeFiles)('%s against the code', (file) => {
  const c = normalized(file);
  const apps = appServices(c);

  it('app containers set only variables lib/config.ts reads', () => {
    expect(apps.length).toBeGreaterThanOrEqual(5);
    const known = new Set(Object.keys(envSchema.shape));
    for (const [, s] of apps) {
      const unknown = Object.keys(env(s)).filter((k) => !known.has(k));
      expect(unknown).toEqual([]);
    }
  });

  it('Docker waits longer than the bounded shutdown before it SIGKILLs a role', () => {
    const seconds = (d: string) => {
      const m = /^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(d);
      if (!m || d === '') throw new Error(`unexpected duration ${d}`);
      return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
    };
    for (const [name, s] of apps) {
      const boundS =
        Number(env(s).SHUTDOWN_TIMEOUT_MS ?? envSchema.shape.SHUTDOWN_TIMEOUT_MS.parse(undefined)) / 1000;
      // Compose's default is 10 s, shorter than the 15 s default bound.
      const graceS = s.stop_grace_period === undefined ? 10 : seconds(s.stop_grace_period);
      expect([name, graceS > boundS]).toEqual([name, true]);
    }
  });

  it('one service builds the image, the others run it without pulling', () => {
    const builders = apps.filter(([, s]) => s.build !== undefined);
    expect(builders.map(([n]) => n)).toEqual(['init']);
    const [, init] = builders[0]!;
    const context = typeof init.build === 'string' ? init.build : init.build!.context;
    expect(path.resolve(PROJECT_ROOT, context)).toBe(PROJECT_ROOT);
    expect(init.pull_policy).toBe('build');
    for (const [, s] of apps.filter(([, s]) => s.build === undefined)) expect(s.pull_policy).toBe('never');
  });

  it("the simulator's branches are in every role's directory (DEMO_BRANCHES)", () => {
    const sim = c.services.simulator;
    expect(sim?.command?.[0]).toBe('simulate');
    // `tillcast simulate` publishes for --branches, else DEMO_BRANCHES.
    const flag = sim!.command!.indexOf('--branches');
    const simulated = flag >= 0 ? sim!.command![flag + 1] : env(sim!).DEMO_BRANCHES;
    expect(Number(simulated)).toBeGreaterThan(0);
    for (const [name, s] of apps) expect([name, env(s).DEMO_BRANCHES]).toEqual([name, simulated]);
  });

  it('the forecaster writes models to a volume at MODELS_DIR, which the image creates for node', () => {
    const forecaster = c.services.forecaster!;
    const modelsDir = env(forecaster).MODELS_DIR;
    expect(modelsDir).toBe('/models');
    expect(mounts(forecaster)).toContainEqual(expect.objectContaining({ type: 'volume', target: modelsDir }));
    const finalStage = read('Dockerfile')
      .split(/^FROM /m)
      .at(-1)!;
    const createsIt = finalStage.search(/^RUN mkdir -p \/models && chown node:node \/models$/m);
    expect(createsIt).toBeGreaterThan(0);
    expect(finalStage.indexOf('USER node')).toBeGreaterThan(createsIt);
  });

  it("Kafka keeps its data on the broker's volume", () => {
    const brokers = imageServices(c, 'apache/kafka:');
    expect(brokers.length).toBe(file === 'docker-compose.cluster.yml' ? 3 : 1);
    for (const [, s] of brokers) {
      const e = env(s);
      // apache/kafka: KAFKA_<PROPERTY> sets a broker property, CLUSTER_ID formats the storage.
      expect(Object.keys(e).filter((k) => !k.startsWith('KAFKA_') && k !== 'CLUSTER_ID')).toEqual([]);
      expect(mounts(s)).toContainEqual(expect.objectContaining({ type: 'volume', target: e.KAFKA_LOG_DIRS }));
    }
    const brokerList = brokers.map(([n]) => `${n}:9092`).join(',');
    for (const [, s] of apps) expect(env(s).KAFKA_BROKERS).toBe(brokerList);
  });

  it('Kafka: SASL_SSL only, the StandardAuthorizer, users from the environment, and each service its own principal', () => {
    const brokers = imageServices(c, 'apache/kafka:');
    const principals = {
      admin: 'tillcast-admin',
      pos: 'tillcast-pos',
      ingest: 'tillcast-ingest',
      forecaster: 'tillcast-forecaster',
    };
    for (const [name, s] of brokers) {
      const e = env(s);
      expect(s.entrypoint).toEqual(['/bin/bash', '/opt/tillcast/compose-broker.sh']);
      expect(mounts(s)).toContainEqual(
        expect.objectContaining({
          source: path.join(PROJECT_ROOT, 'scripts', 'kafka', 'compose-broker.sh'),
          target: '/opt/tillcast/compose-broker.sh',
        }),
      );
      expect(mounts(s)).toContainEqual(expect.objectContaining({ target: '/etc/kafka/tls' }));
      expect(e.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toBe('CLIENT:SASL_SSL,CONTROLLER:SASL_SSL');
      expect(e.KAFKA_INTER_BROKER_LISTENER_NAME).toBe('CLIENT');
      expect(e.KAFKA_ADVERTISED_LISTENERS).toBe(`CLIENT://${name}:9092`);
      expect(e.KAFKA_AUTHORIZER_CLASS_NAME).toBe('org.apache.kafka.metadata.authorizer.StandardAuthorizer');
      expect(e.KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND).toBe('false');
      for (const [who, user] of Object.entries(principals)) {
        const v = `KAFKA_${who.toUpperCase()}`;
        expect([name, e[`${v}_USER`], e[`${v}_PASSWORD`]]).toEqual([
          name,
          user,
          `dummy-${v.toLowerCase()}_password`,
        ]);
      }
    }
    // The principal names the ACLs are granted to (lib/config.ts's defaults) are the brokers' users.
    for (const who of ['ADMIN', 'POS', 'INGEST', 'FORECASTER'] as const)
      expect(envSchema.shape[`KAFKA_${who}_USER`].parse(undefined)).toBe(
        principals[who.toLowerCase() as keyof typeof principals],
      );
    const expected: Record<string, keyof typeof principals | undefined> = {
      init: 'admin',
      simulator: 'pos',
      ingest: 'ingest',
      forecaster: 'forecaster',
      api: 'pos', // capture (POST /v1/events) publishes POS events, nothing else
    };
    expect(apps.map(([n]) => n).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, s] of apps) {
      const e = env(s);
      const who = expected[name];
      expect([name, e.KAFKA_SASL_USERNAME]).toEqual([name, who && principals[who]]);
      expect([name, e.KAFKA_SASL_PASSWORD]).toEqual([name, who && `dummy-kafka_${who}_password`]);
      expect([name, e.KAFKA_SASL_MECHANISM, e.KAFKA_SSL]).toEqual([name, 'scram-sha-512', 'true']);
      expect(mounts(s)).toContainEqual(expect.objectContaining({ target: e.KAFKA_SSL_CA_FILE }));
    }
  });

  it("ClickHouse containers set only variables their mounted config reads (from_env), and mount the project's users.xml", () => {
    const servers = imageServices(c, 'clickhouse/');
    expect(servers.length).toBe(file === 'docker-compose.cluster.yml' ? 7 : 1);
    for (const [name, s] of servers) {
      const files = mounts(s).filter((m) => m.type === 'bind');
      for (const m of files) expect(fs.existsSync(m.source)).toBe(true);
      const read = files.map((m) => fs.readFileSync(m.source, 'utf8')).join('\n');
      for (const k of Object.keys(env(s)))
        expect([name, k, read.includes(`from_env="${k}"`)]).toEqual([name, k, true]);
      if (s.image!.startsWith('clickhouse/clickhouse-server:')) {
        expect(files).toContainEqual(
          expect.objectContaining({
            source: path.join(PROJECT_ROOT, 'clickhouse', 'server', 'users.xml'),
            target: '/etc/clickhouse-server/users.d/tillcast-users.xml',
          }),
        );
      }
    }
  });

  it('ClickHouse runs the engine version the SQL is tested on (chdb)', () => {
    // Asked of the engine itself, in a child process: this process's embedded engine may be
    // bound to another data directory by an earlier test file of the same jest worker.
    const version = execFileSync(
      process.execPath,
      ['-e', "process.stdout.write(require('chdb').query('SELECT version()', 'TSVRaw'))"],
      { cwd: PROJECT_ROOT, encoding: 'utf8' },
    ).trim();
    expect(version).toMatch(/^\d+\.\d+\./);
    const tested = version.split('.').slice(0, 2).join('.');
    const images = imageServices(c, 'clickhouse/').map(([, s]) => s.image!);
    for (const image of images) expect(image.replace(/^.*:/, '')).toBe(tested);
  });
});

describe('docker-compose.cluster.yml topology', () => {
  const c = normalized('docker-compose.cluster.yml');
  const clusterXml = read('clickhouse/server/cluster/cluster.xml');
  const keeperXml = read('clickhouse/server/cluster/keeper.xml');
  const servers = imageServices(c, 'clickhouse/clickhouse-server:');

  it('2 shards x 2 replicas: remote_servers, macros and host names agree', () => {
    const cluster = /<remote_servers>\s*<(\w+)>/.exec(clusterXml)![1]!;
    for (const [, s] of appServices(c)) expect(env(s).CLICKHOUSE_CLUSTER).toBe(cluster);
    const shards = [...clusterXml.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) =>
      [...m[1]!.matchAll(/<host>([^<]+)<\/host>/g)].map((h) => h[1]!),
    );
    expect(shards).toEqual([
      ['ch-s1-r1', 'ch-s1-r2'],
      ['ch-s2-r1', 'ch-s2-r2'],
    ]);
    expect(clusterXml.match(/<internal_replication>true<\/internal_replication>/g)).toHaveLength(2);
    expect(servers.map(([n]) => n).sort()).toEqual(shards.flat().sort());
    shards.forEach((hosts, i) => {
      for (const host of hosts) {
        const s = c.services[host]!;
        expect(s.hostname).toBe(host);
        expect(env(s).CH_MACRO_SHARD).toBe(String(i + 1).padStart(2, '0'));
        expect(env(s).CH_MACRO_REPLICA).toBe(host);
      }
    });
    expect(read('clickhouse/server/cluster/lb.nginx.conf')).toContain(
      shards
        .flat()
        .map((h) => `server ${h}:8123;`)
        .join('\n    '),
    );
  });

  it("the cluster's default profile has the settings cluster mode relies on", () => {
    const profile = /<profiles>\s*<default>([\s\S]*?)<\/default>/.exec(
      read('clickhouse/server/cluster/cluster-users.xml'),
    )![1]!;
    const settings = Object.fromEntries(
      [...profile.matchAll(/<(\w+)>([^<]*)<\/\1>/g)].map((m) => [m[1], m[2]]),
    );
    const replicasPerShard = /<shard>([\s\S]*?)<\/shard>/.exec(clusterXml)![1]!.match(/<replica>/g)!.length;
    expect(settings).toEqual({
      distributed_foreground_insert: '1',
      insert_quorum: String(replicasPerShard),
      distributed_product_mode: 'local',
    });
    for (const [, s] of servers) {
      expect(mounts(s).map((m) => m.target)).toContain(
        '/etc/clickhouse-server/users.d/tillcast-cluster-users.xml',
      );
    }
  });

  it('a 3-node Keeper that the servers use', () => {
    const keepers = imageServices(c, 'clickhouse/clickhouse-keeper:');
    expect(keepers.map(([n]) => n)).toEqual(['keeper-1', 'keeper-2', 'keeper-3']);
    const raft = [...keeperXml.matchAll(/<id>(\d+)<\/id><hostname>([^<]+)<\/hostname>/g)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(raft).toEqual(keepers.map(([n, s]) => [env(s).KEEPER_SERVER_ID, n]));
    const used = [...clusterXml.matchAll(/<node><host>([^<]+)<\/host><port>9181<\/port><\/node>/g)].map(
      (m) => m[1],
    );
    expect(used).toEqual(keepers.map(([n]) => n));
  });

  it('3 KRaft brokers in one quorum, each role scaled out', () => {
    const brokers = imageServices(c, 'apache/kafka:');
    const voters = brokers.map(([n, s]) => `${env(s).KAFKA_NODE_ID}@${n}:9093`).join(',');
    for (const [, s] of brokers) {
      expect(env(s).KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(voters);
      expect(env(s).KAFKA_MIN_INSYNC_REPLICAS).toBe('2');
    }
    expect(new Set(brokers.map(([, s]) => env(s).CLUSTER_ID)).size).toBe(1);
    for (const role of ['ingest', 'forecaster', 'api']) {
      expect([role, c.services[role]?.deploy?.replicas]).toEqual([role, 2]);
    }
  });
});

describe('image build files', () => {
  it('the Dockerfile installs with the command the README names, never npm ci', () => {
    const dockerfile = read('Dockerfile')
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    const readme = read('README.md');
    expect(readme).toContain('npm install && npm test');
    expect(readme).toMatch(/`npm ci` refuses the lock/);
    expect(dockerfile).not.toMatch(/npm ci\b/);
    expect(dockerfile).toMatch(/^RUN npm install /m);
  });

  it('.dockerignore keeps .env (the passwords) and local state out of `COPY . .`', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(
      expect.arrayContaining(['.env', '.env.*', 'secrets', 'node_modules', '.data', '.stack']),
    );
    expect(read('Dockerfile')).toMatch(/^COPY \. \.$/m);
  });
});
