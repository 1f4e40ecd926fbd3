// The pool worker's state machine: which transitions the table allows and refuses.
import { checkTransition, PHASE_TRANSITIONS, type WorkerPhase } from '../../lib/pool/pool-worker';

const PHASES = Object.keys(PHASE_TRANSITIONS) as WorkerPhase[];

describe('pool worker phases', () => {
  test('every phase but exited can end, unexpectedly or on purpose; exited is final', () => {
    for (const from of PHASES) {
      if (from === 'exited') expect(() => checkTransition(from, 'exited')).toThrow(/from exited to exited/);
      else expect(() => checkTransition(from, 'exited')).not.toThrow();
    }
    expect(PHASE_TRANSITIONS.exited).toEqual([]);
  });

  test('only a serving worker takes a task: not while starting, joining, in standby, retiring or stopping', () => {
    expect(() => checkTransition('idle', 'busy')).not.toThrow();
    for (const from of ['starting', 'joining', 'standby', 'retiring', 'stopping', 'exited', 'busy'] as const) {
      expect(() => checkTransition(from, 'busy')).toThrow(`cannot go from ${from} to busy`);
    }
  });

  test('a worker started by setCpus() waits in standby; only a member starts straight into serving', () => {
    expect(() => checkTransition('joining', 'standby')).not.toThrow();
    expect(() => checkTransition('joining', 'idle')).toThrow();
    expect(() => checkTransition('starting', 'standby')).toThrow();
    expect(() => checkTransition('standby', 'idle')).not.toThrow();
  });

  test('leaving is one way: retiring and stopping never serve again', () => {
    for (const from of ['retiring', 'stopping'] as const) {
      for (const to of ['idle', 'busy', 'standby', 'starting', 'joining'] as const) expect(() => checkTransition(from, to)).toThrow();
    }
    expect(() => checkTransition('retiring', 'stopping')).not.toThrow();
    expect(() => checkTransition('stopping', 'retiring')).toThrow();
    expect(() => checkTransition('idle', 'retiring')).toThrow(); // an idle worker let go is stopped at once
  });

  test('nothing returns to a starting phase', () => {
    for (const from of PHASES) {
      expect(() => checkTransition(from, 'starting')).toThrow();
      expect(() => checkTransition(from, 'joining')).toThrow();
    }
  });
});
