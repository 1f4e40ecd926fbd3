/**
 * `MibMap`: which counters of a MIB are counted, by level (the seed's SNMP MIB
 * maps, `snmp_map_add_mapping` and `snmp_map_level`).
 *
 * A MIB is a list of counter names (`TCP_MIB_FIELDS`, ...). Each level maps a
 * set of them, and the sets are mutually exclusive, so every field lives in
 * at most one level: level 0 holds the few "red flag" counters, level 1
 * (diagnostics) what else is wanted. The current level is switched at run
 * time; a field whose level is above it is not counted, and an entry of an
 * {@link IpStatsTable} allocates counters for a level only once it is in force.
 *
 * The lookup a writer makes is two typed-array reads (the field's level and
 * its slot in that level's counters) and one compare with the current level,
 * which lives in shared memory so that worker threads see a switch at once.
 * @module
 */
import { KernkitError } from '../errors';
import { arrayOf, integerIn, invalid, oneOf, plainObject, string } from '../validate';

/** The default level: the "red flag" counters. */
export const MIB_LEVEL_DEFAULT = 0;
/** The diagnostics level: more counters, counted while `map.level` is 1. */
export const MIB_LEVEL_DIAG = 1;
/** How many levels a map has (the seed's two). */
export const MIB_LEVELS = 2;

const MAX_FIELDS = 4096;
const UNMAPPED = -1;

/** A structured-cloneable description of a {@link MibMap}, for {@link MibMap.attach} in another thread. */
export interface MibMapHandle {
  readonly kind: 'kernkit.mibmap';
  readonly fields: readonly string[];
  /** Each level's fields, in slot order (empty for a level without a mapping). */
  readonly levels: readonly (readonly string[])[];
  /** Int32 [0]: the current level, shared with every thread that attached. */
  readonly control: SharedArrayBuffer;
}

function checkLevel(value: unknown): number {
  // snmp_map_add_mapping and the proc handler refuse other levels with EINVAL.
  return integerIn('level', value, 0, MIB_LEVELS - 1, 'EINVAL');
}

/** Names an object already has (`__proto__`, `constructor`, `toString`...): never a field or gauge name. */
const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * `value` as a counter or gauge name: an identifier (`[A-Za-z_][A-Za-z0-9_]*`, as every
 * kernel MIB name is) that is not a property every object has, since names become keys
 * of the records that `toJSON` and `dump` build. `EINVAL` otherwise.
 * @internal
 */
export function statName(field: string, value: unknown): string {
  const name = string(field, value, { nonEmpty: true });
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || RESERVED_NAMES.has(name)) {
    throw invalid(field, value, 'an identifier ([A-Za-z_][A-Za-z0-9_]*) other than __proto__, constructor and the other Object.prototype names');
  }
  return name;
}

/**
 * The counters of a MIB, mapped to levels. Build the mapping first, then hand
 * the map to tables (which freeze it: a mapping change after that is `EBUSY`):
 *
 * ```ts
 * const map = new MibMap(TCP_MIB_FIELDS);
 * map.addMapping(0, ['AttemptFails', 'EstabResets', 'RetransSegs']);
 * map.addMapping(1, null, ['RtoAlgorithm', 'RtoMin', 'RtoMax', 'MaxConn']); // the rest
 * map.levelOf('InSegs'); // 1
 * map.level = 1; // diagnostics: level-1 fields are counted from now on
 * ```
 */
export class MibMap<F extends string = string> {
  /** The MIB's field names, in MIB order; a field's position is its id ({@link index}). */
  readonly fields: readonly F[];
  /** @internal Each field's level by id, -1 when unmapped. */
  readonly levelById: Int8Array;
  /** @internal Each field's slot in its level's counters, by id. */
  readonly slotById: Int32Array;
  /** @internal Int32 [0]: the current level (shared memory). */
  readonly control: Int32Array;
  private readonly ids: ReadonlyMap<string, number>;
  private readonly mapped: F[][];
  private frozenBy: string | undefined;

  /** A map over the MIB `fields` (unique identifiers, see {@link statName}), with no level mapped and level 0 current. */
  constructor(fields: readonly F[]) {
    if (!Array.isArray(fields) || fields.length === 0 || fields.length > MAX_FIELDS) {
      throw invalid('fields', fields, `an array of 1 to ${MAX_FIELDS} field names`);
    }
    const ids = new Map<string, number>();
    fields.forEach((f, i) => {
      statName(`fields[${i}]`, f);
      if (ids.has(f)) throw invalid(`fields[${i}]`, f, 'a name not already in the list');
      ids.set(f, i);
    });
    this.fields = Object.freeze([...fields]);
    this.ids = ids;
    this.levelById = new Int8Array(fields.length).fill(UNMAPPED);
    this.slotById = new Int32Array(fields.length);
    this.control = new Int32Array(new SharedArrayBuffer(4));
    this.mapped = Array.from({ length: MIB_LEVELS }, () => []);
    this.frozenBy = undefined;
  }

  /**
   * A map over the same mapping and the same current level as the one
   * `handle` came from: a switch of `level` in either thread is seen by both.
   */
  static attach<F extends string = string>(handle: MibMapHandle): MibMap<F> {
    const h = plainObject('handle', handle, 'a MibMap handle');
    if (h.kind !== 'kernkit.mibmap' || !(h.control instanceof SharedArrayBuffer) || h.control.byteLength !== 4) {
      throw invalid('handle', handle, 'a MibMap handle');
    }
    const map = new MibMap<F>(h.fields as F[]);
    const levels = arrayOf('handle.levels', h.levels, (field, v) => arrayOf(field, v, (f, name) => string(f, name)));
    if (levels.length !== MIB_LEVELS) throw invalid('handle.levels', h.levels, `${MIB_LEVELS} lists of fields`);
    levels.forEach((list, level) => {
      if (list.length > 0) map.addMapping(level, list as F[]);
    });
    (map as { control: Int32Array }).control = new Int32Array(h.control as SharedArrayBuffer);
    map.freeze('a map attached from a handle');
    return map;
  }

  /** The structured-cloneable handle to pass to a worker thread. */
  get handle(): MibMapHandle {
    return {
      kind: 'kernkit.mibmap',
      fields: this.fields,
      levels: this.mapped.map((l) => [...l]),
      control: this.control.buffer as SharedArrayBuffer,
    };
  }

  /**
   * Maps `fields` to `level` (as `snmp_map_add_mapping`). `null` takes every
   * field that no level holds yet, minus `exclude`. `EEXIST` when the level
   * already has a mapping or a field already has a level (levels are
   * mutually exclusive); `EINVAL` for an unknown field or level; `EBUSY`
   * once a table uses the map.
   */
  addMapping(level: number, fields: readonly F[] | null, exclude: readonly F[] = []): void {
    const lvl = checkLevel(level);
    this.checkMutable();
    if (this.mapped[lvl].length > 0) {
      throw new KernkitError(`level: ${lvl} (already has a mapping: delete it first)`, { code: 'EEXIST' });
    }
    const excluded = new Set(arrayOf('exclude', exclude, (field, v) => this.index(v as F, field)));
    let ids: number[];
    if (fields === null) {
      ids = [];
      for (let id = 0; id < this.fields.length; id++) {
        if (this.levelById[id] === UNMAPPED && !excluded.has(id)) ids.push(id);
      }
    } else {
      ids = arrayOf('fields', fields, (field, v) => this.index(v as F, field));
      const seen = new Set<number>();
      ids.forEach((id, i) => {
        const where = this.levelById[id];
        if (where !== UNMAPPED || seen.has(id)) {
          const at = where !== UNMAPPED ? where : lvl;
          throw new KernkitError(`fields[${i}]: ${JSON.stringify(this.fields[id])} (already mapped at level ${at})`, { code: 'EEXIST' });
        }
        seen.add(id);
      });
      ids = ids.filter((id) => !excluded.has(id));
    }
    // Slots in MIB order, whatever order the list came in: dumps then read like /proc.
    ids.sort((a, b) => a - b);
    ids.forEach((id, slot) => {
      this.levelById[id] = lvl;
      this.slotById[id] = slot;
    });
    this.mapped[lvl] = ids.map((id) => this.fields[id]);
  }

  /** Removes the mapping of `level` (as `snmp_map_del_mapping`): its fields are unmapped again. */
  deleteMapping(level: number): void {
    const lvl = checkLevel(level);
    this.checkMutable();
    for (const f of this.mapped[lvl]) this.levelById[this.ids.get(f)!] = UNMAPPED;
    this.mapped[lvl] = [];
  }

  /** The current level: fields mapped at a level above it are not counted. */
  get level(): number {
    return this.control[0];
  }

  /** Switches the level at run time (as writing `snmp_map_level`); `EINVAL` outside 0..1. */
  set level(value: number) {
    Atomics.store(this.control, 0, checkLevel(value));
  }

  /** The level `field` is mapped at, or `undefined` when no level maps it; `EINVAL` for an unknown field. */
  levelOf(field: F): number | undefined {
    const level = this.levelById[this.index(field)];
    return level === UNMAPPED ? undefined : level;
  }

  /** The fields mapped at `level`, in slot (MIB) order. */
  fieldsAt(level: number): readonly F[] {
    return this.mapped[checkLevel(level)];
  }

  /** A field's id (its position in {@link fields}): writers pass it instead of the name to skip a lookup. */
  index(field: F, name = 'field'): number {
    const id = typeof field === 'string' ? this.ids.get(field) : undefined;
    if (id === undefined) {
      if (typeof field === 'string' && this.fields.length > 16) throw invalid(name, field, `a field of this MIB (${this.fields.slice(0, 8).join(', ')}, ...)`);
      oneOf(name, field, this.fields);
    }
    return id!;
  }

  /** Whether `field` (an id) is counted at the current level: the cheap check before any hashing. */
  counts(id: number): boolean {
    const level = this.levelById[id];
    return level !== undefined && level !== UNMAPPED && level <= this.control[0];
  }

  /** @internal A table uses the map: its mapping may no longer change. */
  freeze(by: string): void {
    this.frozenBy ??= by;
  }

  private checkMutable(): void {
    if (this.frozenBy !== undefined) {
      throw new KernkitError(`map: in use by ${this.frozenBy} (mappings are fixed once a table uses the map)`, { code: 'EBUSY' });
    }
  }
}
