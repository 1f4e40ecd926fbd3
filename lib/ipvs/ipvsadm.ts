/**
 * `ipvsadm` compatibility: `ipvsadm-save -n` rules in and out, and the
 * `ipvsadm -Ln [--stats|--rate]` listing (ipvsadm.c's print_service_entry,
 * print_title and print_largenum; the format strings checked against
 * Debian's ipvsadm 1.31 binary). Like ipvsadm, services and servers are
 * listed sorted (ipvs_cmp_services / ipvs_cmp_dests), not in table order.
 * @module
 */
import { KernkitError } from '../errors';
import type { RealServer } from './real-server';
import type { Service } from './service';
import { PROTOCOL_NUMBERS, SVC_ONEPACKET, SVC_PERSISTENT, type DestSpec, type Protocol, type SchedulerFlag, type ServiceKey, type ServiceOptions } from './spec';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from './schedulers';

/** One parsed `ipvsadm` command. */
export type IpvsadmCommand =
  | { op: 'add-service' | 'edit-service'; key: ServiceKey; options: ServiceOptions }
  | { op: 'delete-service'; key: ServiceKey }
  | { op: 'add-server' | 'edit-server'; key: ServiceKey; dest: DestSpec }
  | { op: 'delete-server'; key: ServiceKey; dest: { address: string; port: number } }
  | { op: 'clear' };

// (int)(a - b) of two u32s, as ipvsadm's comparators compute it.
const intDiff = (a: number, b: number) => (a - b) | 0;

/** ipvs_cmp_services: fwmark, family, protocol, address, port. */
export function compareServices(a: Service, b: Service): number {
  const x = a.id;
  const y = b.id;
  let r = intDiff(x.fwmark, y.fwmark);
  if (r) return r;
  r = (x.family === 4 ? 2 : 10) - (y.family === 4 ? 2 : 10);
  if (r) return r;
  r = PROTOCOL_NUMBERS[x.protocol] - PROTOCOL_NUMBERS[y.protocol];
  if (r) return r;
  const xa = x.addr?.words ?? [0, 0, 0, 0];
  const ya = y.addr?.words ?? [0, 0, 0, 0];
  for (let i = 0; !r && i < xa.length; i++) r = intDiff(xa[i], ya[i]);
  return r || x.port - y.port;
}

/** ipvs_cmp_dests: address, then port. */
export function compareDests(a: RealServer, b: RealServer): number {
  let r = 0;
  for (let i = 0; !r && i < a.addr.words.length; i++) r = intDiff(a.addr.words[i], b.addr.words[i] ?? 0);
  return r || a.port - b.port;
}

const hostPort = (family: 4 | 6, text: string, port: number) => (family === 6 ? `[${text}]:${port}` : `${text}:${port}`);

function ruleName(svc: Service): string {
  const k = svc.id;
  if (k.fwmark) return k.family === 6 ? `-f ${k.fwmark} -6` : `-f ${k.fwmark}`;
  const sw = k.protocol === 'tcp' ? '-t' : k.protocol === 'udp' ? '-u' : '--sctp-service';
  return `${sw} ${hostPort(k.family, (k.addr as { text: string }).text, k.port)}`;
}

function schedFlagNames(svc: Service): string[] {
  const out: string[] = [];
  const prefix = svc.settings.scheduler === 'mh' ? 'mh' : 'sh';
  if (svc.flags & SCHED_FLAG_1) out.push(`${prefix}-fallback`);
  if (svc.flags & SCHED_FLAG_2) out.push(`${prefix}-port`);
  return out;
}

const FWD_SWITCH = { masq: '-m', tunnel: '-i', direct: '-g' } as const;
const FWD_NAME = { masq: 'Masq', tunnel: 'Tunnel', direct: 'Route' } as const;

/** `ipvsadm -S -n`: the rules that rebuild these services. */
export function saveRules(services: readonly Service[]): string {
  const lines: string[] = [];
  for (const svc of [...services].sort(compareServices)) {
    const name = ruleName(svc);
    let line = `-A ${name} -s ${svc.settings.scheduler}`;
    if (svc.flags & SVC_PERSISTENT) {
      line += ` -p ${svc.settings.timeoutMs / 1000}`;
      if (svc.id.family === 4 && svc.settings.netmask !== 0xffffffff) line += ` -M ${maskText(svc.settings.netmask)}`;
      if (svc.id.family === 6 && svc.settings.netmask !== 128) line += ` -M ${svc.settings.netmask}`;
    }
    const flags = schedFlagNames(svc);
    if (flags.length) line += ` -b ${flags.join(',')}`;
    if (svc.flags & SVC_ONEPACKET) line += ' ops'; // sic: ipvsadm writes "ops", not "-o"
    lines.push(line);
    for (const d of [...svc.dests].sort(compareDests)) {
      // ipvsadm-save writes no thresholds (-x/-y): they do not survive a save, as with ipvsadm.
      let dl = `-a ${name} -r ${hostPort(d.addr.family, d.addr.text, d.port)} ${FWD_SWITCH[d.forwarding]} -w ${d.weight}`;
      if (d.forwarding === 'tunnel') {
        dl += ` --tun-type ${d.tunnel.type}`;
        if (d.tunnel.type === 'gue') dl += ` --tun-port ${d.tunnel.port}`;
        if (d.tunnel.type !== 'ipip') dl += ` --tun-${d.tunnel.checksum}`;
      }
      lines.push(dl);
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}

function maskText(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
}

function fail(lineNo: number, line: string, why: string): never {
  throw new KernkitError(`rules line ${lineNo}: ${JSON.stringify(line)} (expected ${why})`, { code: 'EINVAL' });
}

// host:port, [v6]:port, or a bare host (port 0).
function splitHostPort(text: string): { address: string; port: number | undefined } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) return { address: v6[1], port: v6[2] === undefined ? undefined : Number(v6[2]) };
  const i = text.lastIndexOf(':');
  if (i > 0 && text.indexOf(':') === i) return { address: text.slice(0, i), port: Number(text.slice(i + 1)) };
  return { address: text, port: undefined };
}

/** Parses `ipvsadm-save` output (one command per line; blank lines and `#` comments skipped). */
export function parseRules(text: string): IpvsadmCommand[] {
  if (typeof text !== 'string') throw new KernkitError(`rules: ${typeof text} (expected ipvsadm-save text)`, { code: 'EINVAL' });
  const out: IpvsadmCommand[] = [];
  text.split('\n').forEach((raw, idx) => {
    const line = raw.trim();
    const n = idx + 1;
    if (line === '' || line.startsWith('#')) return;
    const argv = line.split(/\s+/);
    let op: string | undefined;
    let protocol: Protocol | undefined;
    let vip: string | undefined;
    let fwmark: number | undefined;
    let v6 = false;
    const svcOpts: ServiceOptions = {};
    const dest: Partial<DestSpec> & { tunnel?: DestSpec['tunnel'] } = {};
    let server: string | undefined;
    let persistentGiven = false;
    let timeout: number | undefined;
    let mask: string | undefined;
    const value = (i: number) => {
      if (i >= argv.length) fail(n, line, `a value after ${argv[i - 1]}`);
      return argv[i];
    };
    const num = (s: string) => (/^\d+$/.test(s) ? Number(s) : fail(n, line, `a number, not ${s}`));
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      switch (a) {
        case '-A': case '--add-service': op = 'add-service'; break;
        case '-E': case '--edit-service': op = 'edit-service'; break;
        case '-D': case '--delete-service': op = 'delete-service'; break;
        case '-a': case '--add-server': op = 'add-server'; break;
        case '-e': case '--edit-server': op = 'edit-server'; break;
        case '-d': case '--delete-server': op = 'delete-server'; break;
        case '-C': case '--clear': op = 'clear'; break;
        case '-t': case '--tcp-service': protocol = 'tcp'; vip = value(++i); break;
        case '-u': case '--udp-service': protocol = 'udp'; vip = value(++i); break;
        case '--sctp-service': protocol = 'sctp'; vip = value(++i); break;
        case '-f': case '--fwmark-service': fwmark = num(value(++i)); break;
        case '-6': case '--ipv6': v6 = true; break;
        case '-s': case '--scheduler': svcOpts.scheduler = value(++i) as ServiceOptions['scheduler']; break;
        case '-p': case '--persistent':
          persistentGiven = true;
          if (i + 1 < argv.length && /^\d+$/.test(argv[i + 1])) timeout = num(argv[++i]);
          break;
        case '-M': case '--netmask': mask = value(++i); break;
        case '-b': case '--sched-flags': svcOpts.flags = value(++i).split(',') as SchedulerFlag[]; break;
        case '-o': case '--ops': case 'ops': svcOpts.onePacket = true; break;
        case '-r': case '--real-server': server = value(++i); break;
        case '-g': case '--gatewaying': dest.forwarding = 'direct'; break;
        case '-m': case '--masquerading': dest.forwarding = 'masq'; break;
        case '-i': case '--ipip': dest.forwarding = 'tunnel'; break;
        case '-w': case '--weight': dest.weight = num(value(++i)); break;
        case '-x': case '--u-threshold': dest.upperThreshold = num(value(++i)); break;
        case '-y': case '--l-threshold': dest.lowerThreshold = num(value(++i)); break;
        case '--tun-type': dest.tunnel = { ...dest.tunnel, type: value(++i) as 'ipip' }; break;
        case '--tun-port': dest.tunnel = { ...dest.tunnel, port: num(value(++i)) }; break;
        case '--tun-nocsum': dest.tunnel = { ...dest.tunnel, checksum: 'nocsum' }; break;
        case '--tun-csum': dest.tunnel = { ...dest.tunnel, checksum: 'csum' }; break;
        case '--tun-remcsum': dest.tunnel = { ...dest.tunnel, checksum: 'remcsum' }; break;
        default: fail(n, line, `an ipvsadm rule option, not ${a}`);
      }
    }
    if (!op) fail(n, line, 'a command (-A, -E, -D, -a, -e, -d, -C)');
    if (op === 'clear') return void out.push({ op: 'clear' });
    let key: ServiceKey;
    if (fwmark !== undefined) key = { fwmark, family: v6 ? 6 : 4 };
    else if (protocol && vip) {
      const hp = splitHostPort(vip);
      key = { protocol, address: hp.address, port: hp.port ?? 0 };
    } else return fail(n, line, 'a service (-t, -u, --sctp-service or -f)');
    if (op === 'add-service' || op === 'edit-service') {
      if (persistentGiven) {
        svcOpts.persistent = { timeout: timeout ?? 300 };
        if (mask !== undefined) {
          if (/^\d+$/.test(mask)) svcOpts.persistent.prefixLength = Number(mask);
          else svcOpts.persistent.netmask = mask;
        }
      }
      out.push({ op, key, options: svcOpts });
      return;
    }
    if (!server) fail(n, line, 'a real server (-r)');
    const hp = splitHostPort(server as string);
    const port = hp.port ?? ('port' in key ? key.port : 0);
    if (op === 'delete-server') out.push({ op, key, dest: { address: hp.address, port } });
    else if (op === 'add-server' || op === 'edit-server') out.push({ op, key, dest: { ...dest, address: hp.address, port } });
    else out.push({ op: 'delete-service', key });
  });
  return out;
}

// print_largenum: 9 columns, K/M/G/T beyond 10^8.
function largenum(v: bigint | number): string {
  const i = BigInt(v);
  if (i < 100000000n) return i.toString().padStart(9);
  if (i < 1000000000n) return `${(i / 1000n).toString().padStart(8)}K`;
  if (i < 100000000000n) return `${(i / 1000000n).toString().padStart(8)}M`;
  if (i < 100000000000000n) return `${(i / 1000000000n).toString().padStart(8)}G`;
  return `${(i / 1000000000000n).toString().padStart(8)}T`;
}

/** Options of {@link formatListing}. */
export interface FormatOptions {
  /** `--stats`: counters instead of servers' weights and connections. */
  stats?: boolean;
  /** `--rate`: rates. */
  rate?: boolean;
}

/** `ipvsadm -Ln [--stats|--rate]` for these services. */
export function formatListing(services: readonly Service[], fmt: FormatOptions): string {
  const lines: string[] = ['IP Virtual Server version 1.2.1 (size=4096)'];
  if (fmt.stats) {
    lines.push(`${'Prot LocalAddress:Port'.padEnd(33)} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((s) => s.padStart(8)).join(' ')}`, '  -> RemoteAddress:Port');
  } else if (fmt.rate) {
    lines.push(`${'Prot LocalAddress:Port'.padEnd(33)} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((s) => s.padStart(8)).join(' ')}`, '  -> RemoteAddress:Port');
  } else {
    lines.push('Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn');
  }
  for (const svc of [...services].sort(compareServices)) {
    const k = svc.id;
    let name: string;
    if (k.fwmark) name = k.family === 6 ? `FWM  ${k.fwmark} IPv6` : `FWM  ${k.fwmark}`;
    else {
      name = `${k.protocol.toUpperCase().padEnd(4)} ${hostPort(k.family, (k.addr as { text: string }).text, k.port)}`;
      if (k.family === 4) name = name.slice(0, 33);
    }
    const s = svc.readStats();
    if (fmt.stats && s) lines.push(name.padEnd(33) + [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes].map(largenum).join(''));
    else if (fmt.rate && s) lines.push(name.padEnd(33) + [s.cps, s.inpps, s.outpps, s.inbps, s.outbps].map(largenum).join(''));
    else {
      let l = `${name} ${svc.settings.scheduler}`;
      if (svc.flags & SVC_PERSISTENT) {
        l += ` persistent ${svc.settings.timeoutMs / 1000}`;
        if (k.family === 4 && svc.settings.netmask !== 0xffffffff) l += ` mask ${maskText(svc.settings.netmask)}`;
        if (k.family === 6 && svc.settings.netmask !== 128) l += ` mask ${svc.settings.netmask}`;
        if (svc.flags & SVC_ONEPACKET) l += ' ops';
      }
      lines.push(l);
    }
    for (const d of [...svc.dests].sort(compareDests)) {
      let dname = hostPort(d.addr.family, d.addr.text, d.port);
      if (k.family !== 6) dname = dname.slice(0, 28);
      const ds = d.stats?.read();
      if (fmt.stats && ds) lines.push(`  -> ${dname.padEnd(28)}` + [ds.conns, ds.inpkts, ds.outpkts, ds.inbytes, ds.outbytes].map(largenum).join(''));
      else if (fmt.rate && ds) lines.push(`  -> ${dname.padEnd(28)} ${[ds.cps, ds.inpps, ds.outpps].map((v) => String(v).padStart(8)).join(' ')}${largenum(ds.inbps)}${largenum(ds.outbps)}`);
      else lines.push(`  -> ${dname.padEnd(28)} ${FWD_NAME[d.forwarding].padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactConns).padEnd(10)}`);
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}
