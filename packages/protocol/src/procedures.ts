import { z } from 'zod';
import {
  clientsListOutput,
  deleteAccountInput,
  deleteAccountOutput,
  loginInput,
  loginOutput,
  meOutput,
  registerInput,
  registerOutput,
  revokeClientInput,
  revokeClientOutput,
  rotateSecretInput,
  rotateSecretOutput,
} from './account.js';
import {
  chatIdInput,
  chatListOutput,
  historyInput,
  historyOutput,
  markReadInput,
  matchCancelOutput,
  matchStartInput,
  matchStartOutput,
  okOutput,
  sendInput,
  sendOutput,
  typingInput,
} from './chat.js';
import type { ErrorCode } from './errors.js';
import { POW_WORKED_EXAMPLE, powChallengeOutput } from './pow.js';
import { eventBatchSchema, streamInput } from './events.js';
import { keysBundlesInput, keysBundlesOutput, keysDevicesOutput, keysStatusOutput, keysUploadInput } from './keys.js';
import {
  adminAuditListInput,
  adminAuditListOutput,
  adminBanCreateInput,
  adminBanRevokeInput,
  adminBansListInput,
  adminBansListOutput,
  adminReportResolveInput,
  adminReportsListInput,
  adminReportsListOutput,
  adminUserInput,
  adminUserOutput,
  banSchema,
  blockInput,
  blockOutput,
  blocksListOutput,
  reportInput,
  reportOutput,
  reportRecordSchema,
  unblockOutput,
} from './safety.js';
import { metaVersionOutput, PROTOCOL_VERSION } from './version.js';

/**
 * Every procedure on the wire, in one table: the router must use exactly these schemas
 * (packages/server/test/contract.test.ts), the JSON Schema and docs/protocol.md are generated
 * from it, and each example is checked against its schemas.
 */

/** For procedures that take nothing: the frame carries no `input`, and anything sent is refused. */
export const noInput = z.undefined();

/** Who may call: anyone, a signed-in device (connectionParams), or a moderator (admin token). */
export type ProcedureAuth = 'public' | 'device' | 'admin';
export type ProcedureKind = 'query' | 'mutation' | 'subscription';

export interface ProcedureContract {
  kind: ProcedureKind;
  auth: ProcedureAuth;
  summary: string;
  input: z.ZodType;
  /** For the subscription: one item, sent tracked as `{id, data}` with its resume id. */
  output: z.ZodType;
  /** Errors beyond the ones every call of its `auth` can get (COMMON_ERRORS). */
  errors: readonly ErrorCode[];
  /** The rate limit (README, docs/safety.md) that applies, if any. */
  rateLimit?: string;
  /** A valid input and the output it could produce. */
  example: { input?: unknown; output: unknown };
}

/** Errors any call can get, by who may call it. */
export const COMMON_ERRORS: Record<ProcedureAuth, readonly ErrorCode[]> = {
  public: ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'BANNED', 'INTERNAL', 'UNAVAILABLE'],
  device: ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNAUTHORIZED', 'BANNED', 'INTERNAL', 'UNAVAILABLE'],
  admin: ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL', 'UNAVAILABLE'],
};

// Example values: what freshly minted ids, keys and secrets look like.
const alice = 'IzDBXG9gh3pG_8pr5MbklA';
const alicePhone = 'xLp_vp6poVoZGAe1nXFrGA';
const aliceLaptop = 'NLGXqFywhU1euhmh-Z60wQ';
const bob = 'z21iDIvDZwbVMQoOKrbvQQ';
const bobPhone = 'OalXdhl7rVC8BuIi2QYOfw';
const chatId = '7ndMgDE_mXfMBmciMh6iVw';
const messageId = '3s8Amq0KLCyTzxzLBEEt7g';
const secret = 'c3tfaD2dst-Ril13x8QRdmFiTvNZaIiM-YX_XvzVb9ZTD93BjI1dFKITpbS0i1ga';
const accessToken = '-mpI9G13SEvmpROmET6HUQq8pGugnYDI3yt3xd4Ng-c';
const key = ['Ji-ZYKBqBVJR7Lz4yFS9vdJbH3zui8pNRwk2rrkurfA', 'D1Gpllh7OrXK-GmENo8xZlmLnGH85-3R5fP4Q_7PD5A', 'GuwSdCPuMkZyLyjWWl_EOEcbuH9UCLR5X1RZNoUUqJE'] as const;
const signature = '3mlyxhI9OleVkEABvsrs3ZA7CpMBb8LkiPHDJX0F6HQ0GyAiFRH-gXlaxxbsfd3qRrLoQhXaJElhg1frws5V9Q';
const networkKey = '066f106ef28418fd5668fa21cf912da2fcf5d82b711079e19d2b1b5d5fcf403b';
const t0 = 1_764_500_000_000;
const envelope = {
  v: 1,
  parts: [
    { to: bobPhone, header: 'AAECAwQFBgcICQ', ciphertext: 'c2VhbGVkIGZvciBib2I' },
    { to: aliceLaptop, header: 'CAkKCwwNDg8QEQ', ciphertext: 'c2VhbGVkIGZvciBhbGljZQ' },
  ],
};
const signedPrekey = { id: 1, pub: key[1], signature };
const ban = {
  banId: 7,
  layer: 'account',
  target: bob,
  reason: 'harassment after warnings',
  issuer: 'mod-anna',
  createdAt: t0,
  expiresAt: t0 + 7 * 86_400_000,
  revokedAt: null,
  revokedBy: null,
  parentBanId: null,
  active: true,
};
const reportRecord = {
  reportId: 12,
  chatId,
  reporter: alice,
  reported: bob,
  reason: 'harassment',
  urgent: false,
  note: 'kept insulting me',
  disclosed: [{ seq: 3, text: 'you are an idiot', sender: bob }],
  createdAt: t0,
  resolvedAt: null,
  resolution: null,
  resolvedBy: null,
  resolutionNote: null,
  reportedDeletedAt: null,
};

export const PROCEDURES = {
  'meta.version': {
    kind: 'query',
    auth: 'public',
    summary: "The protocol version this server speaks (also in `GET /healthz`). Call it first; a different major means a different protocol.",
    input: noInput,
    output: metaVersionOutput,
    errors: [],
    example: { output: { protocol: PROTOCOL_VERSION, server: '0.1.0' } },
  },
  'account.challenge': {
    kind: 'query',
    auth: 'public',
    summary: 'A signed, expiring proof-of-work challenge to solve before `account.register` (see [Proof-of-work](#proof-of-work) for the algorithm); null when the server requires none (the reference server requires one by default). The SDK fetches and solves it inside `account.register`.',
    input: noInput,
    output: powChallengeOutput,
    errors: ['RATE_LIMITED'],
    rateLimit: 'proof-of-work challenges per network',
    example: { output: POW_WORKED_EXAMPLE.challenge },
  },
  'account.register': {
    kind: 'mutation',
    auth: 'public',
    summary: 'Creates an account. The username is NFKC-normalised, then must be 3-32 of `A-Z a-z 0-9 _ . -`, unique case-insensitively, and must not look like a staff name (USERNAME_RESERVED). The secret is shown once: store it.',
    input: registerInput,
    output: registerOutput,
    errors: ['USERNAME_TAKEN', 'USERNAME_RESERVED', 'CONFLICT', 'RATE_LIMITED', 'POW_REQUIRED', 'POW_INVALID', 'POW_EXPIRED', 'POW_REPLAYED'],
    rateLimit: 'registrations per network',
    example: { input: { username: 'alice_19', age: 19, pow: POW_WORKED_EXAMPLE }, output: { userHash: alice, secret } },
  },
  'account.login': {
    kind: 'mutation',
    auth: 'public',
    summary: 'Signs a new device in. Reconnect with the returned `clientHash` and `accessToken` as connectionParams.',
    input: loginInput,
    output: loginOutput,
    errors: ['INVALID_CREDENTIALS', 'TOO_MANY_CLIENTS', 'CONFLICT', 'RATE_LIMITED'],
    rateLimit: 'failed logins per username and per network, with lockout',
    example: {
      input: { username: 'alice_19', secret, deviceName: 'phone' },
      output: { userHash: alice, clientHash: alicePhone, accessToken },
    },
  },
  'account.me': {
    kind: 'query',
    auth: 'device',
    summary: 'The signed-in account and device.',
    input: noInput,
    output: meOutput,
    errors: [],
    example: { output: { userHash: alice, clientHash: alicePhone, username: 'alice_19', age: 19, createdAt: t0 } },
  },
  'account.rotateSecret': {
    kind: 'mutation',
    auth: 'device',
    summary: 'Replaces the secret, given the current one (a stolen device token alone cannot); the old one stops working. Devices stay signed in.',
    input: rotateSecretInput,
    output: rotateSecretOutput,
    errors: ['INVALID_CREDENTIALS', 'RATE_LIMITED'],
    rateLimit: 'failed logins per username and per network, with lockout (a wrong secret counts as one)',
    example: { input: { secret }, output: { secret } },
  },
  'account.delete': {
    kind: 'mutation',
    auth: 'device',
    summary: "Deletes the account, its devices, chats and messages. The caller's connection stays open, signed out; its other devices are closed with 4003.",
    input: deleteAccountInput,
    output: deleteAccountOutput,
    errors: ['INVALID_CREDENTIALS'],
    example: { input: { secret }, output: { deleted: true } },
  },
  'clients.list': {
    kind: 'query',
    auth: 'device',
    summary: "The account's devices; `current` marks the caller.",
    input: noInput,
    output: clientsListOutput,
    errors: [],
    example: {
      output: [
        { clientHash: alicePhone, deviceName: 'phone', createdAt: t0, lastSeenAt: t0 + 60_000, current: true },
        { clientHash: aliceLaptop, deviceName: null, createdAt: t0 + 1000, lastSeenAt: null, current: false },
      ],
    },
  },
  'clients.revoke': {
    kind: 'mutation',
    auth: 'device',
    summary: "Signs a device out for good: its connections close with 4003 and its token stops working. Revoking another device needs the account `secret`; a device may always revoke itself, and then the caller's connection closes after the reply.",
    input: revokeClientInput,
    output: revokeClientOutput,
    errors: ['NOT_FOUND', 'INVALID_CREDENTIALS', 'RATE_LIMITED'],
    rateLimit: 'failed logins per username and per network, with lockout (a wrong secret counts as one)',
    example: { input: { clientHash: aliceLaptop, secret }, output: { revoked: true } },
  },
  'match.start': {
    kind: 'mutation',
    auth: 'device',
    summary:
      'Joins the queue for a stranger whose age gap fits both tolerances (|a - b| <= min of the two), never pairing a minor (under 18) with an adult. `queued: false` and a `chatId` when a waiting partner was found at once; either way both users get `match.found`. The ticket lasts while a connection of the user is open. Two users are not paired again while they share an active chat, nor for a while after one of them leaves it (30 minutes on the reference server, `OMECHAT_MATCH_REMATCH_AFTER_MS`): if they are the only two waiting, both wait for someone else.',
    input: matchStartInput,
    output: matchStartOutput,
    errors: ['RATE_LIMITED'],
    rateLimit: 'match starts per device',
    example: { input: { tolerance: 2, interests: ['chess'] }, output: { queued: false, chatId } },
  },
  'match.cancel': {
    kind: 'mutation',
    auth: 'device',
    summary: "Leaves the queue; `cancelled: false` when the user had no ticket.",
    input: noInput,
    output: matchCancelOutput,
    errors: [],
    example: { output: { cancelled: true } },
  },
  'chat.list': {
    kind: 'query',
    auth: 'device',
    summary: "The user's chats, most recently active first.",
    input: noInput,
    output: chatListOutput,
    errors: [],
    example: {
      output: [
        {
          chatId,
          peer: { userHash: bob, username: 'bob_20', age: 20, deleted: false },
          state: 'active',
          endReason: null,
          createdAt: t0,
          lastActivityAt: t0 + 5000,
          lastSeq: 4,
          unread: 1,
        },
      ],
    },
  },
  'chat.history': {
    kind: 'query',
    auth: 'device',
    summary: 'A page of stored messages, oldest first, with seq below `beforeSeq` (the newest page without it).',
    input: historyInput,
    output: historyOutput,
    errors: ['FORBIDDEN'],
    example: {
      input: { chatId, limit: 1 },
      output: {
        messages: [
          { chatId, messageId, seq: 4, senderUserHash: alice, senderClientHash: alicePhone, envelope, sentAt: t0 + 5000 },
        ],
        hasMore: true,
      },
    },
  },
  'chat.leave': {
    kind: 'mutation',
    auth: 'device',
    summary: "Ends the chat for both users (`chat.ended`, reason `left`); its history stays readable.",
    input: chatIdInput,
    output: okOutput,
    errors: ['FORBIDDEN'],
    example: { input: { chatId }, output: { ok: true } },
  },
  'chat.typing': {
    kind: 'mutation',
    auth: 'device',
    summary: 'Tells the peer (`chat.typing`, never stored) that the user started or stopped typing; nothing happens in an ended chat.',
    input: typingInput,
    output: okOutput,
    errors: ['FORBIDDEN', 'RATE_LIMITED'],
    rateLimit: 'typing notices per device',
    example: { input: { chatId, typing: true }, output: { ok: true } },
  },
  'message.send': {
    kind: 'mutation',
    auth: 'device',
    summary:
      "Stores an end-to-end encrypted envelope (one part per addressed device: the peer's devices and the sender's other ones), then acks. Delivered once as `message.new` to every other device of both users. A retry with the same `clientMessageId` returns the first ack and stores nothing.",
    input: sendInput,
    output: sendOutput,
    errors: ['FORBIDDEN', 'CHAT_ENDED', 'RATE_LIMITED'],
    rateLimit: 'messages per device, burst and sustained',
    example: {
      input: { chatId, envelope, clientMessageId: 'm-0001' },
      output: { messageId, seq: 4, sentAt: t0 + 5000 },
    },
  },
  'message.markRead': {
    kind: 'mutation',
    auth: 'device',
    summary: 'Marks messages up to `seq` read; the peer gets `message.read`.',
    input: markReadInput,
    output: okOutput,
    errors: ['FORBIDDEN', 'RATE_LIMITED'],
    rateLimit: 'read receipts per device',
    example: { input: { chatId, seq: 4 }, output: { ok: true } },
  },
  'events.stream': {
    kind: 'subscription',
    auth: 'device',
    summary:
      'The one subscription: everything pushed to this device, in batches. The first item is an empty batch (the stream is live); each item carries a resume id. Subscribe again with the last id as `lastEventId` to get every stored event after it, exactly once.',
    input: streamInput,
    output: eventBatchSchema,
    errors: [],
    example: {
      input: { lastEventId: null },
      output: {
        events: [
          { type: 'match.found', chatId, peer: { userHash: bob, username: 'bob_20', age: 20 }, at: t0 },
          {
            type: 'message.new',
            message: { chatId, messageId, seq: 1, senderUserHash: bob, senderClientHash: bobPhone, envelope, sentAt: t0 + 1000 },
          },
        ],
      },
    },
  },
  'keys.upload': {
    kind: 'mutation',
    auth: 'device',
    summary: "Sets the device's identity keys (once; a different identity is refused) and signed prekey, and adds one-time prekeys. See docs/e2e.md.",
    input: keysUploadInput,
    output: keysStatusOutput,
    errors: ['CONFLICT'],
    example: {
      input: { identity: { signingPub: key[0], dhPub: key[1] }, signedPrekey, oneTimePrekeys: [{ id: 2, pub: key[2] }] },
      output: { hasIdentity: true, oneTimePrekeys: 1 },
    },
  },
  'keys.status': {
    kind: 'query',
    auth: 'device',
    summary: 'Whether the device has uploaded its identity, and how many one-time prekeys remain (top up when low).',
    input: noInput,
    output: keysStatusOutput,
    errors: [],
    example: { output: { hasIdentity: true, oneTimePrekeys: 57 } },
  },
  'keys.bundles': {
    kind: 'mutation',
    auth: 'device',
    summary: "One prekey bundle per device of the peer of an active chat, or of the user's own devices; each one-time prekey is handed out once. This is how a client learns which devices to address: only devices that have uploaded keys (`keys.upload`) are listed, so the list is empty until the peer's device has done so (right after it signs in): ask again shortly rather than send to nobody.",
    input: keysBundlesInput,
    output: keysBundlesOutput,
    errors: ['FORBIDDEN', 'RATE_LIMITED'],
    rateLimit: 'key bundle requests per device and addressed user',
    example: {
      input: { userHash: bob },
      output: {
        devices: [
          {
            clientHash: bobPhone,
            bundle: { identitySigningPub: key[0], identityDhPub: key[1], signedPrekey, oneTimePrekey: { id: 2, pub: key[2] } },
          },
        ],
      },
    },
  },
  'keys.devices': {
    kind: 'query',
    auth: 'device',
    summary: "Identity keys of a user's devices (no prekeys consumed), for safety codes. Like `keys.bundles`, it lists only devices that have uploaded keys: empty until then.",
    input: keysBundlesInput,
    output: keysDevicesOutput,
    errors: ['FORBIDDEN'],
    example: { input: { userHash: bob }, output: { devices: [{ clientHash: bobPhone, identity: { signingPub: key[0], dhPub: key[1] } }] } },
  },
  'safety.block': {
    kind: 'mutation',
    auth: 'device',
    summary: "The two are never matched again, and a chat between them ends (`chat.ended`, reason `blocked`). Any userHash but your own is accepted alike, whether or not it names an account.",
    input: blockInput,
    output: blockOutput,
    errors: ['RATE_LIMITED'],
    rateLimit: 'blocks and unblocks per user',
    example: { input: { userHash: bob }, output: { blocked: true } },
  },
  'safety.unblock': {
    kind: 'mutation',
    auth: 'device',
    summary: "Lifts a block; `unblocked: false` when there was none.",
    input: blockInput,
    output: unblockOutput,
    errors: ['RATE_LIMITED'],
    rateLimit: 'blocks and unblocks per user',
    example: { input: { userHash: bob }, output: { unblocked: true } },
  },
  'safety.blocks': {
    kind: 'query',
    auth: 'device',
    summary: 'The users this user blocked.',
    input: noInput,
    output: blocksListOutput,
    errors: [],
    example: { output: [{ userHash: bob, blockedAt: t0 }] },
  },
  'safety.report': {
    kind: 'mutation',
    auth: 'device',
    summary: 'Reports the peer of a chat, once per chat, optionally disclosing decrypted messages to the moderators.',
    input: reportInput,
    output: reportOutput,
    errors: ['FORBIDDEN', 'ALREADY_REPORTED', 'RATE_LIMITED'],
    rateLimit: 'reports per user',
    example: {
      input: { chatId, reason: 'harassment', note: 'kept insulting me', disclosed: [{ seq: 3, text: 'you are an idiot' }] },
      output: { urgent: false },
    },
  },
  'admin.reports.list': {
    kind: 'query',
    auth: 'admin',
    summary: 'Reports, unresolved and urgent (minor-safety) first, oldest first.',
    input: adminReportsListInput,
    output: adminReportsListOutput,
    errors: [],
    example: { input: { status: 'open', limit: 50 }, output: [reportRecord] },
  },
  'admin.reports.resolve': {
    kind: 'mutation',
    auth: 'admin',
    summary: 'Closes a report as actioned or dismissed (audited).',
    input: adminReportResolveInput,
    output: reportRecordSchema,
    errors: ['NOT_FOUND', 'CONFLICT'],
    example: {
      input: { reportId: 12, resolution: 'actioned', note: 'banned for a week' },
      output: { ...reportRecord, resolvedAt: t0 + 3_600_000, resolution: 'actioned', resolvedBy: 'mod-anna', resolutionNote: 'banned for a week' },
    },
  },
  'admin.bans.create': {
    kind: 'mutation',
    auth: 'admin',
    summary: "Bans an account, a device or a network (audited); the target's connections close with 4004.",
    input: adminBanCreateInput,
    output: banSchema,
    errors: ['NOT_FOUND'],
    example: { input: { layer: 'account', target: bob, reason: 'harassment after warnings', expiresAt: ban.expiresAt }, output: ban },
  },
  'admin.bans.revoke': {
    kind: 'mutation',
    auth: 'admin',
    summary: 'Lifts a ban (audited).',
    input: adminBanRevokeInput,
    output: banSchema,
    errors: ['NOT_FOUND'],
    example: { input: { banId: 7, reason: 'appeal accepted' }, output: { ...ban, revokedAt: t0 + 60_000, revokedBy: 'mod-anna', active: false } },
  },
  'admin.bans.list': {
    kind: 'query',
    auth: 'admin',
    summary: 'Bans, filtered by status, layer and target.',
    input: adminBansListInput,
    output: adminBansListOutput,
    errors: [],
    example: { input: { status: 'active', layer: 'network' }, output: [{ ...ban, banId: 8, layer: 'network', target: networkKey }] },
  },
  'admin.audit.list': {
    kind: 'query',
    auth: 'admin',
    summary: 'The audit log, newest first; page with `beforeId`. Entries cannot be changed or removed.',
    input: adminAuditListInput,
    output: adminAuditListOutput,
    errors: [],
    example: {
      input: { limit: 1 },
      output: [{ auditId: 31, at: t0, actor: 'mod-anna', action: 'ban.create', subject: `account:${bob}`, details: { banId: 7 } }],
    },
  },
  'admin.users.get': {
    kind: 'query',
    auth: 'admin',
    summary: "An account's devices, the networks (keys) they used, its bans and how many users reported it.",
    input: adminUserInput,
    output: adminUserOutput,
    errors: ['NOT_FOUND'],
    example: {
      input: { userHash: bob },
      output: {
        userHash: bob,
        username: 'bob_20',
        age: 20,
        createdAt: t0,
        devices: [{ clientHash: bobPhone, createdAt: t0, lastSeenAt: t0 + 60_000 }],
        networks: [{ networkKey, clientHash: bobPhone, lastSeenAt: t0 + 60_000 }],
        bans: [ban],
        reporters: 3,
      },
    },
  },
} as const satisfies Record<string, ProcedureContract>;

export type ProcedurePath = keyof typeof PROCEDURES;
