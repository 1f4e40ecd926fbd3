/**
 * IPVS in userspace: virtual services, real servers and the kernel's 14
 * connection schedulers, picking what the kernel would pick.
 * @module
 */
export { Ipvs, DEST_TRASH_PERIOD, type IpvsOptions, type ServiceStatsEntry } from './ipvs';
export { Service, type ClientSpec, type DestInfo } from './service';
export { Connection, type Endpoint, type TrafficCounts } from './connection';
export { IpvsManualClock, IpvsRealClock, type IpvsClock, type IpvsTimer } from './clock';
export { type DefenseMode, type DefenseOptions, type DefenseState } from './defense';
export { type Forwarding, type TunnelOptions } from './real-server';
export { type StatsReading } from './stats';
export {
  type AddressServiceKey,
  type FwmarkServiceKey,
  type PersistenceOptions,
  type Protocol,
  type SchedulerFlag,
  type ServiceKey,
  type ServiceOptions,
  type DestSpec,
} from './spec';
export { SCHEDULERS, MH_PRIMES, type SchedulerName } from './schedulers';
