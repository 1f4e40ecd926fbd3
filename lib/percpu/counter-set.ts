/**
 * `CounterSet`: counters written together, like a kernel MIB (IPVS's
 * `conns, inpkts, outpkts, inbytes, outbytes`), in adjacent native slots.
 * @module
 */
import { invalidArgument } from '../errors';
import { acquire, addSlow, allocate, FOLD_THRESHOLD, type Placement, readApprox, sumRaw, track } from './arena';
import { checkHandle } from './handle';

const FOLD = FOLD_THRESHOLD;
const MAX_FIELDS = 1 << 20;

/** A structured-cloneable description of a {@link CounterSet}, for {@link CounterSet.attach}. */
export interface CounterSetHandle {
  readonly kind: 'kernkit.counterset';
  readonly fields: readonly string[];
  readonly chunk: number;
  readonly offset: number;
  readonly token: number;
}

let attaching: Placement | undefined; // set by attach() around its `new CounterSet`

function checkFields(fields: unknown): string[] {
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > MAX_FIELDS) {
    throw invalidArgument('fields', fields, `expected an array of 1 to ${MAX_FIELDS} field names`);
  }
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    if (typeof f !== 'string' || f === '') throw invalidArgument(`fields[${i}]`, f, 'expected a non-empty string');
    if (seen.has(f)) throw invalidArgument(`fields[${i}]`, f, 'field names must be unique');
    seen.add(f);
  });
  return [...fields] as string[];
}

/** A checked field list and its name-to-index map, shared by every set with those fields. */
interface Schema {
  readonly fields: readonly string[];
  readonly positions: ReadonlyMap<string, number>;
}

// Programs make many sets with the same few field lists (one per kind of object);
// sharing their schema keeps a set small and quick to make.
const schemas = new Map<string, Schema>();
const MAX_SCHEMAS = 1024;

function schemaOf(fields: unknown): Schema {
  const key = Array.isArray(fields) && fields.every((f) => typeof f === 'string') ? JSON.stringify(fields) : undefined;
  const known = key === undefined ? undefined : schemas.get(key);
  if (known) return known;
  const names = checkFields(fields);
  const schema: Schema = { fields: Object.freeze(names), positions: new Map(names.map((f, i) => [f, i])) };
  if (key !== undefined && schemas.size < MAX_SCHEMAS) schemas.set(key, schema);
  return schema;
}

/**
 * Named counters written together: each field is a per-thread sharded counter
 * (see {@link Counter}) and `sum()` reads all of them in one pass, consistent
 * with respect to folds (nothing counted twice or missed while a slot moves to
 * the total). A writer's adds to different fields are separate stores, so a
 * read can see one field's add before another's.
 * Write by index, which {@link CounterSet.index} gives once:
 *
 * ```ts
 * const stats = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
 * const INPKTS = stats.index('inpkts'), INBYTES = stats.index('inbytes');
 * stats.inc(INPKTS);
 * stats.add(INBYTES, 1500);
 * stats.sum(); // { conns: 0n, inpkts: 1n, outpkts: 0n, inbytes: 1500n, outbytes: 0n }
 * ```
 */
export class CounterSet<F extends string = string> {
  /** The field names, in slot order. */
  readonly fields: readonly F[];
  private readonly place: Placement;
  private readonly slots: Float64Array;
  private readonly offset: number;
  private readonly width: number;
  private readonly positions: ReadonlyMap<string, number>;
  private scratch: bigint[] | undefined; // made on the first read

  /** Creates the set with every field at zero. */
  constructor(fields: readonly F[]) {
    const schema = schemaOf(fields);
    this.fields = schema.fields as readonly F[];
    this.width = schema.fields.length;
    this.positions = schema.positions;
    this.place = attaching ?? allocate(this.width);
    track(this, this.place);
    this.slots = this.place.view.mine;
    this.offset = this.place.offset;
    this.scratch = undefined;
  }

  /** A set over the same memory as the one `handle` came from (see {@link Counter.attach}). */
  static attach<F extends string = string>(handle: CounterSetHandle): CounterSet<F> {
    const h = checkHandle(handle, 'kernkit.counterset');
    const fields = schemaOf(h.fields).fields as F[];
    attaching = acquire(h.chunk, h.offset, fields.length, h.token);
    try {
      return new CounterSet<F>(fields);
    } finally {
      attaching = undefined;
    }
  }

  /** The structured-cloneable descriptor to pass to another thread. */
  get handle(): CounterSetHandle {
    return { kind: 'kernkit.counterset', fields: this.fields, chunk: this.place.view.id, offset: this.offset, token: this.place.token };
  }

  /** The index of a field, for {@link inc} and {@link add}; `EINVAL` for an unknown name. */
  index(field: F): number {
    const i = this.positions.get(field);
    if (i === undefined) throw invalidArgument('field', field, `expected one of ${this.fields.join(', ')}`);
    return i;
  }

  /** Adds one to field `i`. */
  inc(i: number): void {
    if (typeof i === 'number' && i >>> 0 === i && i < this.width) {
      const slots = this.slots;
      const j = this.offset + i;
      const x = slots[j] + 1; // NaN in a thread without a shard: slow path
      if (x < FOLD) {
        slots[j] = x;
        return;
      }
    }
    this.addChecked(i, 1);
  }

  /** Adds `n` (a safe integer, negative allowed) to field `i`. */
  add(i: number, n: number): void {
    if (typeof i === 'number' && i >>> 0 === i && i < this.width && typeof n === 'number') {
      const slots = this.slots;
      const j = this.offset + i;
      const x = slots[j] + n;
      if ((n | 0) === n && x < FOLD && x > -FOLD) {
        slots[j] = x;
        return;
      }
    }
    this.addChecked(i, n);
  }

  private addChecked(i: number, n: number): void {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.width) {
      throw invalidArgument('field index', i, `expected an integer from 0 to ${this.width - 1}`);
    }
    if (!Number.isSafeInteger(n)) throw invalidArgument('n', n, 'expected a safe integer');
    addSlow(this.place.view, this.offset + i, n);
  }

  /** Every field's exact value since the last {@link zero}, read in one pass (see the class notes). */
  sum(): Record<F, bigint> {
    const v = this.place.view;
    const scratch = (this.scratch ??= new Array<bigint>(this.width).fill(0n));
    const bases = new Array<bigint>(this.width);
    // Bases, totals, bases again: a zero() on another thread in between would pair an old
    // total with a new base (a negative value); read again then.
    for (let same = false; !same; ) {
      for (let i = 0; i < this.width; i++) bases[i] = Atomics.load(v.bases, this.offset + i);
      sumRaw(v, this.offset, this.width, scratch);
      same = true;
      for (let i = 0; i < this.width && same; i++) same = Atomics.load(v.bases, this.offset + i) === bases[i];
    }
    const out = {} as Record<F, bigint>;
    for (let i = 0; i < this.width; i++) out[this.fields[i]] = scratch[i] - bases[i];
    return out;
  }

  /** Cheap approximate values (see {@link Counter.read}). */
  read(): Record<F, number> {
    const out = {} as Record<F, number>;
    for (let i = 0; i < this.width; i++) out[this.fields[i]] = readApprox(this.place.view, this.offset + i);
    return out;
  }

  /** Zeroes every field for readers, as ip_vs_zero_stats: a base is recorded, writers go on. */
  zero(): void {
    const v = this.place.view;
    const scratch = (this.scratch ??= new Array<bigint>(this.width).fill(0n));
    sumRaw(v, this.offset, this.width, scratch);
    for (let i = 0; i < this.width; i++) Atomics.store(v.bases, this.offset + i, scratch[i]);
  }
}
