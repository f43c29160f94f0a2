/**
 * Which branches a forecaster member owns: those whose HourClosed events land in the partitions the
 * forecaster group assigned to it. Ingest publishes them keyed by branch id with kafkajs's default
 * partitioner (murmur2 of the key, as Java's), so the same partitioner tells a branch's partition.
 * Used when a member refreshes without an event (start, a new model): only its own branches, so
 * every branch is refreshed by one member.
 */
import { Partitioners, type Kafka, type PartitionMetadata } from 'kafkajs';

export class PartitionOwnership {
  private owned: ReadonlySet<number> = new Set();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly metadata: PartitionMetadata[];

  constructor(
    private readonly topic: string,
    partitions: number,
  ) {
    this.metadata = Array.from({ length: partitions }, (_, i) => ({
      partitionErrorCode: 0,
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
  }

  /** For `topic` as the cluster has it (`fallback` partitions if the metadata does not say). */
  static async ofTopic(kafka: Kafka, topic: string, fallback: number): Promise<PartitionOwnership> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return new PartitionOwnership(topic, topics[0]?.partitions.length ?? fallback);
    } finally {
      await admin.disconnect();
    }
  }

  /** The assignment of the latest group join. */
  assign(partitions: readonly number[]): void {
    this.owned = new Set(partitions);
  }

  get partitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  partitionOf(branchId: string): number {
    return this.partitioner({
      topic: this.topic,
      partitionMetadata: this.metadata,
      message: { key: branchId, value: null },
    });
  }

  owns(branchId: string): boolean {
    return this.owned.has(this.partitionOf(branchId));
  }
}
