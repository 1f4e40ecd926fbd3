/**
 * The per-test setting of most tc kernel tests: a fresh test namespace with
 * the veth pair kk0/kk1, and a Tc opened in it; both removed after each test.
 */
import { Tc } from '../../lib';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

/** What a test sees: the namespace and the Tc of the test running now. */
export interface NetnsFixture {
  readonly ns: TestNetns;
  readonly tc: Tc;
}

/** Registers the hooks (in the calling file or describe block) and returns the fixture they fill. */
export function useTestNetns(): NetnsFixture {
  const current: { ns?: TestNetns; tc?: Tc } = {};
  beforeEach(async () => {
    if (tcMissing()) return;
    current.ns = TestNetns.create('kk0', 'kk1');
    current.tc = await Tc.open({ netns: current.ns.name });
  });
  afterEach(async () => {
    await current.tc?.close();
    current.ns?.remove();
    current.tc = undefined;
    current.ns = undefined;
  });
  afterAll(removeAllNamespaces);
  return {
    get ns() {
      return current.ns as TestNetns;
    },
    get tc() {
      return current.tc as Tc;
    },
  };
}
