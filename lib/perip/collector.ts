/**
 * `TcpPeerCollector`: fills {@link IpStatsTable}s with the kernel's own
 * per-socket TCP counters, read through NETLINK_SOCK_DIAG.
 *
 * Every interval it dumps the TCP sockets with their `tcp_info` and adds
 * each socket's increase since the previous dump to the entry of its
 * (local, remote) address pair; a socket seen for the first time adds its
 * whole count. Sockets are told apart by their diag cookie, which the kernel
 * never reuses. The collector also listens to the socket-destroy groups
 * (what `ss -E` joins): a destroyed socket adds what it counted since its
 * last dump, and one that lived and died between two dumps adds its whole
 * count. So the totals are exact for every socket seen, unless the kernel
 * drops notifications (counted as `lostEvents`).
 *
 * Two races are closed by the cookie: a dump that was read after a socket's
 * destroy notification may still list it (it is ignored: the notification
 * had its final counts), and a socket missing from a dump is kept until its
 * notification comes or two more dumps miss it.
 * @module
 */
import { CounterSet } from '../percpu';
import { tcpInfoNumber, type InetDiagMessage, type TcpInfo } from '../netlink/sockdiag';
import { arrayOf, cString, durationMs, func, integerIn, invalid, optional, options } from '../validate';
import { MibMap } from './mib-map';
import { SockDiag } from './sock-diag';
import { IpStatsTable } from './table';
import { NO_COOKIE, type IpStatsCookie } from './cookie';

/**
 * The fields a collector writes, as a small MIB: the TCP MIB's names where
 * one fits (`InSegs`, `OutSegs`, `RetransSegs`; `TCPTimeouts` and
 * `TCPDSACKRecvSegs` of the LINUX MIB), and names of their own for what no
 * MIB counts per socket. Any map works: the collector writes the fields the
 * table's map has, at their levels.
 */
export const TCP_PEER_FIELDS = [
  'InSegs', // tcpi_segs_in
  'OutSegs', // tcpi_segs_out
  'RetransSegs', // tcpi_total_retrans
  'TCPTimeouts', // tcpi_total_rto (Linux 6.7+)
  'TCPDSACKRecvSegs', // tcpi_dsack_dups
  'Lost', // increases of tcpi_lost (a gauge of segments marked lost: a lower bound)
  'BytesAcked', // tcpi_bytes_acked
  'BytesReceived', // tcpi_bytes_received
  'BytesSent', // tcpi_bytes_sent
  'BytesRetrans', // tcpi_bytes_retrans
  'DataSegsIn', // tcpi_data_segs_in
  'DataSegsOut', // tcpi_data_segs_out
  'Sockets', // sockets seen
  'Closed', // sockets destroyed
] as const;

/** One of {@link TCP_PEER_FIELDS}. */
export type TcpPeerField = (typeof TCP_PEER_FIELDS)[number];

/** A map over {@link TCP_PEER_FIELDS}: level 0 the red flags (retransmissions, timeouts, loss), level 1 the rest. */
export function tcpPeerMap(): MibMap<TcpPeerField> {
  const map = new MibMap<TcpPeerField>(TCP_PEER_FIELDS);
  map.addMapping(0, ['RetransSegs', 'TCPTimeouts', 'Lost']);
  map.addMapping(1, null);
  return map;
}

type Width = 16 | 32 | 64 | 'gauge';
const FIELD = Object.fromEntries(TCP_PEER_FIELDS.map((f, i) => [f, i])) as Record<TcpPeerField, number>;
// Where each counted field comes from, and how its increase is taken.
const SOURCES: ReadonlyArray<readonly [TcpPeerField, keyof TcpInfo, Width]> = [
  ['InSegs', 'segsIn', 32],
  ['OutSegs', 'segsOut', 32],
  ['RetransSegs', 'totalRetrans', 32],
  ['TCPTimeouts', 'totalRto', 16],
  ['TCPDSACKRecvSegs', 'dsackDups', 32],
  ['Lost', 'lost', 'gauge'],
  ['BytesAcked', 'bytesAcked', 64],
  ['BytesReceived', 'bytesReceived', 64],
  ['BytesSent', 'bytesSent', 64],
  ['BytesRetrans', 'bytesRetrans', 64],
  ['DataSegsIn', 'dataSegsIn', 32],
  ['DataSegsOut', 'dataSegsOut', 32],
];

/** The collector's own counters ({@link TcpPeerCollector.stats}). */
export const COLLECTOR_STAT_FIELDS = [
  'dumps', // dumps completed
  'sockets', // distinct sockets counted
  'destroyed', // destroy notifications counted
  'lostEvents', // times the kernel dropped notifications (totals may then miss a socket's last counts)
  'stale', // dump entries ignored because their socket's destroy notification came first
  'forgotten', // sockets that left the dumps without a notification
  'skipped', // sockets not counted: no table for their family, or a loopback peer
  'errors', // periodic dumps that failed (see lastError)
] as const;

/** One of {@link COLLECTOR_STAT_FIELDS}. */
export type CollectorStat = (typeof COLLECTOR_STAT_FIELDS)[number];
const STAT = Object.fromEntries(COLLECTOR_STAT_FIELDS.map((f, i) => [f, i])) as Record<CollectorStat, number>;

/** Options of {@link TcpPeerCollector}. */
export interface TcpPeerCollectorOptions {
  /** The network namespace to read (a name or a path); default the caller's. */
  netns?: string;
  /** Milliseconds between dumps (default 1000; 0: only {@link TcpPeerCollector.collect} dumps). */
  interval?: number;
  /** Count only sockets with one of these local ports. */
  localPorts?: number[];
  /** Count only sockets with one of these remote ports. */
  remotePorts?: number[];
  /** Called with the error of a periodic dump that failed (the next one is tried all the same). */
  onError?: (err: Error) => void;
}

interface Tracked {
  table: IpStatsTable | undefined;
  cookie: IpStatsCookie;
  src: string;
  dst: string;
  /** Each source's value at the last reading. */
  last: Float64Array;
  /** The dump that last listed the socket. */
  seen: number;
  /** Never counted: a loopback peer. */
  skip: boolean;
}

/**
 * Collects the kernel's per-socket TCP counters into address-pair tables
 * (one per family; pass both to cover IPv4 and IPv6). IPv4-mapped IPv6
 * sockets count in the IPv4 table. The tables must be started.
 *
 * ```ts
 * const table = new IpStatsTable(tcpPeerMap(), { family: 4 });
 * table.start();
 * await using collector = new TcpPeerCollector(table, { interval: 1000 });
 * await collector.start();
 * ```
 */
export class TcpPeerCollector {
  private readonly tables: { 4?: IpStatsTable; 6?: IpStatsTable };
  private readonly ids = new Map<IpStatsTable, Int32Array>();
  private readonly netns: string | undefined;
  private readonly interval: number;
  private readonly localPorts: number[] | undefined;
  private readonly remotePorts: number[] | undefined;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly statSet = new CounterSet(COLLECTOR_STAT_FIELDS);
  private readonly tracked = new Map<bigint, Tracked>();
  /** Cookies of destroyed sockets, with the dump count when they were destroyed. */
  private readonly tombstones = new Map<bigint, number>();
  private diag: SockDiag | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dumpCount = 0;
  private state: 'new' | 'started' | 'stopped' = 'new';
  /** The error of the last periodic dump that failed, if any. */
  lastError: Error | undefined;

  /** A collector into `tables` (one table, or one per family); nothing happens until {@link start}. */
  constructor(tables: IpStatsTable | IpStatsTable[], opts?: TcpPeerCollectorOptions) {
    const o = options<TcpPeerCollectorOptions>('options', opts, ['netns', 'interval', 'localPorts', 'remotePorts', 'onError']);
    const list = Array.isArray(tables) ? tables : [tables];
    this.tables = {};
    list.forEach((t, i) => {
      if (!(t instanceof IpStatsTable)) throw invalid(`tables[${i}]`, t, 'an IpStatsTable');
      if (this.tables[t.family]) throw invalid(`tables[${i}]`, `family ${t.family}`, 'one table per family');
      this.tables[t.family] = t;
      // Each TCP_PEER_FIELDS field's id in this table's map, -1 where the map has no such field.
      this.ids.set(t, Int32Array.from(TCP_PEER_FIELDS.map((f) => (t.map.fields.includes(f) ? t.map.index(f) : -1))));
    });
    if (list.length === 0) throw invalid('tables', tables, 'one IpStatsTable, or one per family');
    this.netns = optional(o.netns, (v) => cString('options.netns', v, { nonEmpty: true }), undefined);
    this.interval = optional(o.interval, (v) => durationMs('options.interval', v), 1000);
    const portList = (field: string, v: unknown) => arrayOf(field, v, (f, p) => integerIn(f, p, 0, 65535));
    this.localPorts = optional(o.localPorts, (v) => portList('options.localPorts', v), undefined);
    this.remotePorts = optional(o.remotePorts, (v) => portList('options.remotePorts', v), undefined);
    if (o.onError !== undefined) func('options.onError', o.onError);
    this.onError = o.onError;
  }

  /** Opens the sockets, joins the destroy groups, takes a first dump and then dumps every interval. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw invalid('collector', this.state, 'a collector not started before', 'EALREADY');
    this.state = 'started';
    try {
      this.diag = await SockDiag.open({
        ...(this.netns !== undefined ? { netns: this.netns } : {}),
        onDestroy: (s) => this.destroyed(s),
        onLost: () => this.statSet.inc(STAT.lostEvents),
      });
    } catch (err) {
      // Nothing is open yet: back to the initial state, so a later start() can try again.
      if (this.state === 'started') this.state = 'new';
      throw err;
    }
    try {
      await this.collect();
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.interval > 0 && this.state === 'started') {
      this.timer = setInterval(() => {
        if (this.running) return; // the previous dump is still being read
        this.collect().catch((err: Error) => {
          this.statSet.inc(STAT.errors);
          this.lastError = err;
          this.onError?.(err);
        });
      }, this.interval);
      this.timer.unref(); // a collector alone does not keep the process alive
    }
  }

  /** Whether {@link stop} was called. */
  get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Stops dumping and closes the sockets. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    await this.diag?.close();
  }

  /** {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Dumps now and counts the increases (what the interval does); resolves when they are in the tables. */
  collect(): Promise<void> {
    if (!this.diag || this.state !== 'started') return Promise.reject(invalid('collector', this.state, 'a started collector', 'EBADF'));
    const diag = this.diag;
    const run = (async () => {
      const sockets = await diag.dumpTcp({
        rawInfo: true,
        ...(this.localPorts ? { localPorts: this.localPorts } : {}),
        ...(this.remotePorts ? { remotePorts: this.remotePorts } : {}),
      });
      const dump = ++this.dumpCount;
      for (const s of sockets) {
        const bytes = s.infoBytes;
        if (bytes === undefined || s.dport === 0) continue;
        if (this.tombstones.has(s.cookie)) {
          this.statSet.inc(STAT.stale);
          continue;
        }
        const t = this.track(s);
        t.seen = dump;
        this.add(t, (key) => tcpInfoNumber(bytes, key));
        if (t.table && t.cookie !== NO_COOKIE) t.table.setGauge(t.cookie, 'rttUs', tcpInfoNumber(bytes, 'rtt')!);
      }
      // A socket two dumps have missed without a notification is gone (notifications lost, or it
      // was destroyed before we joined): forget it. Tombstones live as long.
      for (const [cookie, t] of this.tracked) {
        if (dump - t.seen > 2) {
          this.tracked.delete(cookie);
          this.statSet.inc(STAT.forgotten);
        }
      }
      for (const [cookie, at] of this.tombstones) if (dump - at > 2) this.tombstones.delete(cookie);
      this.statSet.inc(STAT.dumps);
    })();
    this.running = run;
    return run.finally(() => {
      if (this.running === run) this.running = undefined;
    });
  }

  /** The collector's own counters, exact. */
  stats(): Record<CollectorStat, number> {
    const sums = this.statSet.sum();
    return Object.fromEntries(COLLECTOR_STAT_FIELDS.map((f) => [f, Number(sums[f])])) as Record<CollectorStat, number>;
  }

  /** A destroy notification: the socket's final counts, then it is forgotten. */
  private destroyed(s: InetDiagMessage): void {
    if (this.state !== 'started' || s.info === undefined || s.dport === 0) return; // listeners have no peer
    if (this.localPorts && !this.localPorts.includes(s.sport)) return;
    if (this.remotePorts && !this.remotePorts.includes(s.dport)) return;
    const t = this.track(s);
    const info = s.info;
    this.add(t, (key) => info[key] as number | bigint | undefined);
    this.count(t, FIELD.Closed, 1);
    this.tracked.delete(s.cookie);
    this.tombstones.set(s.cookie, this.dumpCount);
    this.statSet.inc(STAT.destroyed);
  }

  /** The socket's record, made (and counted in `Sockets`) on first sight. */
  private track(s: InetDiagMessage): Tracked {
    let t = this.tracked.get(s.cookie);
    if (t) return t;
    let family = s.family;
    let src = s.src;
    let dst = s.dst;
    // A dual-stack socket talking IPv4: count it under its IPv4 addresses.
    if (family === 6 && dst.startsWith('::ffff:') && dst.includes('.')) {
      family = 4;
      src = src.startsWith('::ffff:') ? src.slice(7) : '0.0.0.0';
      dst = dst.slice(7);
    }
    t = { table: this.tables[family], cookie: NO_COOKIE, src, dst, last: new Float64Array(SOURCES.length), seen: this.dumpCount, skip: false };
    this.tracked.set(s.cookie, t);
    if (!t.table) this.statSet.inc(STAT.skipped);
    this.statSet.inc(STAT.sockets);
    this.count(t, FIELD.Sockets, 1);
    return t;
  }

  /** Adds the increases since the last reading of the socket, and remembers this one. */
  private add(t: Tracked, read: (key: keyof TcpInfo) => number | bigint | undefined): void {
    for (let i = 0; i < SOURCES.length; i++) {
      const [field, key, width] = SOURCES[i];
      const raw = read(key);
      if (raw === undefined) continue; // an older kernel's tcp_info
      const now = Number(raw);
      const before = t.last[i];
      t.last[i] = now;
      let delta: number;
      if (width === 'gauge') delta = now > before ? now - before : 0;
      else if (width === 32) delta = (now - before) >>> 0; // wraps as the kernel's u32 does
      else if (width === 16) delta = (now - before) & 0xffff;
      else delta = now - before;
      if (delta > 0) this.count(t, FIELD[field], delta);
    }
  }

  /** Counts into the socket's entry, (re)inserting the pair when the entry is gone (a flush). */
  private count(t: Tracked, field: number, n: number): void {
    const table = t.table;
    if (!table || t.skip) return;
    const id = this.ids.get(table)![field];
    if (id < 0) return;
    if (!table.valid(t.cookie)) {
      try {
        t.cookie = table.insert(t.src, t.dst);
      } catch {
        return; // ENOSPC, counted by the table as `full`: tried again on the next count
      }
      if (t.cookie === NO_COOKIE) {
        // A loopback peer stays skipped; a stopped table is tried again on the next count.
        if (!table.stopped) {
          t.skip = true;
          this.statSet.inc(STAT.skipped);
        }
        return;
      }
    }
    table.count(t.cookie, id, n);
  }
}
