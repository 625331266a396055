import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/**
 * Which address other machines on the LAN reach this one at, for the join links a server bound
 * to all interfaces prints. Only IPv4: a phone typing or scanning a link copes best with it.
 */

/** container and VM bridges: other machines cannot reach them */
const virtual = /^(docker|br-|veth|virbr|vmnet|vboxnet|cni|flannel|kube|podman|lxcbr|lxdbr)/;

/** RFC 1918 private ranges: what a home or office LAN uses */
function isPrivate(address: string): boolean {
  const [a, b] = address.split('.').map(Number);
  return a === 10 || (a === 192 && b === 168) || (a === 172 && b >= 16 && b <= 31);
}

/**
 * Non-loopback IPv4 addresses, the likeliest LAN address first: physical interfaces before
 * container bridges, private ranges before others, then by interface name.
 */
export function lanAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  const found: { address: string; rank: number; name: string }[] = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal || info.family !== 'IPv4' || info.address.startsWith('169.254.')) continue;
      const rank = (virtual.test(name) ? 2 : 0) + (isPrivate(info.address) ? 0 : 1);
      found.push({ address: info.address, rank, name });
    }
  }
  found.sort((x, y) => x.rank - y.rank || x.name.localeCompare(y.name));
  return [...new Set(found.map((f) => f.address))];
}

const wildcard = new Set(['0.0.0.0', '::', '']);

export function isWildcardHost(host: string): boolean {
  return wildcard.has(host);
}

/**
 * The base URL to share with other machines: `publicUrl` when given; for a server bound to all
 * interfaces, its first LAN address; otherwise the address it is bound to (which only this
 * machine can reach when that is a loopback address).
 */
export function shareBase(options: { scheme: 'http' | 'https'; host: string; port: number; publicUrl?: string; lan?: readonly string[] }): string {
  if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '');
  const lan = options.lan ?? lanAddresses();
  const host = isWildcardHost(options.host) ? (lan[0] ?? '127.0.0.1') : options.host.includes(':') ? `[${options.host}]` : options.host;
  return `${options.scheme}://${host}:${options.port}`;
}

/** true for 127.0.0.0/8, ::1 and localhost: links to these work on this machine only */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}
