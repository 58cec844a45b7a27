import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * The network layer of bans and limits works on keyed hashes of the client's networks (IPv4
 * /24; IPv6 /64, /56 and /48), so neither raw addresses nor reversible prefixes are ever stored or logged.
 * These helpers are the only code that sees an address.
 */

/** `::ffff:1.2.3.4` is an IPv4 client on a dual-stack socket: treat it as IPv4. */
function normalise(address: string): string {
  const bare = address.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  return mapped ? mapped[1]! : bare.toLowerCase();
}

/** The configured trusted proxies, spelled as `clientAddress` compares them. */
export function proxySet(addresses: readonly string[]): ReadonlySet<string> {
  return new Set(addresses.map(normalise));
}

/** An X-Forwarded-For entry, which some proxies write with a port. */
function forwardedEntry(entry: string): string | null {
  let value = entry.trim();
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(value);
  if (v4WithPort) value = v4WithPort[1]!;
  const v6WithPort = /^\[([^\]]+)\]:\d+$/.exec(value);
  if (v6WithPort) value = v6WithPort[1]!;
  const address = normalise(value);
  return isIP(address) ? address : null;
}

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy. Then the
 * X-Forwarded-For chain is read from the right (each proxy appends the address it saw) and
 * the first hop that is not itself a trusted proxy is the client. Entries left of it were
 * written by the client and prove nothing. A header from an untrusted peer is ignored.
 */
export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, trustedProxies: ReadonlySet<string>): string {
  const peer = normalise(req.socket.remoteAddress ?? '');
  if (!trustedProxies.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').filter((h) => h.trim() !== '');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedEntry(hops[i]!);
    if (hop === null) break; // a garbled chain: trust nothing beyond the last good hop
    client = hop;
    if (!trustedProxies.has(hop)) break;
  }
  return client;
}

/** Expands an IPv6 address to its eight 16-bit groups (an embedded IPv4 tail becomes two). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const v4Tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4Tail) {
    const [a, b, c, d] = v4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 client it carries. */
const isNat64 = (groups: number[]) => groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
/** `::ffff:102:304` spelled in hex is still an IPv4 client. */
const isMapped = (groups: number[]) => groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;

const ipv6Prefix = (groups: number[], bits: 64 | 56 | 48) => {
  const kept = groups.slice(0, 4).map((g, i) => (i * 16 + 16 <= bits ? g : i * 16 >= bits ? 0 : g & (0xffff << (16 - (bits - i * 16))) & 0xffff));
  return `${kept.map((g) => g.toString(16)).join(':')}::/${bits}`;
};

/**
 * The networks an address belongs to, narrowest first: an IPv4 /24, or an IPv6 /64 (one
 * customer's LAN) then its /56 and /48, because many ISPs hand a customer a /56 or a /48
 * and a limit or ban on the /64 alone would give them 256 to 65,536 fresh networks.
 * Limits count at every level (wider levels allow more); bans match at any level.
 */
export function networkPrefixes(address: string): string[] {
  const ip = normalise(address);
  if (isIP(ip) === 4) return [`${ip.split('.').slice(0, 3).join('.')}.0/24`];
  if (isIP(ip) === 6) {
    const groups = ipv6Groups(ip);
    if (isMapped(groups) || isNat64(groups)) {
      const [hi = 0, lo = 0] = groups.slice(6);
      return networkPrefixes(`${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`);
    }
    return [ipv6Prefix(groups, 64), ipv6Prefix(groups, 56), ipv6Prefix(groups, 48)];
  }
  return ['unknown'];
}

/** The narrowest network of an address: its IPv4 /24 or IPv6 /64. */
export function networkPrefix(address: string): string {
  return networkPrefixes(address)[0]!;
}

/** HMAC-SHA256(key, prefix) in hex: the only form of a network the server keeps. */
export function networkKeyOf(key: string, prefix: string): string {
  return createHmac('sha256', key).update(prefix).digest('hex');
}
