import type { UserHash } from '@omechat/protocol';

/**
 * When reports are enough to suspend an account without a moderator (docs/safety.md,
 * "Automatic escalation"). Reports are evidence, not votes: each weighs what it cost its maker
 * to produce, so fresh accounts, one network and an empty chat add up to nothing however many
 * there are, and go to the moderators' queue only.
 */
export interface EvidenceRule {
  /** A report weighs nothing unless the reported user sent at least this many messages in that chat. */
  minMessages: number;
  /** A report weighs nothing while its reporter's account is younger than this... */
  minReporterAgeMs: number;
  /** ...half until it is this old, then 1. */
  fullReporterAgeMs: number;
}

/** What the server knows about one report, from its own records (never the reporter's word). */
export interface ReportEvidence {
  reporter: UserHash;
  /** Network keys the reporter's devices were seen on, the one they reported from included. */
  networks: readonly string[];
  /** The reporter's account age when they made the report. */
  reporterAgeMs: number;
  /** Reports by this reporter that a moderator dismissed. */
  dismissedReports: number;
  /** Messages the reported user sent in the reported chat (counted up to `minMessages`). */
  messagesFromReported: number;
}

/** The most the messages of a chat are read back to find the reported user's (the latest ones). */
export const EVIDENCE_MESSAGES_READ = 100;

/** 0, 0.5 or 1 for the reporter's age; divided by 1 + their dismissed reports. */
export function reportWeight(evidence: ReportEvidence, rule: EvidenceRule): number {
  if (evidence.messagesFromReported < rule.minMessages) return 0;
  if (evidence.reporterAgeMs < rule.minReporterAgeMs) return 0;
  const age = evidence.reporterAgeMs < rule.fullReporterAgeMs ? 0.5 : 1;
  return age / (1 + evidence.dismissedReports);
}

/**
 * The weight of a set of reports against one user: reporters who share any network are one
 * group (one person with several accounts, or friends on one connection), and a group counts
 * once, with the weight of its best report. A reporter seen on no network proves no distinct
 * network and counts nothing. Every weight is at most 1, so a score of N needs N networks.
 */
export function evidenceScore(reports: readonly ReportEvidence[], rule: EvidenceRule): { score: number; groups: number } {
  // Union-find over reporters, joined through the networks they were seen on.
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const join = (a: string, b: string) => parent.set(find(a), find(b));
  const best = new Map<UserHash, number>();
  for (const r of reports) {
    if (r.networks.length === 0) continue;
    best.set(r.reporter, Math.max(best.get(r.reporter) ?? 0, reportWeight(r, rule)));
    const me = `user:${r.reporter}`;
    if (!parent.has(me)) parent.set(me, me);
    for (const network of r.networks) {
      const node = `net:${network}`;
      if (!parent.has(node)) parent.set(node, node);
      join(me, node);
    }
  }
  const groups = new Map<string, number>();
  for (const [reporter, weight] of best) {
    const root = find(`user:${reporter}`);
    groups.set(root, Math.max(groups.get(root) ?? 0, weight));
  }
  let score = 0;
  for (const weight of groups.values()) score += weight;
  return { score, groups: groups.size };
}
