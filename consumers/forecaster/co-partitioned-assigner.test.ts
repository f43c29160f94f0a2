/**
 * The forecaster group's assigner: partition p of the hours-closed and the calendar topics goes to
 * one member, so a branch's calendar changes reach the member that owns its closed hours.
 */
import { AssignerProtocol, type Cluster, type PartitionMetadata } from 'kafkajs';
import { createLogger } from '../../lib/logger';
import { CO_PARTITIONED, coPartitionedAssigner } from './co-partitioned-assigner';
import { PartitionOwnership } from './partition-ownership';

const meta = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, i) => ({
    partitionErrorCode: 0,
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));

function assignerFor(partitions: Record<string, number>) {
  const cluster = {
    findTopicPartitionMetadata: (t: string) => meta(partitions[t] ?? 0),
  } as unknown as Cluster;
  return coPartitionedAssigner({ cluster, groupId: 'g', logger: createLogger('silent') as never });
}

async function assign(partitions: Record<string, number>, members: string[]) {
  const a = assignerFor(partitions);
  const out = await a.assign({
    members: members.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) })),
    topics: Object.keys(partitions),
  });
  return Object.fromEntries(
    out.map((m) => [m.memberId, AssignerProtocol.MemberAssignment.decode(m.memberAssignment)!.assignment]),
  );
}

test('partition p of both topics goes to one member, dealt out over the sorted members', async () => {
  expect(await assign({ hours: 6, calendar: 6 }, ['m-b', 'm-a', 'm-c'])).toEqual({
    'm-a': { hours: [0, 3], calendar: [0, 3] },
    'm-b': { hours: [1, 4], calendar: [1, 4] },
    'm-c': { hours: [2, 5], calendar: [2, 5] },
  });
  // More members than partitions: the extra ones get nothing.
  expect(await assign({ hours: 2, calendar: 2 }, ['m-a', 'm-b', 'm-c'])).toEqual({
    'm-a': { hours: [0], calendar: [0] },
    'm-b': { hours: [1], calendar: [1] },
    'm-c': {},
  });
});

test('a branch keyed to both topics lands in the partitions of one member (same partitioner, same count)', async () => {
  const a = await assign({ hours: 6, calendar: 6 }, ['m-a', 'm-b']);
  const hours = new PartitionOwnership('hours', 6);
  const calendar = new PartitionOwnership('calendar', 6);
  for (const branch of ['352h67i328fh', '345hngydkgs', '2hg8j32gw8g', 'demo-1', 'demo-2']) {
    const owner = Object.keys(a).filter((m) => a[m]!.hours!.includes(hours.partitionOf(branch)));
    const calOwner = Object.keys(a).filter((m) => a[m]!.calendar!.includes(calendar.partitionOf(branch)));
    expect(calOwner).toEqual(owner);
    expect(owner).toHaveLength(1);
  }
});

test('its protocol names it and the subscribed topics', () => {
  const p = assignerFor({}).protocol({ topics: ['hours', 'calendar'] });
  expect(p.name).toBe(CO_PARTITIONED);
  expect(AssignerProtocol.MemberMetadata.decode(p.metadata)).toMatchObject({ topics: ['hours', 'calendar'] });
});
