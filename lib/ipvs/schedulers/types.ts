/**
 * What a scheduler module sees of its service, and what it implements
 * (the kernel's `struct ip_vs_scheduler`).
 * @module
 */
import type { IpAddress } from '../address';
import type { IpvsClock } from '../clock';
import type { RealServer } from '../real-server';

/** IP_VS_SVC_F_SCHED1: sh-fallback / mh-fallback. */
export const SCHED_FLAG_1 = 0x08;
/** IP_VS_SVC_F_SCHED2: sh-port / mh-port. */
export const SCHED_FLAG_2 = 0x10;
/** IP_VS_SVC_F_SCHED3 (no scheduler uses it yet). */
export const SCHED_FLAG_3 = 0x20;

/** Table-wide settings some schedulers read. */
export interface SchedulerEnv {
  /** Time, for lblc/lblcr expiry and GC. */
  readonly clock: IpvsClock;
  /** Uniform in [0, 1), for twos. */
  readonly random: () => number;
  /** `CONFIG_IP_VS_MH_TAB_INDEX` (8..17). */
  readonly mhTableIndex: number;
  /** The `lblc_expiration` sysctl, in ms. */
  readonly lblcExpiration: number;
  /** The `lblcr_expiration` sysctl, in ms. */
  readonly lblcrExpiration: number;
}

/** The service as a scheduler sees it. */
export interface SchedulerService {
  /** The real servers in the kernel's list order: index 0 is the head (the newest). */
  readonly dests: readonly RealServer[];
  /** The service flags (SCHED1..3 bits matter here). */
  readonly flags: number;
  /** Table-wide settings. */
  readonly env: SchedulerEnv;
}

/** The addresses of the packet being scheduled. */
export interface Packet {
  /** Client (source) address. */
  readonly caddr: IpAddress;
  /** Client (source) port. */
  readonly cport: number;
  /** Virtual (destination) address the client targeted. */
  readonly vaddr: IpAddress;
  /** Virtual (destination) port. */
  readonly vport: number;
}

/** A scheduler bound to one service (`init_service` made it). */
export interface Scheduler {
  /** Picks a real server, or null (the kernel answers ICMP port unreachable). */
  schedule(packet: Packet): RealServer | null;
  /** `add_dest`: `dest` was inserted at `index` (always 0: the head). */
  addDest?(dest: RealServer, index: number): void;
  /** `del_dest`: `dest` was unlinked from `index`. */
  delDest?(dest: RealServer, index: number): void;
  /** `upd_dest`: `dest`'s weight, thresholds or forwarding changed. */
  updDest?(dest: RealServer): void;
  /** `done_service`: the scheduler is being unbound (stop timers). */
  done?(): void;
}

/** `init_service`: binds a scheduler to a service; may throw a KernkitError (mh with too many servers). */
export type SchedulerInit = (svc: SchedulerService) => Scheduler;
