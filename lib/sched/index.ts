/**
 * Flow schedulers for application work: the kernel's sch_fq ({@link FairQueue})
 * and HTB ({@link Htb}) as userspace queues, a {@link Scheduler} that runs
 * work as they allow, and stream pacing.
 * @module
 */
export { SimulatedClock, monotonicClock, type Clock } from './clock';
export { FairQueue, type FairQueueOptions, type FairQueueStats, type FqItem, type FqDropReason } from './fair-queue';
export { type FqParams } from './fq-options';
export { Htb, type HtbOptions, type HtbClassSpec, type HtbItem, type HtbDropReason, type HtbStats, type HtbClassStats, type HtbMode } from './htb';
export { rateCfg, lengthToTime, type RateCfg } from './rate';
export { Scheduler, type SchedulerOptions, type SchedulerAddOptions } from './scheduler';
export { StreamShaper, type StreamPaceOptions } from './stream';
