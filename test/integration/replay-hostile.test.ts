/**
 * `tillcast replay` (the built CLI) on hostile POS exports, end to end through
 * the real broker: the good rows are published (exactly those, read back from
 * the topic and decoded), every bad row is reported on stderr as
 * `FILE:LINE: reason` (the first 20, then a count), and the exit code says it:
 * 4 = published but some rows were rejected, 1 = the whole file was refused.
 *
 * The parser's own cases (quoting, DST, money, every error text) are
 * producers/pos-export.test.ts's; this is about what the command does with them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultCodec } from '../../schemas/avro-codec';
import { PROJECT_ROOT } from '../../lib/config';
import { killAllChildren, requireBuiltCli, spawnCli } from '../child-process';
import {
  createTopics,
  endOffsets,
  faultScenario,
  removeScenarioDirs,
  type FaultScenario,
} from '../fault-helpers';
import { uniqueName, waitFor } from '../kafka-broker';

jest.setTimeout(120_000);

const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-replay-hostile-'));
const codec = defaultCodec();

beforeAll(() => {
  requireBuiltCli();
});

afterAll(async () => {
  await killAllChildren();
  removeScenarioDirs();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function runReplay(s: FaultScenario, file: string) {
  const child = spawnCli('replay', ['replay', file, '--no-heartbeats'], { ...s.env, LOG_LEVEL: 'warn' });
  const exit = await child.waitForExit(90_000);
  const prefix = `${file}:`;
  const stderr = child.stderr.split('\n');
  return {
    code: exit.code,
    summary: child.output.find((l) => l.startsWith('replay: ')) ?? '',
    reported: stderr.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)),
    more: stderr.filter((l) => l.startsWith('… and ')),
    stderr: child.stderr,
  };
}

/** Every message of the scenario's sales topic, decoded: [key, receipt id]. */
async function published(s: FaultScenario): Promise<[string, string][]> {
  const topic = s.config.KAFKA_TOPIC_SALES;
  const total = Object.values(await endOffsets(s, topic)).reduce((n, o) => n + Number(o), 0);
  const out: [string, string][] = [];
  if (total === 0) return out;
  const consumer = s.kafka.consumer({ groupId: uniqueName('replay-hostile-reader') });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const d = codec.decode(message.value!);
        if (d.kind !== 'sale') throw new Error(`unexpected ${d.kind} in the topic`);
        out.push([message.key!.toString(), d.value.event_id]);
        return Promise.resolve();
      },
    });
    await waitFor(() => out.length >= total, {
      description: `${total} messages read back`,
      timeoutMs: 30_000,
    });
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a[1].localeCompare(b[1]));
}

const TACO = '2hg8j32gw8g';
const PIZZA = '345hngydkgs';
const SUSHI = '352h67i328fh';

describe('tillcast replay with hostile POS exports', () => {
  it('the messy fixture (BOM, CRLF, quoted line breaks, broken rows, wrong dates): good rows published, bad rows reported by line, exit 4', async () => {
    const s = faultScenario('replay-messy');
    await createTopics(s);
    const file = path.join(FIXTURES, 'pos-export-messy.csv');
    const r = await runReplay(s, file);
    expect(r.code).toBe(4);
    expect(r.summary).toBe('replay: 10 events published, 10 rows rejected');
    expect(r.reported).toEqual([
      '6: expected 25 fields, got 6',
      '7: unparseable Creation Date "2020-07-01 13:00" (expected dd/mm/yy HH:MM)',
      '8: bad amount in Total: "12,50"',
      '9: unknown Company ID "99999"',
      '16: invalid Creation Date "31/02/21 12:00"',
      '17: bad Taxes: "13.5%:1.0"',
      '18: unknown Void Status "Pending"',
      '20: bad amount in Total: "1.234"',
      '21: unterminated quoted field (open at end of file)',
      '23: duplicate Receipt ID "2003" for this branch (first on line 22)',
    ]);
    expect(r.more).toEqual([]);
    expect(await published(s)).toEqual([
      [TACO, '1001'],
      [TACO, '1005'],
      [TACO, '1006'],
      [PIZZA, '2001'],
      [PIZZA, '2002'],
      [PIZZA, '2003'],
      [PIZZA, '2004'],
      [SUSHI, '3001'],
      [SUSHI, '3002'],
      [SUSHI, '3003'],
    ]);
  });

  it('a generated file with 35 bad rows among 20 good ones: the 20 published, the first 20 bad rows reported by line and the rest counted, exit 4', async () => {
    const header = fs
      .readFileSync(path.join(FIXTURES, 'pos-export-messy.csv'), 'utf8')
      .split(/\r?\n/)[0]!
      .replace(/^\uFEFF/, '');
    // Company, receipt, creation date, total: the rest of a valid Nory Taco row.
    const row = (o: {
      company?: string;
      receipt: string;
      created?: string;
      total?: string;
      fields?: number;
    }) => {
      const f = [
        o.company ?? '36871',
        'Nory Taco',
        '1',
        o.receipt,
        '',
        o.created ?? '05/07/20 12:00',
        '05/07/20 12:00',
        '05/07/20 12:00',
        'Unknown',
        'Paid',
        'Restaurant',
        '',
        '1',
        'T1',
        '2',
        'Inside',
        '1.0',
        '7',
        '',
        'Unknown',
        '2',
        '10.0',
        '',
        o.total ?? '10.0',
        '0.0',
      ];
      return f.slice(0, o.fields ?? f.length).join(',');
    };
    const bad: { line: string; error: string }[] = [
      ...[
        '2020-07-05 12:00',
        '5/7/20 12:00',
        '05/07/2020 12:00',
        '07/05/20 1:00 PM',
        '05.07.20 12:00',
        '',
        'yesterday',
        '05/07/20T12:00',
      ].map((d) => ({
        line: row({ receipt: '', created: d }),
        error: `unparseable Creation Date "${d}" (expected dd/mm/yy HH:MM)`,
      })),
      ...['32/07/20 12:00', '05/13/20 12:00', '29/02/21 12:00', '05/07/20 24:00', '05/07/20 12:60'].map(
        (d) => ({
          line: row({ receipt: '', created: d }),
          error: `invalid Creation Date "${d}"`,
        }),
      ),
      ...['NaN', 'Infinity', '1e3', '12,50', '€10', '--1', '10.', '0x10'].map((t) => ({
        line: row({ receipt: '', total: t.includes(',') ? `"${t}"` : t }),
        error: `bad amount in Total: "${t}"`,
      })),
      ...['1', '99999', 'DROP TABLE x'].map((c) => ({
        line: row({ company: c, receipt: '' }),
        error: `unknown Company ID "${c}"`,
      })),
      ...[3, 24, 1].map((n) => ({
        line: row({ receipt: '', fields: n }),
        error: `expected 25 fields, got ${n}`,
      })),
      { line: `${row({ receipt: '' })},extra`, error: 'expected 25 fields, got 26' },
      { line: row({ receipt: '' }), error: 'empty Receipt ID' },
      {
        line: row({ receipt: '' }).replace(/0\.0$/, '0"0"'),
        error: 'malformed CSV: stray quote in unquoted field 25',
      },
    ];
    const lines = [header];
    const expected: string[] = [];
    const good: string[] = [];
    let g = 0;
    let b = 0;
    // Interleaved: good, bad, bad, good, bad, bad, ... until both lists are used up; then duplicates.
    while (g < 20 || b < bad.length) {
      if (g < 20 && (lines.length % 3 === 1 || b >= bad.length)) {
        const id = `77${String(g).padStart(3, '0')}`;
        lines.push(row({ receipt: id, created: `05/07/20 ${String(8 + (g % 12)).padStart(2, '0')}:00` }));
        good.push(id);
        g++;
      } else {
        const x = bad[b++]!;
        // Bad rows get a receipt id unless the case is about it.
        lines.push(x.error === 'empty Receipt ID' ? x.line : x.line.replace(',1,,', `,1,88${b},`));
        expected.push(`${lines.length}: ${x.error}`);
      }
    }
    for (const id of ['77000', '77001', '77002', '77003', '77004']) {
      lines.push(row({ receipt: id }));
      const first = lines.findIndex((l) => l.includes(`,1,${id},`)) + 1;
      expected.push(`${lines.length}: duplicate Receipt ID "${id}" for this branch (first on line ${first})`);
    }
    const file = path.join(tmp, 'hostile.csv');
    fs.writeFileSync(file, `\uFEFF${lines.join('\r\n')}\r\n`);

    const s = faultScenario('replay-hostile');
    await createTopics(s);
    const r = await runReplay(s, file);
    expect(r.code).toBe(4);
    expect(r.summary).toBe(`replay: 20 events published, ${expected.length} rows rejected`);
    expect(expected.length).toBe(35);
    expect(r.reported).toEqual(expected.slice(0, 20));
    expect(r.more).toEqual(['… and 15 more rejected rows']);
    expect(await published(s)).toEqual(good.map((id) => [TACO, id]));
  });

  it('a file without a required column is refused whole: exit 1, the column named, nothing published', async () => {
    const s = faultScenario('replay-missing-column');
    await createTopics(s);
    const file = path.join(FIXTURES, 'pos-export-missing-column.csv');
    const r = await runReplay(s, file);
    expect(r.code).toBe(1);
    const last = r.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(
      new RegExp(
        `^tillcast: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the header \\(line 1\\) lacks required column "Creation Date"; found: "Company ID", `,
      ),
    );
    expect(r.summary).toBe('');
    expect(await published(s)).toEqual([]);
  });
});
