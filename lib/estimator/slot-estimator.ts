/**
 * What {@link RateEstimator} and {@link GenEstimator} share: an estimator slot
 * in shared memory, read without a native call, and its end — `stop()` (or
 * garbage collection, or `using`) releases the native estimator and keeps the
 * last reading.
 * @module
 */
import { estimationsOf, slotView } from './memory';
import { estimatorNative } from './native';

// An estimator that is garbage-collected without stop() is stopped natively.
const stopper = new FinalizationRegistry<number>((id) => {
  try {
    estimatorNative.remove(id);
  } catch {
    // the environment is going away: its estimators are stopped natively
  }
});

/**
 * The base of the estimators: slot `id` (kept as fields, not an object: 10^6
 * estimators are common), the reading frozen at stop, and the finalizer.
 * Subclasses decode their reading with {@link readSlot}.
 */
export abstract class SlotEstimator<R extends object> {
  /** The native estimator's slot. */
  protected readonly id: number;
  /** The slot's slab, as uint32 words. */
  protected readonly u32: Uint32Array;
  /** The slot's first word in {@link u32}. */
  protected readonly word: number;
  private final: R | undefined;
  private finalEstimations = 0;

  /** Takes ownership of the native estimator `id` (created by the subclass). */
  protected constructor(id: number) {
    this.id = id;
    const slot = slotView(id);
    this.u32 = slot.u32;
    this.word = slot.word;
    stopper.register(this, id, this);
  }

  /** Decodes the slot as it is now (a seqlock read of shared memory). */
  protected abstract readSlot(): R;

  /** The current reading, from shared memory (no native call). After {@link stop}: the last reading. */
  read(): R {
    if (this.final) return { ...this.final };
    return this.readSlot();
  }

  /** How many estimations have been applied since creation (2 s periods, or the gen estimator's period). */
  get estimations(): number {
    return this.final ? this.finalEstimations : estimationsOf(this.u32, this.word);
  }

  /** True once {@link stop} has run. */
  get stopped(): boolean {
    return this.final !== undefined;
  }

  /**
   * Stops estimating and releases the estimator and its hold on the counter
   * set (idempotent; synchronous). {@link read} and {@link estimations} keep
   * returning the last values.
   */
  stop(): void {
    if (this.final) return;
    this.final = this.readSlot();
    this.finalEstimations = estimationsOf(this.u32, this.word);
    stopper.unregister(this);
    estimatorNative.remove(this.id);
  }

  /** `using est = new RateEstimator(...)` stops it at the end of the scope. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
