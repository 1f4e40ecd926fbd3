/**
 * `IpStatsWriter`: one table entry's counters, written from any thread
 * through the handle {@link IpStatsTable.handleOf} gave. The writes go to the
 * same kernkit counter sets as the owning thread's (each thread into its own
 * shard, so nothing contends), and obey the same rules: a field above the
 * map's current level is not counted, nothing is counted while the table is
 * stopped, and once the table is flushed the handle is polluted and every
 * write is a no-op counted in the table's `stats().polluted`.
 * @module
 */
import { CounterSet } from '../percpu';
import { invalid, plainObject } from '../validate';
import type { IpStatsCookie } from './cookie';
import { MibMap } from './mib-map';
import { COLLECTING, GENERATION, POLLUTED_STAT, UNALLOCATED, type IpStatsEntryHandle, type TableStat } from './table';

/**
 * A writer for one entry of an {@link IpStatsTable}, in a worker thread:
 *
 * ```ts
 * // main: worker.postMessage(table.handleOf(cookie))
 * const peer = IpStatsWriter.attach(handle);
 * const RETRANS = peer.map.index('RetransSegs');
 * peer.count(RETRANS);
 * ```
 */
export class IpStatsWriter<F extends string = string> {
  /** The entry's cookie. */
  readonly cookie: IpStatsCookie;
  /** The entry's source address. */
  readonly src: string;
  /** The entry's destination address. */
  readonly dst: string;
  /** The table's map, sharing its current level with the table's thread. */
  readonly map: MibMap<F>;
  private readonly control: Int32Array;
  private readonly generation: number;
  private readonly sets: (CounterSet | undefined)[];
  private readonly stats: CounterSet<TableStat>;
  private readonly levelById: Int8Array;
  private readonly slotById: Int32Array;
  private readonly mapLevel: Int32Array;

  private constructor(h: IpStatsEntryHandle) {
    this.cookie = h.cookie;
    this.src = h.src;
    this.dst = h.dst;
    this.map = MibMap.attach<F>(h.map);
    this.control = new Int32Array(h.control);
    this.generation = h.generation;
    this.sets = h.sets.map((s) => (s ? CounterSet.attach(s) : undefined));
    this.stats = CounterSet.attach<TableStat>(h.stats);
    this.levelById = this.map.levelById;
    this.slotById = this.map.slotById;
    this.mapLevel = this.map.control;
  }

  /** A writer over the entry `handle` names; `EINVAL` for something that is not an entry handle. */
  static attach<F extends string = string>(handle: IpStatsEntryHandle): IpStatsWriter<F> {
    const h = plainObject('handle', handle, 'an IpStatsTable entry handle');
    if (h.kind !== 'kernkit.perip.entry' || !(h.control instanceof SharedArrayBuffer) || !Array.isArray(h.sets)) {
      throw invalid('handle', handle, 'an IpStatsTable entry handle');
    }
    return new IpStatsWriter<F>(handle);
  }

  /** Whether the table was flushed since the handle was made: writes are then counted no-ops. */
  get polluted(): boolean {
    return this.control[GENERATION] !== this.generation;
  }

  /**
   * Adds `n` (default 1) to `field` (a name or its id) of the entry, as
   * {@link IpStatsTable.count}. A field of a level the handle has no counters
   * for (the level was raised after the handle was made) is counted as
   * `unallocated` in the table's stats: get a fresh handle.
   */
  count(field: number | F, n = 1): void {
    const id = typeof field === 'number' ? field : this.map.index(field);
    const level = this.levelById[id];
    if (level === undefined) throw invalid('field', field, `a field name or an id from 0 to ${this.map.fields.length - 1}`);
    if (level < 0 || level > this.mapLevel[0] || this.control[COLLECTING] === 0) return;
    if (this.control[GENERATION] !== this.generation) {
      this.stats.inc(POLLUTED_STAT);
      return;
    }
    const set = this.sets[level];
    if (set === undefined) {
      this.stats.inc(UNALLOCATED);
      return;
    }
    set.add(this.slotById[id], n);
  }
}
