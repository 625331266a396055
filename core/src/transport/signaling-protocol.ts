import { z } from 'zod';
import { sessionConfigSchema } from '../config';
import type { SessionConfig } from '../config';

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
  /** client -> server {peer}: this socket's peer cannot reach `peer` over WebRTC */
  unreachable: 'peer:unreachable',
  /** server -> client: a new membership epoch */
  membership: 'membership',
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
export const signalInSchema = z.object({ from: idSchema, data: signalDataSchema });
export type SignalIn = z.infer<typeof signalInSchema>;

export const unreachableReportSchema = z.object({ peer: idSchema });

const createdSessionSchema = z.object({
  id: idSchema,
  token: z.string().min(1).max(128),
  /** join link: <base>/?session=ID&token=T */
  url: z.string().max(2048),
});
export type CreatedSession = z.infer<typeof createdSessionSchema>;

export const errorAckSchema = z.object({ ok: z.literal(false), error: z.string().max(2048), code: z.string().max(64) });
export type ErrorAck = z.infer<typeof errorAckSchema>;

export const createAckSchema = z.union([createdSessionSchema.extend({ ok: z.literal(true) }), errorAckSchema]);
export type CreateAck = z.infer<typeof createAckSchema>;

export const joinAckSchema = z.union([
  z.object({
    ok: z.literal(true),
    peerId: idSchema,
    config: sessionConfigSchema,
    membership: membershipEpochSchema,
  }),
  errorAckSchema,
]);
export type JoinAck =
  | { ok: true; peerId: string; config: SessionConfig; membership: MembershipEpoch }
  | ErrorAck;

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
  | 'internal';

/** Readable one-line summary of a zod failure, naming the offending fields. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
