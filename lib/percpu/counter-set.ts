/**
 * `CounterSet`: counters written together, like a kernel MIB (IPVS's
 * `conns, inpkts, outpkts, inbytes, outbytes`), in adjacent native slots.
 * @module
 */
import { createHash } from 'node:crypto';
import { integerIn, invalid, oneOf, string } from '../validate';
import { acquire, addSlow, allocate, FOLD_THRESHOLD, type Placement, readApprox, sumRaw, track, unacquire } from './arena';
import { notSafeInteger } from './counter';
import { checkHandle } from './handle';

const FOLD = FOLD_THRESHOLD;
const MAX_FIELDS = 1 << 20;

/** A structured-cloneable description of a {@link CounterSet}, for {@link CounterSet.attach}. */
export interface CounterSetHandle {
  readonly kind: 'kernkit.counterset';
  readonly fields: readonly string[];
  readonly chunk: number;
  readonly offset: number;
  /** Proves that the handle names a live allocation (checked by the addon). */
  readonly token: number;
  /**
   * Binds `fields` to `token`: attach refuses a handle whose field names were
   * changed (`EINVAL`), since the set would then report under the wrong names.
   */
  readonly digest: string;
}

/** Only {@link CounterSet.attach} holds this: with it, the constructor takes the placement it is given. */
const ATTACHED: unique symbol = Symbol('kernkit.CounterSet.attached');

function checkFields(field: string, fields: unknown): string[] {
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > MAX_FIELDS) {
    throw invalid(field, fields, `an array of 1 to ${MAX_FIELDS} field names`);
  }
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    string(`${field}[${i}]`, f, { nonEmpty: true });
    if (seen.has(f)) throw invalid(`${field}[${i}]`, f, 'a name not already in the list');
    seen.add(f);
  });
  return [...fields] as string[];
}

/** The handle's digest of `fields`, keyed by the allocation's token so that one set's digest fits no other. */
function digestOf(token: number, fields: readonly string[]): string {
  return createHash('sha256').update(`${token}\0${JSON.stringify(fields)}`).digest('base64url').slice(0, 22);
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

function schemaOf(field: string, fields: unknown): Schema {
  const key = Array.isArray(fields) && fields.every((f) => typeof f === 'string') ? JSON.stringify(fields) : undefined;
  const known = key === undefined ? undefined : schemas.get(key);
  if (known) return known;
  const names = checkFields(field, fields);
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
  /** @internal This thread's shard of the chunk (lib/perip writes a field's slot directly; see {@link add}). */
  readonly slots: Float64Array;
  /** @internal Where the set's fields start in {@link slots}. */
  readonly offset: number;
  private readonly width: number;
  private readonly positions: ReadonlyMap<string, number>;
  private scratch: bigint[] | undefined; // made on the first read

  /** Creates the set with every field at zero. */
  constructor(fields: readonly F[]);
  /** @internal {@link CounterSet.attach}'s path: a set over a placement it acquired. */
  constructor(fields: readonly F[], via: typeof ATTACHED, place: Placement);
  constructor(fields: readonly F[], via?: typeof ATTACHED, place?: Placement) {
    const schema = schemaOf('fields', fields);
    this.fields = schema.fields as readonly F[];
    this.width = schema.fields.length;
    this.positions = schema.positions;
    this.place = via === ATTACHED && place !== undefined ? place : allocate(this.width);
    track(this, this.place);
    this.slots = this.place.view.mine;
    this.offset = this.place.offset;
    this.scratch = undefined;
  }

  /**
   * A set over the same memory as the one `handle` came from (see
   * {@link Counter.attach}), with its field names. `EINVAL` for a handle that
   * is forged, whose set is gone, or whose `fields` are not the original's.
   */
  static attach<F extends string = string>(handle: CounterSetHandle): CounterSet<F> {
    const h = checkHandle(handle, 'kernkit.counterset');
    const digest = string('handle.digest', h.digest);
    const fields = schemaOf('handle.fields', h.fields).fields as F[];
    // The addon checks the token (and the width) first, so a stale or forged handle says so.
    const place = acquire(h.chunk, h.offset, fields.length, h.token);
    if (digestOf(h.token, fields) !== digest) {
      unacquire(place);
      throw invalid('handle.fields', h.fields, 'the field names of the set the handle came from');
    }
    return new CounterSet<F>(fields, ATTACHED, place);
  }

  /** The structured-cloneable descriptor to pass to another thread. */
  get handle(): CounterSetHandle {
    const token = this.place.token;
    return {
      kind: 'kernkit.counterset',
      fields: this.fields,
      chunk: this.place.view.id,
      offset: this.offset,
      token,
      digest: digestOf(token, this.fields),
    };
  }

  /** The index of a field, for {@link inc} and {@link add}; `EINVAL` for an unknown name. */
  index(field: F): number {
    const i = this.positions.get(field);
    if (i === undefined) oneOf('field', field, this.fields); // not a field name: throws, listing them
    return i!;
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
    // EINVAL past the end too: an index that names no field is like an unknown field name.
    integerIn('field index', i, 0, this.width - 1, 'EINVAL');
    if (!Number.isSafeInteger(n)) notSafeInteger(n);
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

  /** Cheap approximate values, field by field (see {@link Counter.approx}); {@link sum} is exact. */
  approx(): Record<F, number> {
    const out = {} as Record<F, number>;
    for (let i = 0; i < this.width; i++) out[this.fields[i]] = readApprox(this.place.view, this.offset + i);
    return out;
  }

  /**
   * The approximate values, as {@link approx}; kept until 1.0.
   * @deprecated Use {@link approx} (or {@link sum} for exact values).
   */
  read(): Record<F, number> {
    return this.approx();
  }

  /** Zeroes every field for readers, as ip_vs_zero_stats: a base is recorded, writers go on. */
  zero(): void {
    const v = this.place.view;
    const scratch = (this.scratch ??= new Array<bigint>(this.width).fill(0n));
    sumRaw(v, this.offset, this.width, scratch);
    for (let i = 0; i < this.width; i++) Atomics.store(v.bases, this.offset + i, scratch[i]);
  }
}
