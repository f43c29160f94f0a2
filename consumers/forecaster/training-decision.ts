/**
 * A training decision: "train (full | finetune) on the data closed up to `watermark`", published
 * by whichever forecaster member saw the reason (a local day closed, no model yet, the model a
 * week behind at start, a week closed while training) to the one-partition training topic, and
 * carried out by the member that owns that partition (trainer.ts).
 *
 * The id is the kind and the watermark, and it is the message key: two members that saw the same
 * day close publish the same id. The trainer does not need ids to be unique, though: a decision is
 * satisfied once the registry has a model registered for it or trained on data up to its watermark
 * (ForecastStore.modelSatisfying), so duplicates with other ids are skipped as well.
 */
import { z } from 'zod';

export type TrainingKind = 'full' | 'finetune';

export interface TrainingDecision {
  id: string;
  kind: TrainingKind;
  /** End of the newest closed hour the decision is about (UTC ms). */
  watermark: number;
  reason: string;
  /** The member that published it (host:pid). */
  decidedBy: string;
  decidedAt: number;
}

const schema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  kind: z.enum(['full', 'finetune']),
  watermark: z.number().int(),
  reason: z.string(),
  decidedBy: z.string(),
  decidedAt: z.number().int(),
});

export const decisionId = (kind: TrainingKind, watermark: number): string =>
  `${kind}:${new Date(watermark).toISOString()}`;

export function newDecision(
  kind: TrainingKind,
  watermark: number,
  reason: string,
  decidedBy: string,
): TrainingDecision {
  return { id: decisionId(kind, watermark), kind, watermark, reason, decidedBy, decidedAt: Date.now() };
}

export function encodeDecision(d: TrainingDecision): { key: string; value: string } {
  return { key: d.id, value: JSON.stringify({ v: 1, ...d }) };
}

/** Throws on anything that is not a decision of this version (the caller logs and skips it). */
export function decodeDecision(value: Buffer): TrainingDecision {
  const { v: _v, ...d } = schema.parse(JSON.parse(value.toString('utf8')));
  return d;
}

/**
 * The decisions of one fetched batch as one: the newest data, full if any asks for full. Training
 * once on the newest data answers all of them (they pile up while a training runs).
 */
export function coalesceDecisions(decisions: TrainingDecision[]): TrainingDecision | undefined {
  if (decisions.length <= 1) return decisions[0];
  const newest = decisions.reduce((a, b) => (b.watermark > a.watermark ? b : a));
  const kind: TrainingKind = decisions.some((d) => d.kind === 'full') ? 'full' : newest.kind;
  return {
    ...newest,
    kind,
    id: decisionId(kind, newest.watermark),
    reason: [...new Set(decisions.map((d) => d.reason))].join('; '),
  };
}
