/**
 * The exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0.
 *
 * Both print the same sample lines (`name{label="value"} value`, a counter's
 * samples as `<family>_total`); they differ in the family headers: text 0.0.4
 * names a counter family by its sample name (`# TYPE x_total counter`) and
 * escapes `\` and newline in HELP; OpenMetrics names it without `_total`, adds
 * `# UNIT`, also escapes `"` in HELP, and ends with `# EOF`. Values: a bigint
 * prints its exact digits (counters past 2^53 stay exact), a number as the
 * shortest round-trip decimal, `NaN`, `+Inf` and `-Inf` as both formats spell them.
 * @module
 */
import type { Labels, MetricSample, MetricType } from './types';
import { invalid } from '../validate';

/** The formats {@link render} writes. */
export type ExpositionFormat = 'text' | 'openmetrics';

/** Content-Type of each format. */
export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** Where samples come from: a registration's labels, pre-rendered. @internal */
export interface SampleSource {
  /** The registry's and registration's labels. */
  readonly constLabels: Labels;
  /** The same, rendered (`a="1",b="2"` or ``). */
  readonly constText: string;
  /** Sample name → `name{constText} `, for samples without labels of their own (filled as rendered). */
  readonly prefixes: Map<string, string>;
}

/** The samples one source gave a family. @internal */
export interface GatheredPart {
  readonly source: SampleSource;
  readonly samples: readonly MetricSample[];
}

/** A family merged over every registration that shares its name. @internal */
export interface GatheredFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly unit: string | undefined;
  readonly parts: GatheredPart[];
}

const LABEL_SPECIAL = /[\\"\n]/;

/** Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n` (both formats). `EINVAL` for a non-string. */
export function escapeLabelValue(value: string): string {
  if (typeof value !== 'string') throw invalid('value', value, 'a string');
  if (!LABEL_SPECIAL.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text: `\` and newline, and for OpenMetrics also `"`. */
export function escapeHelp(help: string, format: ExpositionFormat): string {
  const s = help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return format === 'openmetrics' ? s.replace(/"/g, '\\"') : s;
}

/** Renders labels as `a="1",b="2"` (no braces). */
export function renderLabels(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  let out = '';
  for (const key in labels) {
    if (out !== '') out += ',';
    out += `${key}="${escapeLabelValue(labels[key])}"`;
  }
  return out;
}

/** A value as both formats print it: exact bigint digits, `NaN`, `+Inf`, `-Inf`. */
export function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return Object.is(value, -0) ? '0' : String(value);
}

/** `name{labels} ` for a sample without labels of its own, made once per source and name. */
function prefixOf(source: SampleSource, sampleName: string): string {
  let prefix = source.prefixes.get(sampleName);
  if (prefix === undefined) {
    prefix = source.constText === '' ? `${sampleName} ` : `${sampleName}{${source.constText}} `;
    source.prefixes.set(sampleName, prefix);
  }
  return prefix;
}

function sampleLines(sampleName: string, part: GatheredPart): string {
  const { source, samples } = part;
  let out = '';
  for (const s of samples) {
    if (s.labels === undefined) {
      out += `${prefixOf(source, sampleName)}${formatValue(s.value)}\n`;
      continue;
    }
    const own = renderLabels(s.labels);
    const all = own === '' ? source.constText : source.constText === '' ? own : `${own},${source.constText}`;
    out += all === '' ? `${sampleName} ${formatValue(s.value)}\n` : `${sampleName}{${all}} ${formatValue(s.value)}\n`;
  }
  return out;
}

/** Renders gathered families in `format`. @internal */
export function render(families: readonly GatheredFamily[], format: ExpositionFormat): string {
  const parts: string[] = [];
  for (const f of families) {
    const sampleName = f.type === 'counter' ? `${f.name}_total` : f.name;
    if (format === 'openmetrics') {
      parts.push(`# TYPE ${f.name} ${f.type}\n`);
      if (f.unit !== undefined) parts.push(`# UNIT ${f.name} ${f.unit}\n`);
      parts.push(`# HELP ${f.name} ${escapeHelp(f.help, format)}\n`);
    } else {
      parts.push(`# HELP ${sampleName} ${escapeHelp(f.help, format)}\n# TYPE ${sampleName} ${f.type}\n`);
    }
    for (const part of f.parts) parts.push(sampleLines(sampleName, part));
  }
  if (format === 'openmetrics') parts.push('# EOF\n');
  return parts.join('');
}
