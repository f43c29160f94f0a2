/**
 * Jest runs each test file in its own vm realm, but tfjs-node's binding creates its typed arrays
 * in the main realm: tfjs's `instanceof Float32Array` checks (e.g. when saving weights) then
 * fail. Importing this module first makes the test realm use the main realm's constructors
 * Test-only.
 */
import { runInThisContext } from 'node:vm';

for (const name of [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Uint32Array',
]) {
  (globalThis as Record<string, unknown>)[name] = runInThisContext(name);
}
