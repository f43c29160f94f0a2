/**
 * Branch directory: the known branches, their IANA time zone and currency.
 * Built-in table = the three Nory restaurants of the original brief, one group `nory`; a JSON file
 * (BRANCHES_FILE) replaces it in production. Shared by producers, ingest and the API.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { parseCivilDate } from './time/civil-date';

export const branchSchema = z.object({
  id: z.string().min(1).max(64),
  name: z.string().min(1),
  timezone: z.string().min(1),
  currency: z.string().regex(/^[A-Z]{3}$/),
  /** ISO 3166 country code, selects the special-days calendar. */
  country: z.string().regex(/^[A-Z]{2}$/),
  /** Company ID in the POS export (for replays), if any. */
  pos_company_id: z.string().optional(),
  /** Restaurant group (tenant) the branch belongs to, if any: an API key may be scoped to it. */
  group: z.string().min(1).max(64).optional(),
  /**
   * A new branch's expected weekly sales (major units, e.g. EUR), given when it is added: the
   * level its cold-start forecast starts from (model/cold-start.ts) until its own history takes over.
   */
  expected_weekly_sales: z.number().finite().positive().optional(),
  /** Local date (yyyy-mm-dd, the branch's zone) the branch opens or opened: no sales are expected before it. */
  opened_on: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .refine((d) => parseCivilDate(d) !== null, 'not a calendar date')
    .optional(),
});
export type Branch = z.infer<typeof branchSchema>;

/**
 * The group a branch is calibrated and listed with: its `group`, else its POS company. (A key's
 * group scope and GET /v1/groups/{id} accept either name: BranchDirectory.groupMembers.)
 */
export function groupOf(b: Pick<Branch, 'group' | 'pos_company_id'>): string | undefined {
  return b.group ?? b.pos_company_id;
}

export const NORY_BRANCHES: readonly Branch[] = Object.freeze([
  {
    id: '2hg8j32gw8g',
    name: 'Nory Taco',
    timezone: 'Europe/Dublin',
    currency: 'EUR',
    country: 'IE',
    pos_company_id: '36871',
    group: 'nory',
  },
  {
    id: '345hngydkgs',
    name: 'Nory Pizza',
    timezone: 'Europe/Dublin',
    currency: 'EUR',
    country: 'IE',
    pos_company_id: '36872',
    group: 'nory',
  },
  {
    id: '352h67i328fh',
    name: 'Nory Sushi',
    timezone: 'Europe/Dublin',
    currency: 'EUR',
    country: 'IE',
    pos_company_id: '36869',
    group: 'nory',
  },
]);

export class BranchDirectory {
  private readonly byId: ReadonlyMap<string, Branch>;
  private readonly byPosCompany: ReadonlyMap<string, Branch>;

  constructor(branches: readonly Branch[]) {
    this.byId = new Map(branches.map((b) => [b.id, b]));
    this.byPosCompany = new Map(
      branches.filter((b) => b.pos_company_id !== undefined).map((b) => [b.pos_company_id as string, b]),
    );
  }

  get(id: string): Branch | undefined {
    return this.byId.get(id);
  }

  byPosCompanyId(companyId: string): Branch | undefined {
    return this.byPosCompany.get(companyId);
  }

  list(): Branch[] {
    return [...this.byId.values()];
  }

  /** The branches whose `group` or `pos_company_id` is `groupId` (as a key's group scope reads them), in directory order. */
  groupMembers(groupId: string): Branch[] {
    return this.list().filter((b) => b.group === groupId || b.pos_company_id === groupId);
  }

  /** Loads BRANCHES_FILE (a JSON array of branches) or the built-in table. */
  static load(file?: string): BranchDirectory {
    if (!file) return new BranchDirectory(NORY_BRANCHES);
    const parsed = z
      .array(branchSchema)
      .min(1)
      .safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    if (!parsed.success) {
      throw new Error(
        `BRANCHES_FILE ${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    return new BranchDirectory(parsed.data);
  }
}
