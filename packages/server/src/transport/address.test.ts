import { describe, expect, it } from 'vitest';
import { describeAddress } from './address.js';

describe('describeAddress', () => {
  it('says a wildcard bind is open on every interface and gives a loopback URL that works', () => {
    expect(describeAddress({ address: '0.0.0.0', port: 8080, family: 'IPv4' })).toEqual({
      port: 8080,
      bound: '0.0.0.0:8080 (all IPv4 interfaces)',
      url: 'ws://127.0.0.1:8080/trpc',
    });
    expect(describeAddress({ address: '::', port: 8080, family: 'IPv6' })).toEqual({
      port: 8080,
      bound: '[::]:8080 (all interfaces)',
      url: 'ws://[::1]:8080/trpc',
    });
  });

  it('names a specific address as bound, bracketing IPv6 in the URL', () => {
    expect(describeAddress({ address: '10.1.2.3', port: 81, family: 'IPv4' })).toMatchObject({ bound: '10.1.2.3:81', url: 'ws://10.1.2.3:81/trpc' });
    expect(describeAddress({ address: '::1', port: 81, family: 'IPv6' })).toMatchObject({ bound: '[::1]:81', url: 'ws://[::1]:81/trpc' });
  });
});
