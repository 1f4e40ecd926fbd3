// README.md's TypeScript examples run as written, against the built package, and
// every `console.log(x); // shown` line prints what its comment shows.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..');

interface Block {
  lang: string;
  line: number;
  code: string;
}

/** The fenced code blocks of a markdown file, with the line each starts on. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w+)\s*$/.exec(lines[i].trim());
    if (!fence) continue;
    const start = i + 1;
    while (++i < lines.length && lines[i].trim() !== '```');
    found.push({ lang: fence[1], line: start + 1, code: lines.slice(start, i).join('\n') });
  }
  return found;
}

/** A ```js block whose first line is `// name.js` is a file the examples use. */
function companionName(block: Block): string | undefined {
  return block.lang === 'js' ? /^\/\/ ([\w.-]+\.js)\s*$/.exec(block.code.split('\n')[0])?.[1] : undefined;
}

// Turns `console.log(args); // shown` into a check that console.log would print `shown`.
function withChecks(code: string): string {
  const checked = code.replace(/^(\s*)console\.log\((.*)\);\s*\/\/\s*(.+?)\s*$/gm, (_m, indent: string, expr: string, shown: string) => {
    const expected = shown.replace(/\s+\(.*\)$/, ''); // "42n (exact, a bigint)" shows 42n
    return `${indent}__shows(${JSON.stringify(expected)}, ${expr});`;
  });
  return `const __shows = (expected: string, ...args: unknown[]): void => {
    const got = require('node:util').formatWithOptions({ breakLength: Infinity }, ...args);
    if (got !== expected) throw new Error('README shows ' + expected + ' but the code prints ' + got);
  };
  ${checked}`;
}

// Examples name the cgroups and network namespaces they make `kernkit-example`; here each
// run gets its own `kernkit-test-*` name, as every test's resources do.
const exampleName = `kernkit-test-readme-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

describe('README.md examples', () => {
  const all = blocksOf(path.join(root, 'README.md'));
  const blocks = all.filter((b) => b.lang === 'ts');
  // The examples live inside the package so that `from 'kernkit'` resolves to it (self-reference).
  const dir = mkdtempSync(path.join(root, '.readme-'));
  for (const b of all) {
    const name = companionName(b);
    if (name) writeFileSync(path.join(dir, name), b.code);
  }
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('there are examples', () => expect(blocks.length).toBeGreaterThan(0));

  test.each(blocks.map((b) => [b.line, b] as const))('the example at line %i runs and prints what it shows', (_line, block) => {
    const js = ts.transpileModule(withChecks(block.code.replaceAll('kernkit-example', exampleName)), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const file = path.join(dir, `example-${block.line}.js`);
    writeFileSync(file, js);
    execFileSync(process.execPath, [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  });
});
