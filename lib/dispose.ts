/**
 * The well-known symbols of explicit resource management (`using`, `await using`). Node 18.18+
 * and 20.4+ define them as Symbol.for('nodejs.dispose') and Symbol.for('nodejs.asyncDispose')
 * when the engine lacks them; this does the same on Node versions that define neither, so
 * `[Symbol.dispose]` exists on every object that has one, whatever the Node version.
 */
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };

/** Symbol.dispose (Node's own key where the engine has none). */
export const disposeSymbol: typeof Symbol.dispose = (symbols.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

/** Symbol.asyncDispose (Node's own key where the engine has none). */
export const asyncDisposeSymbol: typeof Symbol.asyncDispose = (symbols.asyncDispose ?? Symbol.for('nodejs.asyncDispose')) as typeof Symbol.asyncDispose;
