import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatId, ClientHash, UserHash } from '@omechat/protocol';
import type { Bus, BusMessage } from '../../ports/bus.js';

export interface BusFactory {
  /**
   * Opens one bus instance. Instances opened with the same `scope` share one medium (for
   * Redis: one channel), as the processes of one deployment do; other scopes never hear them.
   */
  open(scope: string): Promise<Bus> | Bus;
  /** True when two instances of one scope are two processes that see each other's messages. */
  crossProcess: boolean;
  /**
   * For a bus over a medium that can fail: buses on a medium the test may take down
   * (`interrupt`) and bring back (`restore`), such as a Redis server of the test's own.
   */
  outage?: { open(scope: string): Promise<Bus>; interrupt(): Promise<void>; restore(): Promise<void> };
}

/**
 * The behaviour every Bus adapter owes the core. Run it from each adapter's test file:
 * `busContract('local', { open: () => new LocalBus(), crossProcess: false })`.
 */
export function busContract(name: string, factory: BusFactory): void {
  describe(`Bus contract: ${name}`, () => {
    let scope = '';
    const opened: Bus[] = [];
    const open = async () => {
      const bus = await factory.open(scope);
      opened.push(bus);
      return bus;
    };
    beforeEach(() => {
      scope = randomBytes(6).toString('hex');
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((bus) => bus.close()));
    });

    const wake = (who: string): BusMessage => ({ kind: 'events', userHash: `user-${who}` as UserHash });
    const listen = (bus: Bus) => {
      const received: BusMessage[] = [];
      const off = bus.subscribe((message) => received.push(message));
      return { received, off };
    };
    /**
     * Resolves once everything `bus` published before has come back to its own subscription
     * (for a cross-process bus): a peer answers after seeing our marker, and the channel
     * keeps order, so our echoes arrive before its answer. In-process, there is nothing to wait for.
     */
    const settle = async (bus: Bus) => {
      if (!factory.crossProcess) return;
      const peer = await open();
      const marker = `settle-${randomBytes(4).toString('hex')}`;
      const off = peer.subscribe((m) => {
        if (m.kind === 'events' && m.userHash === `user-${marker}`) peer.publish(wake(`${marker}-ack`));
      });
      const back = listen(bus);
      bus.publish(wake(marker));
      await until(() => back.received.some((m) => m.kind === 'events' && m.userHash === `user-${marker}-ack`), 'the settle round trip');
      off();
      back.off();
    };

    it('delivers to every subscriber at once, in publish order', async () => {
      const bus = await open();
      const [first, second] = [listen(bus), listen(bus)];
      bus.publish(wake('a'));
      bus.publish(wake('b'));
      // Synchronously: in-process delivery waits for no round trip.
      expect(first.received).toEqual([wake('a'), wake('b')]);
      expect(second.received).toEqual([wake('a'), wake('b')]);
    });

    it('delivers each message once to the publishing process', async () => {
      const bus = await open();
      const { received } = listen(bus);
      bus.publish(wake('once'));
      await settle(bus);
      expect(withoutSettling(received)).toEqual([wake('once')]);
    });

    it('stops delivering to a handler once it unsubscribes, and only to it', async () => {
      const bus = await open();
      const [leaving, staying] = [listen(bus), listen(bus)];
      bus.publish(wake('a'));
      leaving.off();
      leaving.off(); // twice is harmless
      bus.publish(wake('b'));
      expect(leaving.received).toEqual([wake('a')]);
      expect(staying.received).toEqual([wake('a'), wake('b')]);
    });

    it('delivers nothing after close, and closes twice without complaint', async () => {
      const bus = await open();
      const { received } = listen(bus);
      await bus.close();
      expect(() => bus.publish(wake('late'))).not.toThrow();
      expect(() => bus.subscribe(() => undefined)).not.toThrow();
      await expect(bus.close()).resolves.toBeUndefined();
      expect(received).toEqual([]);
    });

    it('keeps separate scopes apart', async () => {
      const bus = await open();
      const mine = listen(bus);
      const elsewhere = await factory.open(`${scope}-other`);
      opened.push(elsewhere);
      const theirs = listen(elsewhere);
      elsewhere.publish(wake('other'));
      bus.publish(wake('mine'));
      await settle(bus);
      expect(withoutSettling(mine.received)).toEqual([wake('mine')]);
      expect(theirs.received).toEqual([wake('other')]);
    });

    it('says it is connected once open', async () => {
      const bus = await open();
      expect(bus.connected()).toBe(true);
      const off = bus.onReconnect(() => undefined);
      expect(() => off()).not.toThrow();
    });

    const { outage } = factory;
    if (outage) {
      it('during an outage delivers in process, then reconnects, says so once, and delivers across again', async () => {
        const [one, two] = [await outage.open(scope), await outage.open(scope)];
        opened.push(one, two);
        const [atOne, atTwo] = [listen(one), listen(two)];
        const reconnects = [0, 0];
        one.onReconnect(() => reconnects[0]!++);
        two.onReconnect(() => reconnects[1]!++);

        await outage.interrupt();
        await until(() => !one.connected() && !two.connected(), 'both buses to notice the outage');
        one.publish(wake('local-during-outage'));
        expect(atOne.received).toEqual([wake('local-during-outage')]);

        await outage.restore();
        await until(() => reconnects[0] === 1 && reconnects[1] === 1, 'both buses to report the reconnection', 20_000);
        expect(one.connected() && two.connected()).toBe(true);
        one.publish(wake('after-outage'));
        await until(() => atTwo.received.some((m) => m.kind === 'events' && m.userHash === 'user-after-outage'), 'delivery across again');
        expect(reconnects).toEqual([1, 1]);
      }, 30_000);
    }

    if (!factory.crossProcess) return;

    describe('across processes', () => {
      const every: BusMessage[] = [
        { kind: 'events', userHash: 'user-a' as UserHash },
        { kind: 'events', userHash: 'user-a' as UserHash, ephemeral: true, event: { type: 'chat.typing', chatId: 'chat-1' as ChatId, userHash: 'user-b' as UserHash, typing: true } },
        { kind: 'events', userHash: 'user-a' as UserHash, id: 7, event: { type: 'chat.ended', chatId: 'chat-1' as ChatId, reason: 'left', at: 5 }, fromClient: 'client-1' as ClientHash },
        { kind: 'close-clients', clientHashes: ['client-1', 'client-2'] as ClientHash[], reason: 'revoked' },
        { kind: 'close-user', userHash: 'user-b' as UserHash, reason: 'banned' },
        { kind: 'close-network', networkKey: 'ab'.repeat(32), reason: 'banned' },
        { kind: 'bans-changed' },
        { kind: 'blocks-changed', userHashes: ['user-a', 'user-b'] as UserHash[] },
      ];

      it('delivers every kind of message to the other process, intact and in order', async () => {
        const [one, two] = [await open(), await open()];
        const there = listen(two);
        for (const message of every) one.publish(message);
        await until(() => there.received.length >= every.length, 'every message on the other process');
        expect(there.received).toEqual(every);
      });

      it('works both ways, and each process also hears its own', async () => {
        const [one, two] = [await open(), await open()];
        const [atOne, atTwo] = [listen(one), listen(two)];
        one.publish(wake('from-one'));
        two.publish(wake('from-two'));
        await until(() => atOne.received.length >= 2 && atTwo.received.length >= 2, 'both messages in both processes');
        await settle(one);
        await settle(two);
        for (const { received } of [atOne, atTwo]) {
          const names = withoutSettling(received).map((m) => (m.kind === 'events' ? m.userHash : m.kind));
          expect([...names].sort()).toEqual(['user-from-one', 'user-from-two']);
        }
      });

      it('stops delivering to a closed process while the others still hear each other', async () => {
        const [one, two, three] = [await open(), await open(), await open()];
        const [atTwo, atThree] = [listen(two), listen(three)];
        await two.close();
        one.publish(wake('after-close'));
        await until(() => atThree.received.length >= 1, 'the message on the open process');
        await settle(one);
        expect(withoutSettling(atThree.received)).toEqual([wake('after-close')]);
        expect(atTwo.received).toEqual([]);
      });
    });
  });
}

/** Leaves out the markers settle() sends. */
function withoutSettling(received: BusMessage[]): BusMessage[] {
  return received.filter((m) => !(m.kind === 'events' && m.userHash.startsWith('user-settle-')));
}

/** The limit only names a hang; it is far above any real delivery time, even on a loaded machine. */
async function until(predicate: () => boolean, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
