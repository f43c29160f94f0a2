/**
 * The forecaster group's partition assigner: partition p of every subscribed topic goes to the
 * same member. The group reads two topics keyed by branch id with the same partitioner and the same
 * number of partitions (lib/topics.ts): hours-closed and the branch calendar's changes. So a
 * branch's calendar changes reach the member that owns its closed hours (partition-ownership.ts),
 * and that member alone writes the branch's runs: an hour close and a calendar change of a branch
 * never race on two members (which could serve a run from an older origin, newer only in
 * generated_at). Kafka's RoundRobin assigner deals the topics' partitions out one after another
 * and gives no such guarantee; this is Kafka Streams' co-partitioning, done by hand.
 *
 * Members are sorted by id and partition numbers dealt out in turn (p mod members), as
 * RoundRobin does for one topic. Every partition of every topic is assigned. ensureTopics creates
 * both topics with KAFKA_SALES_PARTITIONS; were their counts made to differ by hand, a branch's two
 * partitions could differ in number, and its calendar refresh come from another member: still a
 * refresh, without the guarantee against racing.
 *
 * The members offer this assigner first and RoundRobin second: a group mixing older members
 * (RoundRobin only) with these agrees on RoundRobin until the last older member is gone.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const CO_PARTITIONED = 'TillcastCoPartitioned';
const VERSION = 0;

export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: CO_PARTITIONED,
  version: VERSION,
  assign({ members, topics }) {
    const sorted = members.map((m) => m.memberId).sort();
    const assignment = new Map<string, Record<string, number[]>>(sorted.map((id) => [id, {}]));
    for (const topic of topics) {
      const partitions = cluster
        .findTopicPartitionMetadata(topic)
        .map((p) => p.partitionId)
        .sort((a, b) => a - b);
      for (const p of partitions) {
        const member = sorted[p % sorted.length];
        if (member === undefined) continue;
        const own = assignment.get(member)!;
        (own[topic] ??= []).push(p);
      }
    }
    return Promise.resolve(
      sorted.map((memberId) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment: assignment.get(memberId)!,
          userData: Buffer.alloc(0),
        }),
      })),
    );
  },
  protocol({ topics }) {
    return {
      name: CO_PARTITIONED,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: Buffer.alloc(0),
      }),
    };
  },
});
