/**
 * The kernel's 14 IPVS schedulers by name.
 * @module
 */
import { destinationHashing } from './dh';
import { weightedFailover } from './fo';
import { localityLeastConnection } from './lblc';
import { localityLeastConnectionReplicated } from './lblcr';
import { leastConnection } from './lc';
import { maglevHashing } from './mh';
import { neverQueue } from './nq';
import { overflowConnection } from './ovf';
import { roundRobin } from './rr';
import { shortestExpectedDelay } from './sed';
import { sourceHashing } from './sh';
import { powerOfTwoChoices } from './twos';
import type { SchedulerInit } from './types';
import { weightedLeastConnection } from './wlc';
import { weightedRoundRobin } from './wrr';

/** The scheduler names, as `ipvsadm -s` takes them. */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'] as const;

/** One of {@link SCHEDULERS}. */
export type SchedulerName = (typeof SCHEDULERS)[number];

/** `init_service` of each scheduler. */
export const SCHEDULER_INITS: Readonly<Record<SchedulerName, SchedulerInit>> = {
  rr: roundRobin,
  wrr: weightedRoundRobin,
  lc: leastConnection,
  wlc: weightedLeastConnection,
  lblc: localityLeastConnection,
  lblcr: localityLeastConnectionReplicated,
  dh: destinationHashing,
  sh: sourceHashing,
  sed: shortestExpectedDelay,
  nq: neverQueue,
  fo: weightedFailover,
  ovf: overflowConnection,
  mh: maglevHashing,
  twos: powerOfTwoChoices,
};

export { MH_PRIMES } from './mh';
export { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from './types';
export type { Packet, Scheduler, SchedulerEnv, SchedulerInit, SchedulerService } from './types';
