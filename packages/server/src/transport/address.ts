import type { AddressInfo } from 'node:net';

/**
 * What a listening socket is really bound to, and a URL that reaches it from this machine.
 * A wildcard bind (0.0.0.0, ::) accepts every interface, which no URL can name: the URL
 * then uses loopback, and `bound` says that other interfaces are open too.
 */
export function describeAddress({ address, port }: AddressInfo): { port: number; bound: string; url: string } {
  const v6 = address.includes(':');
  const wildcard = address === '0.0.0.0' || address === '::';
  const reachable = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  const inUrl = reachable.includes(':') ? `[${reachable}]` : reachable;
  const bound = `${v6 ? `[${address}]` : address}:${port}${wildcard ? ` (all ${v6 ? '' : 'IPv4 '}interfaces)` : ''}`;
  return { port, bound, url: `ws://${inUrl}:${port}/trpc` };
}
