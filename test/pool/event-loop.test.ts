// The pool and the event loop, each case in a program of its own (see
// fixtures/lone-pool.js): a pending task or ready() holds the loop open until
// it settles, also when its worker dies; an idle pool does not.
import { execFile } from 'node:child_process';
import { getAffinity } from '../../lib';
import { fixture } from '../helpers/pool';

const cpu = String(getAffinity()[0]);

/** Runs fixtures/lone-pool.js and returns what it printed as it exited. */
function lonePool(mode: string): Promise<{ settled: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture('lone-pool.js'), mode, cpu], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err && err.killed) return reject(new Error(`lone-pool.js ${mode} did not exit: ${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`lone-pool.js ${mode} printed ${JSON.stringify(stdout)} (stderr ${JSON.stringify(stderr)})`));
      }
    });
  });
}

describe('a program whose only handles are the pool', () => {
  test('a task that calls process.exit() rejects before the program ends', async () => {
    expect(await lonePool('exit')).toEqual({
      settled: expect.stringMatching(/^rejected EOWNERDEAD: worker \d+ \(tid \d+, CPU \d+\) exited with code 3$/),
      code: 0,
    });
  });

  test('a task whose worker dies of an uncaught exception rejects before the program ends', async () => {
    expect(await lonePool('crash')).toEqual({ settled: 'rejected Error: boom from a timer', code: 0 });
  });

  test('ready() rejects when a worker exits while loading the task module', async () => {
    expect(await lonePool('never-loads')).toEqual({
      settled: expect.stringMatching(/^rejected EOWNERDEAD: .* exited with code 0 before it started$/),
      code: 0,
    });
  });

  test('a task that returns resolves, and the closed pool lets the program end', async () => {
    expect(await lonePool('echo')).toEqual({ settled: 'resolved "echo"', code: 0 });
  });
});
