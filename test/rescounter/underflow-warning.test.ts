// The kernel warns once (WARN_ONCE) on a page_counter underflow; kernkit emits one
// process warning per thread. Alone in its file: the once-flag is per module instance.
import { ResourceCounter } from '../../lib';

test('two underflows: both counted, one KERNKIT_RESCOUNTER_UNDERFLOW warning naming the counter', () => {
  const emit = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  try {
    const c = new ResourceCounter({ name: 'short' });
    c.uncharge(1);
    c.charge(2);
    c.uncharge(3);
    expect(c.underflows).toBe(2);
    expect(c.usage).toBe(0);
    expect(emit.mock.calls).toEqual([
      ['resource counter underflow: more uncharged than charged at "short"', { code: 'KERNKIT_RESCOUNTER_UNDERFLOW' }],
    ]);
  } finally {
    emit.mockRestore();
  }
});
