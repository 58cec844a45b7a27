import type { UserHash } from '@omechat/protocol';
import type { NewEvent, StoredEvent, StreamEntry, StreamStore } from '../../../ports/storage.js';
import { copy, firstAbove, senderKey, type MemoryTables } from './tables.js';

export class MemoryStreams implements StreamStore {
  constructor(private readonly db: MemoryTables) {}

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    this.db.assertOpen();
    return this.db.append(events);
  }

  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    this.db.assertOpen();
    const entries = this.db.streams.get(userHash)?.entries ?? [];
    return entries
      .slice(firstAbove(entries, (e) => e.id, afterId))
      .slice(0, Math.max(0, limit))
      .map((e) => ('event' in e ? copy(e.event) : { id: e.id, userHash, message: copy(e.message) }));
  }

  async streamHead(userHash: UserHash): Promise<number> {
    this.db.assertOpen();
    return this.db.streams.get(userHash)?.head ?? 0;
  }

  async purgeOlderThan(before: number): Promise<{ messages: number; events: number }> {
    this.db.assertOpen();
    let messages = 0;
    for (const entry of this.db.chats.values()) {
      const kept = entry.messages.filter((m) => m.sentAt >= before);
      messages += entry.messages.length - kept.length;
      entry.messages = kept;
      entry.bySenderKey = new Map(kept.map((m) => [senderKey(m), m]));
    }
    let events = 0;
    for (const stream of this.db.streams.values()) {
      const kept = stream.entries.filter((e) => ('event' in e ? e.event.createdAt : e.message.sentAt) >= before);
      events += stream.entries.filter((e) => 'event' in e).length - kept.filter((e) => 'event' in e).length;
      stream.entries = kept;
    }
    return { messages, events };
  }
}
