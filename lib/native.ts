/**
 * The only module that loads the addon: a prebuild from `prebuilds/` or a local
 * build from `build/`, whichever node-gyp-build finds for this platform.
 * Internal: not part of the public API.
 * @module
 */
import * as path from 'node:path';
import { KernkitError } from './errors';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };

const packageRoot = path.join(__dirname, '..');

/** Absolute path of the addon file that was loaded. @internal */
export const addonPath: string = nodeGypBuild.resolve(packageRoot);

/** The addon's exports; each subsystem types its own part (e.g. lib/percpu/native.ts). @internal */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const addon: Record<string, unknown> & { setErrorClass(cls: typeof KernkitError): void } = require(addonPath);

addon.setErrorClass(KernkitError);
