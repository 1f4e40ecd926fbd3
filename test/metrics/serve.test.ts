/**
 * serveMetrics: content negotiation, gzip, HEAD, 404/405, 503 after the
 * registry closes, the 127.0.0.1 default, option validation and close().
 */
import * as http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { Counter, Registry, escapeLabelValue, negotiateFormat, serveMetrics, type MetricsServer } from '../../lib';
import { acceptsGzip } from '../../lib/metrics/serve';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

let registry: Registry;
let server: MetricsServer | undefined;

beforeEach(() => {
  registry = new Registry();
  const c = new Counter('served');
  c.add(12);
  registry.register(c, { name: 'served', help: 'Served "things"' });
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

test('binds 127.0.0.1 by default and serves the text format without an Accept header', async () => {
  server = await serveMetrics(registry, { port: 0 });
  expect(server.host).toBe('127.0.0.1');
  expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
  const r = await request(server.url);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(r.body.toString()).toBe(await registry.metrics());
});

test('Accept picks OpenMetrics (as Prometheus asks) or text', async () => {
  server = await serveMetrics(registry, { port: 0, path: '/m' });
  const prometheusAccept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const om = await request(server.url, { headers: { Accept: prometheusAccept } });
  expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  expect(om.body.toString()).toBe(await registry.metrics({ format: 'openmetrics' }));
  expect(om.headers.vary).toBe('Accept, Accept-Encoding');
  const text = await request(server.url, { headers: { Accept: 'text/plain;version=0.0.4' } });
  expect(text.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
});

test.each<[string | undefined, 'text' | 'openmetrics']>([
  [undefined, 'text'],
  ['*/*', 'text'],
  ['application/openmetrics-text', 'openmetrics'],
  ['application/openmetrics-text; version=0.0.1', 'text'],
  ['text/plain;q=0.9, application/openmetrics-text;q=0.5', 'text'],
  ['text/plain;q=0.5, application/openmetrics-text;version=1.0.0;q=0.9', 'openmetrics'],
  ['application/openmetrics-text;q=0', 'text'],
])('negotiateFormat(%p) is %p', (accept, format) => {
  expect(negotiateFormat(accept)).toBe(format);
});

test('the exported header and label helpers refuse what is not a string; contentType knows two formats', () => {
  expect(() => negotiateFormat(5 as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'accept: 5 (expected a string)' }));
  expect(() => acceptsGzip(['gzip'] as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^acceptEncoding: \["gzip"\] \(expected a string/) }));
  expect(() => escapeLabelValue(Symbol('x') as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^value: .* \(expected a string\)$/) }));
  expect(escapeLabelValue('a"b')).toBe('a\\"b');
  expect(() => Registry.contentType('bogus' as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'format: "bogus" (expected one of "text", "openmetrics")' }));
  expect(() => Registry.contentType('constructor' as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  expect(Registry.contentType('openmetrics')).toMatch(/^application\/openmetrics-text/);
});

test('gzip when accepted, with the same content', async () => {
  server = await serveMetrics(registry, { port: 0 });
  const r = await request(server.url, { headers: { 'Accept-Encoding': 'br;q=1.0, gzip;q=0.8' } });
  expect(r.headers['content-encoding']).toBe('gzip');
  expect(Number(r.headers['content-length'])).toBe(r.body.length);
  expect(gunzipSync(r.body).toString()).toBe(await registry.metrics());
  const plain = await request(server.url, { headers: { 'Accept-Encoding': 'gzip;q=0, identity' } });
  expect(plain.headers['content-encoding']).toBeUndefined();
});

test('HEAD has the headers and no body; other paths 404, other methods 405', async () => {
  server = await serveMetrics(registry, { port: 0 });
  const get = await request(server.url);
  const head = await request(server.url, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(head.headers['content-length']).toBe(get.headers['content-length']);
  expect(head.body.length).toBe(0);
  expect((await request(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  expect((await request(`http://127.0.0.1:${server.port}/metrics/x`)).status).toBe(404);
  expect((await request(`${server.url}?x=1`)).status).toBe(200);
  const post = await request(server.url, { method: 'POST' });
  expect(post.status).toBe(405);
  expect(post.headers.allow).toBe('GET, HEAD');
});

test('503 once the registry is closed', async () => {
  server = await serveMetrics(registry, { port: 0 });
  registry.close();
  expect((await request(server.url)).status).toBe(503);
});

test('close() stops listening, also with a kept-alive connection; closed and asyncDispose', async () => {
  const s = await serveMetrics(registry, { port: 0 });
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => http.get(s.url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
  expect(s.closed).toBe(false);
  await s[Symbol.asyncDispose]();
  expect(s.closed).toBe(true);
  await s.close(); // again: resolves
  agent.destroy();
  await expect(request(s.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
});

test('invalid options are EINVAL/ERANGE naming them; a busy port rejects with EADDRINUSE', async () => {
  await expect(serveMetrics({} as Registry)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^registry: /) });
  await expect(serveMetrics(null as unknown as Registry)).rejects.toMatchObject({ code: 'EINVAL', message: 'registry: null (expected a kernkit metrics Registry)' });
  await expect(serveMetrics(registry, { port: 70000 })).rejects.toMatchObject({ code: 'ERANGE', message: expect.stringMatching(/^options\.port: 70000/) });
  await expect(serveMetrics(registry, { path: 'metrics' })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^options\.path: "metrics"/) });
  await expect(serveMetrics(registry, { host: 'a\0b' })).rejects.toMatchObject({ code: 'EINVAL' });
  await expect(serveMetrics(registry, { colour: 1 } as never)).rejects.toMatchObject({ code: 'EINVAL' });
  server = await serveMetrics(registry, { port: 0 });
  await expect(serveMetrics(registry, { port: server.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
});
