/**
 * The defense strategies of ip_vs_ctl.c (`update_defense_level`, run every
 * second): drop_entry, drop_packet and secure_tcp, each in mode 0 (off),
 * 1 (auto: on when memory runs low, then mode 2), 2 (on while memory is low,
 * back to 1 when it recovers) or 3 (always on). Memory is low when the
 * available-memory signal falls below `amemthresh` (pages).
 * @module
 */
import { freemem } from 'node:os';
import type { ResourceCounter } from '../rescounter';
import { resourceCounterOption } from '../rescounter/option';
import { finite, integerIn, optional, options } from '../validate';

/** A defense mode (the sysctl's value). */
export type DefenseMode = 0 | 1 | 2 | 3;

/** Options of the defense strategies; all default off. */
export interface DefenseOptions {
  /** `drop_entry` mode (default 0). */
  dropEntry?: DefenseMode;
  /** `drop_packet` mode (default 0). */
  dropPacket?: DefenseMode;
  /** `secure_tcp` mode (default 0). */
  secureTcp?: DefenseMode;
  /** `amemthresh` in pages (default 1024). */
  amemthresh?: number;
  /** `am_droprate`: drop one in this many new connections in drop_packet mode 3 (default 10). */
  amDroprate?: number;
  /**
   * Available memory in pages (default: `os.freemem() / 4096`), read every second:
   * a function returning it, or a {@link ResourceCounter} whose `max − usage` (in
   * the counter's unit, 0 when usage is above max) is what `amemthresh` is
   * compared with, as the kernel compares free pages. A counter without a limit
   * never signals low memory.
   */
  availableMemory?: (() => number) | ResourceCounter;
}

/** The defense state after an update. */
export interface DefenseState {
  /** drop_entry mode (the sysctl, as the kernel rewrites it). */
  dropEntry: DefenseMode;
  /** drop_packet mode. */
  dropPacket: DefenseMode;
  /** secure_tcp mode. */
  secureTcp: DefenseMode;
  /** Whether random entry dropping is active. */
  dropEntryActive: boolean;
  /** One new connection in `dropRate` is dropped (0: none). */
  dropRate: number;
  /** Whether the stricter TCP state table is in use (secure_tcp >= 2). */
  secureTcpActive: boolean;
  /** How many readings of `availableMemory` failed (threw, or gave no finite number); each kept the previous level. */
  errors: number;
  /** What the last failed reading threw (`null` before any failure). */
  lastError: unknown;
}

const mode = (field: string, v: unknown): DefenseMode => integerIn(field, v, 0, 3, 'EINVAL') as DefenseMode;

/** The `availableMemory` option as a function: as given, or a counter's headroom. */
function availableMemorySignal(value: unknown): () => number {
  if (typeof value === 'function') return value as () => number;
  const counter = resourceCounterOption('defense.availableMemory', value, 'a function returning available pages, or a ResourceCounter');
  // The headroom under the counter's own max (not its ancestors'): the budget this table was given.
  // No limit reads as the largest finite number: never below amemthresh.
  return () => Math.min(Number.MAX_VALUE, Math.max(0, counter.max - counter.usage));
}

/** The three strategies and their transitions. */
export class Defense {
  private dropEntryMode: DefenseMode;
  private dropPacketMode: DefenseMode;
  private secureTcpMode: DefenseMode;
  private dropEntryOn = false;
  private dropRate = 0;
  private dropCounter = 0;
  private errors = 0;
  private lastError: unknown = null;
  private readonly amemthresh: number;
  private readonly amDroprate: number;
  private readonly available: () => number;

  /** Validates the options (`EINVAL` for a mode outside 0..3, as the sysctl handler). */
  constructor(value: unknown) {
    const o = options<DefenseOptions>('defense', value, ['dropEntry', 'dropPacket', 'secureTcp', 'amemthresh', 'amDroprate', 'availableMemory']);
    this.dropEntryMode = o.dropEntry === undefined ? 0 : mode('defense.dropEntry', o.dropEntry);
    this.dropPacketMode = o.dropPacket === undefined ? 0 : mode('defense.dropPacket', o.dropPacket);
    this.secureTcpMode = o.secureTcp === undefined ? 0 : mode('defense.secureTcp', o.secureTcp);
    this.amemthresh = optional(o.amemthresh, (v) => integerIn('defense.amemthresh', v, 0, 0x7fffffff), 1024);
    this.amDroprate = optional(o.amDroprate, (v) => integerIn('defense.amDroprate', v, 0, 0x7fffffff), 10);
    this.available = optional(o.availableMemory, availableMemorySignal, () => Math.floor(freemem() / 4096));
  }

  /** True when any strategy is on (the table then runs the 1 s timer). */
  get enabled(): boolean {
    return this.dropEntryMode !== 0 || this.dropPacketMode !== 0 || this.secureTcpMode !== 0;
  }

  /**
   * `update_defense_level`: reads the memory signal and applies each mode's transitions.
   * A signal that throws or gives no finite number (a counter closed later: `EBADF`) keeps the
   * previous level and is counted in `errors`/`lastError`: it runs from a timer, where a throw
   * would end the process.
   */
  update(): DefenseState {
    let availmem: number;
    try {
      availmem = finite('defense.availableMemory()', this.available());
    } catch (err) {
      this.errors++;
      this.lastError = err;
      return this.state();
    }
    const amemthresh = Math.max(this.amemthresh, 0);
    const nomem = availmem < amemthresh;
    switch (this.dropEntryMode) {
      case 0:
        this.dropEntryOn = false;
        break;
      case 1:
        this.dropEntryOn = nomem;
        if (nomem) this.dropEntryMode = 2;
        break;
      case 2:
        this.dropEntryOn = nomem;
        if (!nomem) this.dropEntryMode = 1;
        break;
      case 3:
        this.dropEntryOn = true;
        break;
    }
    const rate = () => Math.trunc(amemthresh / (amemthresh - availmem));
    switch (this.dropPacketMode) {
      case 0:
        this.dropRate = 0;
        break;
      case 1:
        if (nomem) {
          this.dropCounter = this.dropRate = rate();
          this.dropPacketMode = 2;
        } else this.dropRate = 0;
        break;
      case 2:
        if (nomem) this.dropCounter = this.dropRate = rate();
        else {
          this.dropRate = 0;
          this.dropPacketMode = 1;
        }
        break;
      case 3:
        this.dropRate = this.amDroprate;
        break;
    }
    switch (this.secureTcpMode) {
      case 1:
        if (nomem) this.secureTcpMode = 2;
        break;
      case 2:
        if (!nomem) this.secureTcpMode = 1;
        break;
    }
    return this.state();
  }

  /** The current state. */
  state(): DefenseState {
    return {
      dropEntry: this.dropEntryMode,
      dropPacket: this.dropPacketMode,
      secureTcp: this.secureTcpMode,
      dropEntryActive: this.dropEntryOn,
      dropRate: this.dropRate,
      secureTcpActive: this.secureTcpMode >= 2,
      errors: this.errors,
      lastError: this.lastError,
    };
  }

  /** `ip_vs_todrop`: with a drop rate, every `rate`-th new connection is dropped. */
  dropPacket(): boolean {
    if (!this.dropRate) return false;
    if (--this.dropCounter > 0) return false;
    this.dropCounter = this.dropRate;
    return true;
  }

  /** Whether drop_entry is dropping now. */
  get dropEntryActive(): boolean {
    return this.dropEntryOn;
  }
}
