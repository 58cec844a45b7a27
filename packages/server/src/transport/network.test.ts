import { describe, expect, it } from 'vitest';
import { clientAddress, networkKeyOf, networkPrefix, networkPrefixes } from './network.js';

const req = (remoteAddress: string | undefined, forwardedFor?: string | string[]) => ({
  socket: { remoteAddress } as never,
  headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
});

describe('networkPrefix', () => {
  it('takes the /24 of IPv4, also when mapped into IPv6', () => {
    expect(networkPrefix('203.0.113.77')).toBe('203.0.113.0/24');
    expect(networkPrefix('::ffff:203.0.113.77')).toBe('203.0.113.0/24');
    expect(networkPrefix('::FFFF:203.0.113.1')).toBe('203.0.113.0/24');
    expect(networkPrefix('::ffff:cb00:714d')).toBe('203.0.113.0/24');
    expect(networkPrefix('127.0.1.7')).not.toBe(networkPrefix('127.0.0.1'));
  });

  it('takes the /64 of IPv6, whatever the spelling', () => {
    const expected = '2001:db8:1:2::/64';
    for (const a of ['2001:db8:1:2::1', '2001:0DB8:0001:0002:ffff:0:0:9', '[2001:db8:1:2::5]', '2001:db8:1:2::1%eth0']) {
      expect(networkPrefix(a)).toBe(expected);
    }
    expect(networkPrefix('::1')).toBe('0:0:0:0::/64');
    expect(networkPrefix('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(networkPrefix('2001:db8:1:3::1')).not.toBe(expected);
  });

  it('treats NAT64 (64:ff9b::/96) as the IPv4 client it carries', () => {
    expect(networkPrefix('64:ff9b::192.0.2.33')).toBe('192.0.2.0/24');
    expect(networkPrefix('64:ff9b::c000:221')).toBe('192.0.2.0/24');
    expect(networkPrefixes('64:ff9b::192.0.2.33')).toEqual(['192.0.2.0/24']);
  });
});

describe('networkPrefixes', () => {
  it('gives IPv6 its /64, /56 and /48, so a customer with a /56 or /48 stays one network at a wider level', () => {
    expect(networkPrefixes('2001:db8:abcd:12ff::1')).toEqual(['2001:db8:abcd:12ff::/64', '2001:db8:abcd:1200::/56', '2001:db8:abcd:0::/48']);
    const [, wide56, wide48] = networkPrefixes('2001:db8:abcd:1234::1');
    expect(networkPrefixes('2001:db8:abcd:12aa::9')[1]).toBe(wide56);
    expect(networkPrefixes('2001:db8:abcd:ff00::9')[2]).toBe(wide48);
    expect(networkPrefixes('2001:db8:abcd:ff00::9')[1]).not.toBe(wide56);
  });

  it('gives IPv4 its /24 only', () => {
    expect(networkPrefixes('203.0.113.77')).toEqual(['203.0.113.0/24']);
  });

  it('puts anything unparseable in one bucket', () => {
    expect(networkPrefix('')).toBe('unknown');
    expect(networkPrefix('not an ip')).toBe('unknown');
  });
});

describe('clientAddress', () => {
  const proxy = new Set(['10.0.0.5', '10.0.0.6']);

  it('uses the socket peer and ignores X-Forwarded-For from anyone not trusted', () => {
    expect(clientAddress(req('198.51.100.9', '1.2.3.4'), new Set())).toBe('198.51.100.9');
    expect(clientAddress(req('198.51.100.9', '1.2.3.4'), proxy)).toBe('198.51.100.9');
    expect(clientAddress(req('::ffff:198.51.100.9'), new Set())).toBe('198.51.100.9');
  });

  it('behind trusted proxies, takes the nearest hop that is not a proxy', () => {
    expect(clientAddress(req('10.0.0.5', '198.51.100.9'), proxy)).toBe('198.51.100.9');
    // The client wrote the leftmost entry itself: it is not believed.
    expect(clientAddress(req('10.0.0.5', '1.1.1.1, 198.51.100.9'), proxy)).toBe('198.51.100.9');
    expect(clientAddress(req('10.0.0.5', '1.1.1.1, 198.51.100.9, 10.0.0.6'), proxy)).toBe('198.51.100.9');
    expect(clientAddress(req('10.0.0.5', ['1.1.1.1', '198.51.100.9:4567']), proxy)).toBe('198.51.100.9');
    expect(clientAddress(req('10.0.0.5', '[2001:db8::1]:443'), proxy)).toBe('2001:db8::1');
  });

  it('falls back to the last good hop when the chain is missing or garbled', () => {
    expect(clientAddress(req('10.0.0.5'), proxy)).toBe('10.0.0.5');
    expect(clientAddress(req('10.0.0.5', 'garbage'), proxy)).toBe('10.0.0.5');
    expect(clientAddress(req('10.0.0.5', '198.51.100.9, garbage, 10.0.0.6'), proxy)).toBe('10.0.0.6');
  });
});

describe('networkKeyOf', () => {
  it('is a keyed hash: stable per key, different across keys, no trace of the prefix', () => {
    const a = networkKeyOf('k'.repeat(32), '203.0.113.0/24');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(networkKeyOf('k'.repeat(32), '203.0.113.0/24')).toBe(a);
    expect(networkKeyOf('j'.repeat(32), '203.0.113.0/24')).not.toBe(a);
    expect(a).not.toContain('203');
  });
});
