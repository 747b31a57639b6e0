/**
 * The SDK must never throw into the page: every entry point (public method, DOM or player
 * listener, timer, promise callback) runs through a guard that reports the error and moves on.
 */

/**
 * @callback ErrorSink
 * @param {unknown} error
 * @param {string} where  which handler failed, for the page's debug hook
 * @returns {void}
 */

/**
 * @param {ErrorSink | undefined} onError
 * @returns {ErrorSink}
 */
export function safeSink(onError) {
  return (error, where) => {
    if (typeof onError !== 'function') return;
    try {
      onError(error, where);
    } catch {
      // The page's own hook failed; there is nobody left to tell.
    }
  };
}

/**
 * Wraps `fn` so that an exception is reported to `sink` instead of escaping.
 * @template {unknown[]} A
 * @template R
 * @param {(...args: A) => R} fn
 * @param {ErrorSink} sink
 * @param {string} where
 * @returns {(...args: A) => R | undefined}
 */
export function guarded(fn, sink, where) {
  return (...args) => {
    try {
      return fn(...args);
    } catch (error) {
      sink(error, where);
      return undefined;
    }
  };
}
