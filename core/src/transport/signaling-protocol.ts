import { z } from 'zod';
import { sessionConfigSchema } from '../config';
import type { SessionConfig } from '../config';
import { recordRefusals, sessionRecordViewSchema } from '../record/record';
import type { RecordRefusal, SessionRecordView } from '../record/record';

/**
 * The signaling wire contract, shared by the server (signaling/) and the client
 * (signaling-client.ts) so both validate against one schema. Every payload that crosses the
 * socket is parsed with these before use; limits are part of the schema so an oversized field is
 * a readable validation error rather than a memory problem.
 */

export const SIGNALING_EVENTS = {
  /** client -> server, ack: CreateAck */
  create: 'session:create',
  /** client -> server, ack: JoinAck */
  join: 'session:join',
  /** client -> server {to, data}; server -> client {from, data} */
  signal: 'signal',
  /** the same, batched: client -> server [{to, data}, ...]; server -> client [{from, data}, ...] */
  signals: 'signals',
  /** client -> server {peer}: this socket's peer cannot reach `peer` over WebRTC */
  unreachable: 'peer:unreachable',
  /** server -> client: a new membership epoch */
  membership: 'membership',
  /** client -> server ProgressReport (the term's aggregator only), ack: RecordAck */
  report: 'record:report',
  /** client -> server {}, ack: RecordAck */
  read: 'record:read',
  /** server -> client: the session record, pushed when its status changes (start, finish, everyone left) */
  record: 'record',
  /** server -> client: a refused event that had no ack callback, or a notice before disconnect */
  error: 'signaling:error',
} as const;

const idSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'must be [A-Za-z0-9_-]');

const peerInfoSchema = z.object({
  backend: z.enum(['webgpu', 'wasm', 'node']),
  label: z.string().max(64).optional(),
});
export type PeerInfo = z.infer<typeof peerInfoSchema>;

const memberSchema = z.object({
  id: idSchema,
  /** join sequence number within the session; the smaller one initiates a WebRTC connection */
  seq: z.number().int().nonnegative(),
  info: peerInfoSchema,
  /**
   * the data shard this peer trains (docs/session.md, "Shards"); provisional until the session
   * starts, when the shard count is fixed (the record's `shards`)
   */
  shard: z.number().int().nonnegative().max(4095),
});
export type Member = z.infer<typeof memberSchema>;

export const membershipEpochSchema = z.object({
  epoch: z.number().int().nonnegative(),
  /** live peers in join order */
  peers: z.array(memberSchema).max(4096),
});
export type MembershipEpoch = z.infer<typeof membershipEpochSchema>;

export const joinRequestSchema = z.object({
  sessionId: idSchema,
  token: z.string().min(1).max(128),
  info: peerInfoSchema,
  /** a resumed peer's own shard (from its checkpoint), granted when within the shard count */
  shard: z.number().int().nonnegative().max(4095).optional(),
  /**
   * take this membership again through another server process (its own server went away):
   * same peer id, join sequence and shard, no new epoch; `key` is the join ack's `resumeKey`
   */
  resume: z.object({ peerId: idSchema, key: z.string().min(1).max(128) }).optional(),
});
export type JoinRequest = z.infer<typeof joinRequestSchema>;

/**
 * What simple-peer emits on 'signal'. Only the kinds it produces for data channels are relayed,
 * so the server never forwards arbitrary blobs between peers.
 */
const MAX_SDP_CHARS = 32 * 1024;
const signalDataSchema = z.union([
  z.object({
    type: z.enum(['offer', 'answer', 'pranswer', 'rollback']),
    sdp: z.string().max(MAX_SDP_CHARS),
  }),
  z.object({
    type: z.literal('candidate'),
    candidate: z.object({
      candidate: z.string().max(2048),
      sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
      sdpMid: z.string().max(256).nullable().optional(),
    }),
  }),
  z.object({ type: z.literal('renegotiate'), renegotiate: z.literal(true) }),
]);
export type SignalData = z.infer<typeof signalDataSchema>;

export const signalOutSchema = z.object({ to: idSchema, data: signalDataSchema });
export type SignalOut = z.infer<typeof signalOutSchema>;
export const signalInSchema = z.object({ from: idSchema, data: signalDataSchema });
export type SignalIn = z.infer<typeof signalInSchema>;
/** signals per `signals` batch; a batch is also kept under the packet cap by its sender */
export const MAX_SIGNAL_BATCH = 256;
export const signalBatchOutSchema = z.array(signalOutSchema).min(1).max(MAX_SIGNAL_BATCH);
export const signalBatchInSchema = z.array(signalInSchema).min(1).max(MAX_SIGNAL_BATCH);

export const unreachableReportSchema = z.object({ peer: idSchema });

export const createdSessionSchema = z.object({
  id: idSchema,
  token: z.string().min(1).max(128),
  /** join link: <base>/?session=ID&token=T */
  url: z.string().max(2048),
  /** the creator's key: starts the session before expectedPeers joined (POST /api/sessions/ID/start) */
  admin: z.string().min(1).max(128),
});
export type CreatedSession = z.infer<typeof createdSessionSchema>;

export const errorAckSchema = z.object({
  ok: z.literal(false),
  error: z.string().max(2048),
  code: z.string().max(64),
  /** refusals about the session record (and joins of a finished session) say where it stands */
  record: sessionRecordViewSchema.optional(),
});
export type ErrorAck = z.infer<typeof errorAckSchema>;

export const createAckSchema = z.union([createdSessionSchema.extend({ ok: z.literal(true) }), errorAckSchema]);
export type CreateAck = z.infer<typeof createAckSchema>;

export const joinAckSchema = z.union([
  z.object({
    ok: z.literal(true),
    peerId: idSchema,
    config: sessionConfigSchema,
    membership: membershipEpochSchema,
    record: sessionRecordViewSchema,
    /** resumes this membership through another server process (JoinRequest.resume) */
    resumeKey: z.string().min(1).max(128).optional(),
  }),
  errorAckSchema,
]);
export type JoinAck =
  | { ok: true; peerId: string; config: SessionConfig; membership: MembershipEpoch; record: SessionRecordView; resumeKey?: string }
  | ErrorAck;

/** GET /api/sessions/ID: where a session stands */
export const sessionStatusSchema = z.object({
  ok: z.literal(true),
  id: idSchema,
  config: sessionConfigSchema,
  record: sessionRecordViewSchema,
  /** peers present now */
  members: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
});
export type SessionStatus = z.infer<typeof sessionStatusSchema>;

/** POST /api/sessions/ID/start */
export const startAnswerSchema = z.object({ ok: z.literal(true), record: sessionRecordViewSchema, members: z.number().int().nonnegative() });
export type StartAnswer = z.infer<typeof startAnswerSchema>;

export const recordReadSchema = z.object({}).strict();
export const recordAckSchema = z.union([z.object({ ok: z.literal(true), record: sessionRecordViewSchema }), errorAckSchema]);
export type RecordAck = { ok: true; record: SessionRecordView } | ErrorAck;

export const okAckSchema = z.union([z.object({ ok: z.literal(true) }), errorAckSchema]);
export type OkAck = z.infer<typeof okAckSchema>;

/** `signaling:error` notices (refused events without an ack, rate limiting, being dropped) */
export const errorNoticeSchema = z.object({
  code: z.string().max(64),
  error: z.string().max(2048),
  event: z.string().max(64).optional(),
});
export type ErrorNotice = z.infer<typeof errorNoticeSchema>;

/** Stable codes so clients can react without parsing messages. */
export type SignalingErrorCode =
  | 'invalid'
  | 'unknown-session'
  | 'bad-token'
  | 'not-joined'
  | 'already-joined'
  | 'unknown-peer'
  | 'session-full'
  | 'too-many-sessions'
  | 'rate-limited'
  | 'dropped'
  | 'internal'
  /** the creator key is wrong (starting a session) */
  | 'not-creator'
  /** the session record refused (a report, a snapshot, a start, or a join of a finished session) */
  | RecordRefusal;

export const signalingErrorCodes: readonly SignalingErrorCode[] = [
  'invalid',
  'unknown-session',
  'bad-token',
  'not-joined',
  'already-joined',
  'unknown-peer',
  'session-full',
  'too-many-sessions',
  'rate-limited',
  'dropped',
  'internal',
  'not-creator',
  ...recordRefusals,
];

/** Readable one-line summary of a zod failure, naming the offending fields. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
