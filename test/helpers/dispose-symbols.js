// Node 20 defines Symbol.dispose and Symbol.asyncDispose on its own realm's Symbol only (as the
// registered symbols nodejs.dispose / nodejs.asyncDispose); jest runs tests in a vm context whose
// Symbol lacks them, so kernkit's `[Symbol.asyncDispose]()` methods would be keyed "undefined".
// Give the context the same registered symbols Node uses (newer V8 has them natively).
for (const name of ['dispose', 'asyncDispose']) {
  if (typeof Symbol[name] !== 'symbol') {
    Object.defineProperty(Symbol, name, { value: Symbol.for(`nodejs.${name}`), configurable: false, writable: false });
  }
}
