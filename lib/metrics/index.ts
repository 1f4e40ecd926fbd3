/**
 * Metrics for fleets: a {@link Registry} of kernkit objects rendered as
 * Prometheus text or OpenMetrics, {@link serveMetrics} for scraping, and
 * bridges into prom-client and OpenTelemetry.
 * @module
 */
export { Registry, SCRAPE_ERRORS_METRIC, type RegistryOptions, type RegisterOptions, type MetricsOptions, type ScrapeErrorReason } from './registry';
export type { Collectable, CollectContext, Labels, MetricFamily, MetricSample, MetricType } from './types';
export type { KindOptions, MetricSource } from './collectors';
export { CONTENT_TYPES, escapeLabelValue, formatValue, type ExpositionFormat } from './exposition';
export type { BridgeHandle } from './bridges/common';
export { serveMetrics, negotiateFormat, type MetricsServer, type ServeMetricsOptions } from './serve';
export {
  bridgeToPromClient,
  type PromClientBridge,
  type PromClientBridgeOptions,
  type PromClientAggregator,
  type PromClientModule,
  type PromClientRegistryLike,
} from './bridges/prom-client';
export {
  bridgeToOpenTelemetry,
  type OpenTelemetryBridge,
  type OpenTelemetryBridgeOptions,
  type MeterLike,
  type ObservableLike,
  type BatchObservableResultLike,
} from './bridges/opentelemetry';
