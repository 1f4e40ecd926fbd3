// README.md's TypeScript examples run as written, against the built package, and
// every `console.log(x); // shown` line prints what its comment shows.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { kernelTest, rootMissing } from './helpers/kernel';

const root = path.join(__dirname, '..');

interface Block {
  lang: string;
  line: number;
  code: string;
  /** Set by an `<!-- example-setup -->` or `<!-- example-cleanup -->` line just before the fence. */
  role?: 'setup' | 'cleanup';
}

/** The fenced code blocks of a markdown file, with the line each starts on. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w+)\s*$/.exec(lines[i].trim());
    if (!fence) continue;
    const marker = /^<!-- example-(setup|cleanup) -->$/.exec(lines[i - 1]?.trim() ?? '');
    const start = i + 1;
    while (++i < lines.length && lines[i].trim() !== '```');
    found.push({ lang: fence[1], line: start + 1, code: lines.slice(start, i).join('\n'), role: marker?.[1] as Block['role'] });
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
    return `${indent}__shows(${JSON.stringify(shown)}, ${expr});`;
  });
  // The comment shows the output, or the output and a trailing "(note)": "42n (exact, a bigint)".
  return `const __shows = (shown: string, ...args: unknown[]): void => {
    const got = require('node:util').formatWithOptions({ breakLength: Infinity }, ...args);
    if (got !== shown && got !== shown.replace(/\\s+\\(.*\\)$/, '')) {
      throw new Error('README shows ' + shown + ' but the code prints ' + got);
    }
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
  // Shell blocks marked example-setup run (as a script, with set -e) before the example that
  // follows them; those marked example-cleanup run after it, whether it passed or not.
  const shell = (b: Block): void => {
    execFileSync('bash', ['-ec', b.code.replaceAll('kernkit-example', exampleName)], { stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const around = (b: Block): { setup: Block[]; cleanup: Block[] } => {
    const i = all.indexOf(b);
    const setup: Block[] = [];
    for (let j = i - 1; j >= 0 && all[j].role === 'setup'; j--) setup.unshift(all[j]);
    const cleanup: Block[] = [];
    for (let j = i + 1; j < all.length && all[j].role === 'cleanup'; j++) cleanup.push(all[j]);
    return { setup, cleanup };
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('there are examples', () => expect(blocks.length).toBeGreaterThan(0));

  // Examples that set up kernel objects or say they need root run as kernel tests.
  const needsRoot = (b: Block): boolean => around(b).setup.length > 0 || /\broot\b/.test(b.code);
  const asRoot = kernelTest(rootMissing());
  for (const block of blocks) {
    (needsRoot(block) ? asRoot : test)(`the example at line ${block.line} runs and prints what it shows`, () => runExample(block));
  }

  function runExample(block: Block): void {
    const js = ts.transpileModule(withChecks(block.code.replaceAll('kernkit-example', exampleName)), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const file = path.join(dir, `example-${block.line}.js`);
    writeFileSync(file, js);
    const { setup, cleanup } = around(block);
    try {
      setup.forEach(shell);
      execFileSync(process.execPath, [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } finally {
      for (const c of cleanup) {
        try {
          shell(c);
        } catch {
          // cleanup of what setup could not make
        }
      }
    }
  }
});
