import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@omechat/protocol';
import { startTestServer, type TestServer } from '../harness.js';
import { BYSTANDER_P99_MS, bystanders, codeOfFrame, rawSocket, request } from './attack-harness.js';

/**
 * Attack: one ~260 KB frame holding a JSON array of 130,000 zeros (before: 130,001 error
 * frames, 19.8 MB back, 2.3 s of CPU, another user's ack 2.5 s late). Now a batch is capped
 * (OMECHAT_MAX_BATCH, default 50) and a frame that is not a request gets one answer and its
 * socket is closed (4002).
 */
let t: TestServer;
afterEach(async () => {
  await t.destroy();
});

describe('junk frames', () => {
  it('a 130,000-element junk batch costs one answer and its socket, and other users keep chatting', async () => {
    t = await startTestServer();
    const chat = await bystanders(t);
    for (let round = 0; round < 3; round++) {
      const attacker = rawSocket(t.url, { localAddress: '127.0.1.1' });
      expect(await attacker.opened).toBe('open');
      attacker.send(`[${Array(130_000).fill('0').join(',')}]`);
      expect(await attacker.closed).toBe(CLOSE_CODES.PROTOCOL_ERROR);
      expect(attacker.frames).toHaveLength(1);
      expect(codeOfFrame(attacker.frames[0])).toBe('BAD_REQUEST');
      await chat.acks(5);
    }
    const { p99 } = await chat.finish();
    expect(p99).toBeLessThan(BYSTANDER_P99_MS);
  });

  it('a batch of well-formed calls is answered up to the cap, and one call over it closes the socket', async () => {
    t = await startTestServer({ OMECHAT_MAX_BATCH: '50' });
    const fits = rawSocket(t.url);
    await fits.opened;
    fits.send(Array.from({ length: 50 }, (_, i) => request(i, 'query', 'no.such')));
    const answers = await fits.next(50);
    expect(answers.map(codeOfFrame)).toEqual(Array(50).fill('NOT_FOUND'));

    const over = rawSocket(t.url);
    await over.opened;
    over.send(Array.from({ length: 1000 }, (_, i) => request(i, 'query', 'no.such')));
    expect(await over.closed).toBe(CLOSE_CODES.PROTOCOL_ERROR);
    expect(over.frames).toHaveLength(1);
  });

  it('a batch with one junk element is not answered element by element', async () => {
    t = await startTestServer();
    const attacker = rawSocket(t.url);
    await attacker.opened;
    attacker.send([request(1, 'query', 'no.such'), 'junk', request(2, 'query', 'no.such')]);
    expect(await attacker.closed).toBe(CLOSE_CODES.PROTOCOL_ERROR);
    expect(attacker.frames.length).toBeLessThanOrEqual(2);
  });
});
