/**
 * `serveMetrics`: a small `node:http` endpoint for a {@link Registry}.
 * `GET`/`HEAD` on the path render the registry; the `Accept` header picks
 * OpenMetrics or the text format, `Accept-Encoding: gzip` compresses (off the
 * event loop, in libuv's pool). Other paths are 404, other methods 405.
 * @module
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { cString, integerIn, invalid, optional, options as optionsOf, string } from '../validate';
import type { ExpositionFormat } from './exposition';
import { Registry } from './registry';

const gzip = promisify(zlib.gzip);

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /** TCP port (default 9464; 0 for any free port, then read {@link MetricsServer.port}). */
  port?: number;
  /** Address to bind (default `127.0.0.1`: only this machine; `0.0.0.0` or `::` to let Prometheus scrape from elsewhere). */
  host?: string;
  /** The path Prometheus scrapes (default `/metrics`). */
  path?: string;
}

/** A running endpoint; {@link close} stops it. */
export interface MetricsServer {
  /** The bound address. */
  readonly host: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** The full URL to scrape. */
  readonly url: string;
  /** True once {@link close} has been called. */
  readonly closed: boolean;
  /** Stops accepting connections, ends idle ones and resolves when the server is closed. */
  close(): Promise<void>;
  /** `await using server = await serveMetrics(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** One entry of an Accept-style header: its value and quality. */
function parseQualities(header: string | undefined): Array<{ value: string; params: string; q: number }> {
  if (!header) return [];
  return header.split(',').map((part) => {
    const [value, ...params] = part.trim().split(';').map((p) => p.trim());
    const qParam = params.find((p) => /^q=/i.test(p));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    return { value: value.toLowerCase(), params: params.join(';').toLowerCase(), q: Number.isFinite(q) ? q : 0 };
  });
}

/**
 * The format an `Accept` header asks for: OpenMetrics when it accepts
 * `application/openmetrics-text` (version 1.0.0 or unversioned) at least as
 * much as the text format; the text format otherwise. `EINVAL` for an
 * `accept` that is neither a string nor undefined.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  optional(accept, (v) => string('accept', v));
  let om = 0;
  let text = 0;
  for (const e of parseQualities(accept)) {
    if (e.value === 'application/openmetrics-text' && (!/version=/.test(e.params) || /version=1\.0\.0/.test(e.params))) om = Math.max(om, e.q);
    else if (e.value === 'text/plain' || e.value === 'text/*' || e.value === '*/*') text = Math.max(text, e.q);
  }
  return om > 0 && om >= text ? 'openmetrics' : 'text';
}

/** Whether an `Accept-Encoding` header accepts gzip (`EINVAL` for one that is neither a string nor undefined). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  optional(acceptEncoding, (v) => string('acceptEncoding', v));
  return parseQualities(acceptEncoding).some((e) => (e.value === 'gzip' || e.value === '*') && e.q > 0);
}

/**
 * Serves `registry` over HTTP. Resolves once listening; `EADDRINUSE` (and
 * other listen errors) reject. `EINVAL` for an invalid option.
 *
 * ```ts
 * const server = await serveMetrics(registry, { port: 9464 });
 * // scrape_configs: - targets: ['127.0.0.1:9464']
 * await server.close();
 * ```
 */
export async function serveMetrics(registry: Registry, options?: ServeMetricsOptions): Promise<MetricsServer> {
  if (!(registry instanceof Registry)) throw invalid('registry', registry, 'a kernkit metrics Registry');
  const o = optionsOf<ServeMetricsOptions>('options', options, ['port', 'host', 'path']);
  const port = optional(o.port, (v) => integerIn('options.port', v, 0, 65535), 9464);
  const host = optional(o.host, (v) => cString('options.host', v, { nonEmpty: true }), '127.0.0.1');
  const metricsPath = optional(o.path, (v) => cString('options.path', v, { nonEmpty: true }), '/metrics');
  if (!metricsPath.startsWith('/')) throw invalid('options.path', metricsPath, 'a path starting with /');

  const server = http.createServer((req, res) => {
    handle(registry, metricsPath, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('kernkit: metrics could not be rendered\n');
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
    });
    return closing;
  };
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    host: address.address,
    port: address.port,
    url: `http://${urlHost}:${address.port}${metricsPath}`,
    get closed() {
      return closing !== undefined;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function handle(registry: Registry, metricsPath: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== metricsPath) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : 'Not Found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Method Not Allowed\n');
    return;
  }
  if (registry.closed) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : 'kernkit: the registry is closed\n');
    return;
  }
  const format = negotiateFormat(req.headers.accept);
  const text = await registry.metrics({ format });
  let body: Buffer = Buffer.from(text, 'utf8');
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': Registry.contentType(format), Vary: 'Accept, Accept-Encoding' };
  if (acceptsGzip(req.headers['accept-encoding'])) {
    body = await gzip(body);
    headers['Content-Encoding'] = 'gzip';
  }
  headers['Content-Length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
