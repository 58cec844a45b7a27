import type { TrackedEnvelope } from '@trpc/server';
import type { z } from 'zod';

/**
 * A procedure output that is declared (for the types, the contract test and the JSON Schema)
 * but not re-validated on every reply. For the hot path only (message.send, events.stream),
 * where the core builds the shape itself and the conformance suite checks it on the wire;
 * everywhere else `.output(schema)` validates.
 */
export interface Declared<T extends z.ZodType> {
  readonly declares: T;
}

export function declared<T extends z.ZodType>(schema: T): ((value: unknown) => z.output<T>) & Declared<T> {
  return Object.assign((value: unknown) => value as z.output<T>, { declares: schema });
}

/** The same for a subscription: each item is `tracked(id, item)`; nothing is validated per item. */
export function declaredStream<T extends z.ZodType>(
  item: T,
): ((value: unknown) => AsyncIterable<TrackedEnvelope<z.output<T>>, void>) & Declared<T> {
  return Object.assign((value: unknown) => value as AsyncIterable<TrackedEnvelope<z.output<T>>, void>, { declares: item });
}
