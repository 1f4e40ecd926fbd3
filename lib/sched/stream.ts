/**
 * Stream pacing: byte streams shaped by a {@link FairQueue} flow or an
 * {@link Htb} class. A {@link StreamShaper} drives one queue; each
 * `shaper.stream({ flow })` or `shaper.stream({ classid })` is a Transform
 * that lets a chunk through only when the queue releases it, so a Node proxy
 * can give its clients fair shares, rates and ceilings. Chunks are cut into
 * pieces of at most `chunkSize` bytes so pacing stays smooth.
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';
import { integerIn, options as checkOptions } from '../validate';
import type { FairQueue } from './fair-queue';
import type { Htb } from './htb';
import { Scheduler, type SchedulerAddOptions } from './scheduler';

/** Where a stream's bytes go in the queue, and how finely they are cut. */
export interface StreamPaceOptions {
  /** FairQueue: the flow. */
  flow?: unknown;
  /** FairQueue: priority. */
  priority?: number;
  /** Htb: the leaf class. */
  classid?: string | number;
  /** Largest piece queued at once, in bytes (default 16384). */
  chunkSize?: number;
}

/** Drives one queue for any number of paced streams. */
export class StreamShaper {
  /** The scheduler releasing the pieces (its `size` is the bytes' pieces waiting). */
  readonly scheduler: Scheduler<Buffer, Buffer>;

  /** A shaper over `queue`. */
  constructor(queue: FairQueue | Htb) {
    this.scheduler = new Scheduler<Buffer, Buffer>(queue, { run: (piece) => piece, concurrency: Infinity });
  }

  /** A Transform whose chunks pass at the pace of `options.flow` or `options.classid`. */
  stream(options?: StreamPaceOptions): Transform {
    const o = checkOptions<StreamPaceOptions>('stream', options, ['flow', 'priority', 'classid', 'chunkSize']);
    const chunkSize = o.chunkSize === undefined ? 16384 : integerIn('stream.chunkSize', o.chunkSize, 1, 0xffffffff);
    const place: SchedulerAddOptions = {};
    if (o.flow !== undefined) place.flow = o.flow;
    if (o.priority !== undefined) place.priority = o.priority;
    if (o.classid !== undefined) place.classid = o.classid;
    const scheduler = this.scheduler;
    return new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        const pieces: Buffer[] = [];
        for (let off = 0; off < chunk.length; off += chunkSize) pieces.push(chunk.subarray(off, off + chunkSize));
        const next = (i: number): void => {
          if (i === pieces.length) {
            done();
            return;
          }
          scheduler.add(pieces[i], { ...place, length: pieces[i].length }).then(
            (piece) => {
              this.push(piece);
              next(i + 1);
            },
            (err: unknown) => done(err as Error),
          );
        };
        next(0);
      },
    });
  }
}
