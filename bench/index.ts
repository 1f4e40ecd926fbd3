/**
 * `npm run bench [name...]`: runs every bench/<name>.ts (or the named ones) in
 * turn. Each exports `run()`, prints its tables and writes bench/results/<name>.json.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';

async function main(): Promise<void> {
  const all = readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
    .map((f) => f.slice(0, -3))
    .sort();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; have ${all.join(', ')}`);
  for (const name of wanted.length ? wanted : all) {
    console.log(`\n### ${name}\n`);
    const mod = (await import(path.join(__dirname, `${name}.ts`))) as { run(): Promise<void> };
    await mod.run();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
