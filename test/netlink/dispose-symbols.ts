/**
 * Jest runs each test file in a vm context whose `Symbol` lacks Node 20's
 * `Symbol.dispose`/`Symbol.asyncDispose` (Node adds them to the main realm
 * only). Defines them in the test's realm, before the library is loaded, so
 * that its `[Symbol.asyncDispose]()` methods and `await using` meet the same
 * symbol there as they do in a real process. Import it first.
 */
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol('Symbol.dispose');
symbols.asyncDispose ??= Symbol('Symbol.asyncDispose');

export {};
