/**
 * Statistics of a service or real server: a kernkit {@link CounterSet} with
 * IPVS's five counters and a {@link RateEstimator} on the estimator kthreads.
 * @module
 */
import { CounterSet } from '../percpu';
import { RATE_FIELDS, RateEstimator, type RateField } from '../estimator';

/** Counters since the last zero and rates, as `ipvsadm --stats` / `--rate` show them. */
export interface StatsReading {
  /** Connections scheduled. */
  conns: bigint;
  /** Packets from clients. */
  inpkts: bigint;
  /** Packets to clients. */
  outpkts: bigint;
  /** Bytes from clients. */
  inbytes: bigint;
  /** Bytes to clients. */
  outbytes: bigint;
  /** Connections per second (2 s EWMA, as the kernel's estimator). */
  cps: number;
  /** Incoming packets per second. */
  inpps: number;
  /** Outgoing packets per second. */
  outpps: number;
  /** Incoming bytes per second. */
  inbps: number;
  /** Outgoing bytes per second. */
  outbps: number;
}

/** The counters and estimator of one service or real server. */
export class ServiceStats {
  /** The counters; pass `counters.handle` to a worker thread to count from there. */
  readonly counters: CounterSet<RateField>;
  private estimator: RateEstimator | null;

  /** Allocates the counters and starts an estimator over them. */
  constructor() {
    this.counters = new CounterSet<RateField>(RATE_FIELDS);
    this.estimator = new RateEstimator(this.counters);
  }

  /** `ip_vs_zero_stats`: the current counts become the zero point and the rates restart. */
  zero(): void {
    this.counters.zero();
    this.estimator?.zero();
  }

  /** Stops the estimator (a real server going to the trash, as `ip_vs_stop_estimator`). */
  stop(): void {
    this.estimator?.stop();
    this.estimator = null;
  }

  /** Restarts estimation over the same counters (a real server revived from the trash). */
  restart(): void {
    this.estimator ??= new RateEstimator(this.counters);
  }

  /** Exact counters now and the estimator's latest rates (0 while stopped). */
  read(): StatsReading {
    const c = this.counters.sum();
    const r = this.estimator?.read();
    return {
      conns: c.conns,
      inpkts: c.inpkts,
      outpkts: c.outpkts,
      inbytes: c.inbytes,
      outbytes: c.outbytes,
      cps: r?.cps ?? 0,
      inpps: r?.inpps ?? 0,
      outpps: r?.outpps ?? 0,
      inbps: r?.inbps ?? 0,
      outbps: r?.outbps ?? 0,
    };
  }
}
