/**
 * Kernel replies as {@link KernkitError}s: the errno name as `.code`, the
 * extended-ack text (or the errno's description) as the message.
 * @module
 */
import { KernkitError } from '../errors';
import type { NetlinkAck } from './message';
import { netlinkNative } from './native';

const described = new Map<number, [string, string]>();

/** The errno name and description glibc gives for `errno` (e.g. `ENOENT`). */
export function describeErrno(errno: number): { name: string; message: string } {
  let d = described.get(errno);
  if (!d) {
    d = netlinkNative.describeErrno(errno);
    described.set(errno, d);
  }
  return { name: d[0], message: d[1] };
}

/**
 * The error for a refused request. `op` names the operation (`qdisc add`);
 * `labelAt` maps an offset the kernel pointed at to the option that wrote it.
 * What the extended ack says beyond its text is added to the message: the
 * attribute it refused (NLMSGERR_ATTR_OFFS), and the attribute it found
 * missing (NLMSGERR_ATTR_MISS_TYPE) and in which nest (NLMSGERR_ATTR_MISS_NEST).
 */
export function kernelError(op: string, ack: NetlinkAck, labelAt?: (offset: number) => string | undefined): KernkitError {
  const { name, message } = describeErrno(ack.errno);
  let text = `${op}: ${ack.message ?? message}`;
  if (ack.offset !== undefined) {
    const label = labelAt?.(ack.offset);
    if (label) text += ` (the kernel refused ${label})`;
  }
  if (ack.missingType !== undefined) {
    let where = '';
    if (ack.missingNest !== undefined) {
      const nest = labelAt?.(ack.missingNest);
      where = nest ? ` in ${nest}` : ` in the nest at offset ${ack.missingNest}`;
    }
    text += ` (the kernel missed attribute type ${ack.missingType}${where})`;
  }
  const props: ConstructorParameters<typeof KernkitError>[1] = { code: name, errno: -ack.errno, op };
  if (ack.message !== undefined) props.extack = ack.message;
  return new KernkitError(text, props);
}
