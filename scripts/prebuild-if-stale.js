#!/usr/bin/env node
// Runs `npm run prebuild` when prebuilds/<platform>-<arch>/ has no addon or one older
// than csrc/ or binding.gyp. `npm test` runs it first (pretest), so the package test
// finds a fresh prebuild and no test rebuilds build/ while others are loading it.
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const built = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
const sources = ['binding.gyp', ...readdirSync(path.join(root, 'csrc')).map((f) => path.join('csrc', f))];
const newest = Math.max(...sources.map((f) => statSync(path.join(root, f)).mtimeMs));
const oldest = Math.min(...built.map((f) => statSync(path.join(dir, f)).mtimeMs));
if (built.length === 0 || oldest < newest) {
  console.log('prebuild missing or older than csrc/: npm run prebuild');
  execFileSync('npm', ['run', 'prebuild'], { cwd: root, stdio: 'inherit' });
}
