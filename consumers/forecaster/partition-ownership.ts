/**
 * Which branches a forecaster member owns: those whose HourClosed events land in the partitions the
 * forecaster group assigned to it. Ingest publishes them keyed by branch id with kafkajs's default
 * partitioner (murmur2 of the key, as Java's), so the same partitioner tells a branch's partition.
 * Used when a member refreshes without an event (start, a new model): only its own branches, so
 * every branch is refreshed by one member.
 */
import { Partitioners, type PartitionMetadata } from 'kafkajs';

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
