/**
 * `IpStatsTable`: counters per (source, destination) address pair, the
 * seed's statistics hash tables.
 *
 * Entries hang off `buckets` chains chosen by jhash of the pair (with a
 * random per-table initval, see jhash.ts). An entry holds one kernkit
 * `CounterSet` per level of its {@link MibMap}, allocated only for the levels
 * in force when the entry is inserted or looked up, and grown on the first
 * count at a higher level: at level 0 an entry costs a few counters.
 *
 * Writers reach an entry by cookie (no hashing: the cookie holds its entry,
 * see cookie.ts) or by address (hashing, as the
 * seed's sk_buff macros). Worker threads count into the same counters through
 * an entry handle ({@link IpStatsTable.handleOf}, {@link IpStatsWriter}).
 * `flush()` drops every entry; the cookies handed out before are polluted
 * from then on, and writing through one is a no-op counted in `stats()`.
 * @module
 */
import { randomInt } from 'node:crypto';
import { KernkitError } from '../errors';
import { CounterSet, type CounterSetHandle } from '../percpu';
import { FOLD_THRESHOLD } from '../percpu/arena';
import { boolean, finite, integerIn, invalid, oneOf, optional, options } from '../validate';
import { formatAddress, isLoopback, parseAddress, wordsOf, type IpFamily } from '../address';
import { COOKIE_ENTRY, makeCookie, MAX_BUCKETS, MAX_SEQUENCE, NO_COOKIE, type IpStatsCookie } from './cookie';
import { jhash2Unchecked, jhash2words } from './jhash';
import { MIB_LEVELS, statName, type MibMap, type MibMapHandle } from './mib-map';

/** Options of {@link IpStatsTable}. */
export interface IpStatsTableOptions {
  /** The address family of the pairs: 4 (default) or 6. */
  family?: IpFamily;
  /** Hash chains: an integer from 1 to 2^20 (default 1024). */
  buckets?: number;
  /** Most entries: an integer from 1 to 2^24 (default 65536); an insert past it is `ENOSPC`. */
  maxEntries?: number;
  /** Count pairs whose destination is a loopback address (default false: skipped, as the seed). */
  includeLoopback?: boolean;
}

/** What a table counts about itself ({@link IpStatsTable.stats}). */
export const TABLE_STAT_FIELDS = [
  /** Entries created. */
  'inserts',
  /** Address lookups (insert, lookup, countByAddress): each one hashes the pair. */
  'lookups',
  /** Writes through a polluted cookie (one from before a flush, or of another table): ignored. */
  'polluted',
  /** Inserts refused with ENOSPC because the table held maxEntries. */
  'full',
  /** Loopback pairs skipped (includeLoopback false). */
  'loopback',
  /** Lookups and countByAddress calls for a pair not in the table. */
  'misses',
  /** Levels allocated in an existing entry (the level was raised since it was inserted). */
  'grown',
  /** Writes from a thread whose entry handle lacks the field's level (ask for a new handle). */
  'unallocated',
] as const;

/** One of {@link TABLE_STAT_FIELDS}. */
export type TableStat = (typeof TABLE_STAT_FIELDS)[number];

const INSERTS = TABLE_STAT_FIELDS.indexOf('inserts');
const LOOKUPS = TABLE_STAT_FIELDS.indexOf('lookups');
const POLLUTED = TABLE_STAT_FIELDS.indexOf('polluted');
const FULL = TABLE_STAT_FIELDS.indexOf('full');
const LOOPBACK = TABLE_STAT_FIELDS.indexOf('loopback');
const MISSES = TABLE_STAT_FIELDS.indexOf('misses');
const GROWN = TABLE_STAT_FIELDS.indexOf('grown');
/** @internal Slot of `unallocated` in the stats set. */
export const UNALLOCATED = TABLE_STAT_FIELDS.indexOf('unallocated');
/** @internal Slot of `polluted` in the stats set. */
export const POLLUTED_STAT = POLLUTED;

/** @internal Int32 slots of a table's shared control words. */
export const COLLECTING = 0;
/** @internal Bumped by every flush: entry handles from an older generation are polluted. */
export const GENERATION = 1;

/** A structured-cloneable handle on one entry, for {@link IpStatsWriter.attach} in a worker thread. */
export interface IpStatsEntryHandle {
  readonly kind: 'kernkit.perip.entry';
  readonly cookie: IpStatsCookie;
  readonly family: IpFamily;
  readonly src: string;
  readonly dst: string;
  readonly map: MibMapHandle;
  /** The table's shared control words (collecting, generation). */
  readonly control: SharedArrayBuffer;
  /** The generation the entry belongs to. */
  readonly generation: number;
  /** The entry's counters by level (null: not allocated when the handle was made). */
  readonly sets: readonly (CounterSetHandle | null)[];
  /** The table's own statistics, where polluted writes are counted. */
  readonly stats: CounterSetHandle;
}

/** What {@link IpStatsTable.entries} yields for one entry. */
export interface IpStatsEntry {
  readonly cookie: IpStatsCookie;
  readonly src: string;
  readonly dst: string;
  /** The levels whose counters are allocated, ascending. */
  readonly levels: readonly number[];
  /** The exact counters of the allocated levels, by field name. */
  readonly counters: Readonly<Record<string, bigint>>;
  /** Gauges set with {@link IpStatsTable.setGauge} (the collector's RTT), by name. */
  readonly gauges: Readonly<Record<string, number>>;
}

interface Entry {
  cookie: IpStatsCookie;
  /** The table the entry is in; undefined once flushed. A cookie whose entry's owner is not the table is polluted. */
  owner: object | undefined;
  readonly bucket: number;
  /** Source words then destination words. */
  readonly key: Uint32Array;
  readonly src: string;
  readonly dst: string;
  // One field per level (MIB_LEVELS is 2), never undefined: a level without counters
  // holds the shared UNALLOCATED set. So the fields only ever hold CounterSets, and
  // V8 keeps the hot path's loads and the add() call monomorphic (an array, or
  // fields that start undefined, made count() 2-3x slower).
  set0: CounterSet;
  set1: CounterSet;
  // Each level's slot array and where its counters start there (the set's own), so that
  // count() adds to a Float64Array without going through the set. A level without
  // counters has NO_SLOTS: the read is undefined, the sum NaN, and count() takes the
  // slow path, which grows the level.
  slots0: Float64Array;
  base0: number;
  slots1: Float64Array;
  base1: number;
  gauges: Record<string, number> | undefined;
  next: Entry | undefined;
}

/** A cookie as the table made it: with its entry (see cookie.ts). */
type EntryCookie = IpStatsCookie & { readonly [COOKIE_ENTRY]: Entry | undefined };

/** The slots of a level without counters (see Entry). */
const NO_SLOTS = new Float64Array(0);
/** Module-level copy: a const the compiler folds into count(). */
const FOLD = FOLD_THRESHOLD;
/** A field's code's level bits: 0, 1, or {@link UNMAPPED_LEVEL}. */
const LEVEL_BITS = 3;
/** The level bits of an unmapped field: above every current level, so one compare skips both. */
const UNMAPPED_LEVEL = 3;

/** The marker of a level without counters (see Entry): one per thread, made on first use. */
let unallocatedSet: CounterSet | undefined;

/** An entry's counter sets by level, `undefined` where a level has none. */
function setsOf(entry: Entry): Array<CounterSet | undefined> {
  return [entry.set0, entry.set1].map((s) => (s === unallocatedSet ? undefined : s));
}

/**
 * Per-address-pair counters of a {@link MibMap}'s fields. Collection starts
 * stopped, as in the seed: call {@link start}.
 *
 * ```ts
 * const table = new IpStatsTable(map, { family: 4 });
 * table.start();
 * const cookie = table.insert('192.0.2.1', '198.51.100.7');
 * const RETRANS = map.index('RetransSegs');
 * table.count(cookie, RETRANS);         // no hashing
 * table.countByAddress('192.0.2.1', '198.51.100.7', 'RetransSegs', 2); // hashing
 * console.log(table.dump());
 * ```
 */
export class IpStatsTable<F extends string = string> {
  /** The map whose fields the entries count. */
  readonly map: MibMap<F>;
  /** 4 or 6. */
  readonly family: IpFamily;
  /** Number of hash chains. */
  readonly buckets: number;
  /** Most entries the table holds. */
  readonly maxEntries: number;
  /** Whether loopback pairs are counted. */
  readonly includeLoopback: boolean;
  /** @internal Shared control words: collecting, generation. */
  readonly control: Int32Array;
  private readonly statSet: CounterSet<TableStat>;
  private readonly heads: (Entry | undefined)[];
  /** The entries, oldest first (by sequence number minus {@link firstSeq}). */
  private bySeq: Entry[];
  private firstSeq: number;
  private readonly seed: number;
  private readonly words: number;
  private readonly scratch: Uint32Array;
  /**
   * Each field's level and slot in one word by id: `slot << 2 | level`, level
   * {@link UNMAPPED_LEVEL} for an unmapped field. The map is frozen, so this never changes.
   */
  private readonly codeById: Int32Array;
  /** Gauge names {@link setGauge} has already checked. */
  private readonly gaugeNames = new Set<string>();
  private readonly mapLevel: Int32Array;
  private readonly unallocated: CounterSet;
  /** This thread's copy of control[COLLECTING]: only the owning thread starts and stops the table. */
  private collecting = false;

  /** An empty, stopped table over `map` (which it freezes: see {@link MibMap.addMapping}). */
  constructor(map: MibMap<F>, opts?: IpStatsTableOptions) {
    const o = options<IpStatsTableOptions>('options', opts, ['family', 'buckets', 'maxEntries', 'includeLoopback']);
    if (!map || typeof map !== 'object' || !(map.levelById instanceof Int8Array)) throw invalid('map', map, 'a MibMap');
    this.family = optional(o.family, (v) => oneOf('options.family', v, [4, 6] as const), 4 as const);
    this.buckets = optional(o.buckets, (v) => integerIn('options.buckets', v, 1, MAX_BUCKETS), 1024);
    this.maxEntries = optional(o.maxEntries, (v) => integerIn('options.maxEntries', v, 1, 1 << 24), 65536);
    this.includeLoopback = optional(o.includeLoopback, (v) => boolean('options.includeLoopback', v), false);
    map.freeze('an IpStatsTable');
    this.map = map;
    this.codeById = Int32Array.from(map.levelById, (level, id) => (map.slotById[id] << 2) | (level < 0 ? UNMAPPED_LEVEL : level));
    this.mapLevel = map.control;
    this.control = new Int32Array(new SharedArrayBuffer(8));
    this.statSet = new CounterSet(TABLE_STAT_FIELDS);
    this.heads = new Array<Entry | undefined>(this.buckets).fill(undefined);
    this.bySeq = [];
    this.firstSeq = 1;
    this.seed = randomInt(0, 2 ** 32) | 0;
    this.words = wordsOf(this.family);
    this.scratch = new Uint32Array(2 * this.words);
    this.unallocated = unallocatedSet ??= new CounterSet(['unallocated']);
  }

  /** Entries in the table. */
  get size(): number {
    return this.bySeq.length;
  }

  /** Starts data collection (`stat_hash_start_data_collection`): inserts and counts take effect. */
  start(): void {
    this.collecting = true;
    Atomics.store(this.control, COLLECTING, 1);
  }

  /** Stops data collection: inserts return {@link NO_COOKIE}, counts are ignored; entries stay readable. */
  stop(): void {
    this.collecting = false;
    Atomics.store(this.control, COLLECTING, 0);
  }

  /** Whether collection is stopped (true until {@link start}). */
  get stopped(): boolean {
    return !this.collecting;
  }

  /** Stops collection, for `using table = ...`. */
  [Symbol.dispose](): void {
    this.stop();
  }

  /**
   * The cookie of the pair's entry, inserting it if it is new (and allocating
   * the levels now in force in an existing one). {@link NO_COOKIE} for a
   * skipped loopback pair and while stopped. `ENOSPC` when the table holds
   * `maxEntries` (counted as `full`); `EINVAL` for an address that is not of
   * the table's family.
   */
  insert(src: string, dst: string): IpStatsCookie {
    if (!this.parsePair(src, dst)) return NO_COOKIE;
    if (this.collecting !== true) return NO_COOKIE;
    const bucket = this.hash();
    const found = this.find(bucket);
    if (found) return this.allocate(found, true).cookie;
    if (this.bySeq.length >= this.maxEntries) {
      this.statSet.inc(FULL);
      throw new KernkitError(`table: ${this.maxEntries} entries (maxEntries reached: flush, or make the table larger)`, { code: 'ENOSPC' });
    }
    const seq = this.firstSeq + this.bySeq.length;
    if (seq > MAX_SEQUENCE) {
      throw new KernkitError(`table: sequence ${seq} (past ${MAX_SEQUENCE}: cookies would repeat; make a new table)`, { code: 'EOVERFLOW' });
    }
    const entry: Entry = {
      cookie: NO_COOKIE, // made below: the cookie points back at the entry
      owner: this,
      bucket,
      key: this.scratch.slice(),
      src: formatAddress(this.family, this.scratch, 0),
      dst: formatAddress(this.family, this.scratch, this.words),
      set0: this.unallocated,
      set1: this.unallocated,
      slots0: NO_SLOTS,
      base0: 0,
      slots1: NO_SLOTS,
      base1: 0,
      gauges: undefined,
      next: this.heads[bucket],
    };
    entry.cookie = makeCookie(this.family, bucket, seq, entry);
    this.allocate(entry, false);
    this.heads[bucket] = entry;
    this.bySeq.push(entry);
    this.statSet.inc(INSERTS);
    return entry.cookie;
  }

  /**
   * The cookie of the pair's entry, or {@link NO_COOKIE} when it has none
   * (counted as a miss). With `alloc` (default true) the levels now in force
   * are allocated in the entry; `{ alloc: false }` only looks (the seed's NOALLOC).
   */
  lookup(src: string, dst: string, opts?: { alloc?: boolean }): IpStatsCookie {
    const o = options<{ alloc?: boolean }>('options', opts, ['alloc']);
    const alloc = optional(o.alloc, (v) => boolean('options.alloc', v), true);
    if (!this.parsePair(src, dst)) return NO_COOKIE;
    const found = this.find(this.hash());
    if (!found) {
      this.statSet.inc(MISSES);
      return NO_COOKIE;
    }
    if (alloc) this.allocate(found, true);
    return found.cookie;
  }

  /**
   * Adds `n` (default 1) to `field` (a name, or the id {@link MibMap.index}
   * gives, which skips a lookup) of the cookie's entry, with no hashing.
   * Nothing happens when the field's level is above the map's current level,
   * while stopped, or for {@link NO_COOKIE}; a polluted cookie is a no-op
   * counted in `stats().polluted`. The entry grows the field's level on first use.
   */
  count(cookie: IpStatsCookie, field: number | F, n = 1): void {
    const code = this.codeOf(field);
    // The cheap checks first, as the seed's macros: unmapped or above the current level, or stopped.
    if ((code & LEVEL_BITS) > this.mapLevel[0] || this.collecting !== true) return;
    // The cookie's entry must be live in this table: a polluted cookie's, or one of another table's, never is.
    const entry = (cookie as EntryCookie)[COOKIE_ENTRY];
    if (entry === undefined || entry.owner !== this) {
      if (cookie !== NO_COOKIE) this.statSet.inc(POLLUTED);
      return;
    }
    this.addTo(entry, code, n);
  }

  /**
   * {@link count} for the pair's entry, found by hashing (the seed's sk_buff
   * path): it does not insert. A pair not in the table is a counted miss;
   * a skipped loopback pair is ignored.
   */
  countByAddress(src: string, dst: string, field: number | F, n = 1): void {
    const code = this.codeOf(field);
    if ((code & LEVEL_BITS) > this.mapLevel[0] || this.collecting !== true) return;
    if (!this.parsePair(src, dst)) return;
    const entry = this.find(this.hash());
    if (entry === undefined) {
      this.statSet.inc(MISSES);
      return;
    }
    this.addTo(entry, code, n);
  }

  /** The code (see codeById) of a field name or id; `EINVAL` for an id that names no field. */
  private codeOf(field: number | F): number {
    const code = this.codeById[typeof field === 'number' ? field : this.map.index(field)];
    if (code === undefined) this.badFieldId(field);
    return code;
  }

  /**
   * Adds `n` to the field `code` names in a live entry, at a level in force:
   * CounterSet.add's fast path on the slot itself (same slot, same fold rule),
   * else through the set, growing the level first if the entry lacks it.
   */
  private addTo(entry: Entry, code: number, n: number): void {
    const level0 = (code & LEVEL_BITS) === 0;
    const slots = level0 ? entry.slots0 : entry.slots1;
    const j = (level0 ? entry.base0 : entry.base1) + (code >> 2);
    if (typeof n === 'number') {
      const x = slots[j] + n; // NaN for a level without counters: the slow path below
      if ((n | 0) === n && x < FOLD && x > -FOLD) {
        slots[j] = x;
        return;
      }
    }
    const level = code & LEVEL_BITS;
    let set = level0 ? entry.set0 : entry.set1;
    if (set === this.unallocated) set = this.grow(entry, level);
    set.add(code >> 2, n);
  }

  /** Whether `cookie` names a live entry of this table (false for a polluted one and for {@link NO_COOKIE}). */
  valid(cookie: IpStatsCookie): boolean {
    return this.entryOf(cookie) !== undefined;
  }

  /**
   * Sets gauge `name` of the cookie's entry (a value that is not a count, such
   * as the collector's smoothed RTT); ignored for a polluted cookie. `EINVAL`
   * for a name that is not an identifier or is one of the MIB's counters, and
   * for a value that is not a finite number.
   */
  setGauge(cookie: IpStatsCookie, name: string, value: number): void {
    if (!this.gaugeNames.has(name)) {
      statName('name', name);
      if ((this.map.fields as readonly string[]).includes(name)) throw invalid('name', name, 'a gauge name that is not a counter of the MIB');
      this.gaugeNames.add(name);
    }
    finite('value', value);
    const entry = this.entryOf(cookie);
    if (entry) (entry.gauges ??= {})[name] = value;
  }

  /**
   * A handle for worker threads to count into the cookie's entry (see
   * {@link IpStatsWriter}); allocates the levels now in force first. `ENOENT`
   * for a cookie that names no live entry.
   */
  handleOf(cookie: IpStatsCookie): IpStatsEntryHandle {
    const entry = this.entryOf(cookie);
    if (!entry) throw invalid('cookie', cookie, 'the cookie of a live entry of this table', 'ENOENT');
    this.allocate(entry, true);
    return {
      kind: 'kernkit.perip.entry',
      cookie: entry.cookie,
      family: this.family,
      src: entry.src,
      dst: entry.dst,
      map: this.map.handle,
      control: this.control.buffer as SharedArrayBuffer,
      generation: this.control[GENERATION],
      sets: setsOf(entry).map((s) => (s ? s.handle : null)),
      stats: this.statSet.handle,
    };
  }

  /** Zeroes the counters of `level` in every entry (writers go on; see `CounterSet.zero`). */
  zero(level: number): void {
    const lvl = integerIn('level', level, 0, MIB_LEVELS - 1, 'EINVAL');
    for (const entry of this.bySeq) setsOf(entry)[lvl]?.zero();
  }

  /** Empties the table: every cookie handed out so far is polluted from now on. */
  flush(): void {
    for (const entry of this.bySeq) entry.owner = undefined;
    this.firstSeq += this.bySeq.length;
    this.bySeq = [];
    this.heads.fill(undefined);
    Atomics.add(this.control, GENERATION, 1);
  }

  /** The table's own counters (inserts, lookups, polluted, full, ...), exact. */
  stats(): Record<TableStat, number> {
    const sums = this.statSet.sum();
    const out = {} as Record<TableStat, number>;
    for (const f of TABLE_STAT_FIELDS) out[f] = Number(sums[f]);
    return out;
  }

  /** The entry a cookie names, read now; `undefined` for a polluted cookie. */
  get(cookie: IpStatsCookie): IpStatsEntry | undefined {
    const entry = this.entryOf(cookie);
    return entry && this.snapshot(entry);
  }

  /** Every entry, oldest first, read as it is reached. */
  *entries(): IterableIterator<IpStatsEntry> {
    for (const entry of this.bySeq) yield this.snapshot(entry);
  }

  /**
   * The table as text, one line per entry like the seed's /proc/net/perip:
   * source, destination, then for each allocated level `L<level>` and its
   * counters as `Name=value`, then the gauges. With `'json'`: {@link toJSON}
   * as a JSON string.
   */
  dump(format: 'text' | 'json' = 'text'): string {
    oneOf('format', format, ['text', 'json']);
    if (format === 'json') return JSON.stringify(this.toJSON());
    const lines = [`# perip${this.family === 6 ? '6' : ''} level=${this.map.level} entries=${this.size}`];
    for (const entry of this.bySeq) {
      const parts = [entry.src, entry.dst];
      setsOf(entry).forEach((set, level) => {
        if (!set) return;
        const sums = set.sum();
        parts.push(`L${level}`, ...set.fields.map((f) => `${f}=${sums[f]}`));
      });
      for (const [name, value] of Object.entries(entry.gauges ?? {})) parts.push(`${name}=${value}`);
      lines.push(parts.join(' '));
    }
    return `${lines.join('\n')}\n`;
  }

  /** The table as plain data: counters as numbers (exact below 2^53). */
  toJSON(): { family: IpFamily; level: number; entries: Array<Omit<IpStatsEntry, 'counters'> & { counters: Record<string, number> }> } {
    const entries = [...this.entries()].map((e) => ({
      ...e,
      counters: Object.fromEntries(Object.entries(e.counters).map(([k, v]) => [k, Number(v)])),
    }));
    return { family: this.family, level: this.map.level, entries };
  }

  /** @internal The live entry of a cookie, or undefined. */
  private entryOf(cookie: IpStatsCookie): Entry | undefined {
    if (typeof cookie !== 'object' || cookie === null || typeof cookie.seq !== 'number') return undefined;
    const entry = (cookie as EntryCookie)[COOKIE_ENTRY];
    return entry !== undefined && entry.owner === this ? entry : undefined;
  }

  private snapshot(entry: Entry): IpStatsEntry {
    const counters: Record<string, bigint> = {};
    const levels: number[] = [];
    setsOf(entry).forEach((set, level) => {
      if (!set) return;
      levels.push(level);
      Object.assign(counters, set.sum());
    });
    return { cookie: entry.cookie, src: entry.src, dst: entry.dst, levels, counters, gauges: { ...entry.gauges } };
  }

  /** Parses the pair into the scratch words; false for a skipped loopback pair. */
  private parsePair(src: string, dst: string): boolean {
    parseAddress('src', src, this.family, this.scratch, 0);
    parseAddress('dst', dst, this.family, this.scratch, this.words);
    if (!this.includeLoopback && isLoopback(this.family, this.scratch, this.words)) {
      this.statSet.inc(LOOPBACK);
      return false;
    }
    return true;
  }

  /** The bucket of the pair in the scratch words. */
  private hash(): number {
    this.statSet.inc(LOOKUPS);
    const k = this.scratch;
    const h = this.family === 4 ? jhash2words(k[0], k[1], this.seed) : jhash2Unchecked(k, 8, this.seed);
    return h % this.buckets;
  }

  private find(bucket: number): Entry | undefined {
    const k = this.scratch;
    for (let e = this.heads[bucket]; e !== undefined; e = e.next) {
      let same = true;
      for (let i = 0; i < k.length && same; i++) same = e.key[i] === k[i];
      if (same) return e;
    }
    return undefined;
  }

  /** Allocates the counters of every mapped level up to the current one that the entry lacks. */
  private allocate(entry: Entry, existing: boolean): Entry {
    const current = this.mapLevel[0];
    for (let level = 0; level <= current; level++) {
      if (setsOf(entry)[level] === undefined && this.map.fieldsAt(level).length > 0) this.grow(entry, level, existing);
    }
    return entry;
  }

  private grow(entry: Entry, level: number, counted = true): CounterSet {
    const set = new CounterSet(this.map.fieldsAt(level) as readonly string[]);
    if (level === 0) {
      entry.set0 = set;
      entry.slots0 = set.slots;
      entry.base0 = set.offset;
    } else {
      entry.set1 = set;
      entry.slots1 = set.slots;
      entry.base1 = set.offset;
    }
    if (counted) this.statSet.inc(GROWN);
    return set;
  }

  private badFieldId(field: unknown): never {
    throw invalid('field', field, `a field name or an id from 0 to ${this.map.fields.length - 1}`);
  }
}
