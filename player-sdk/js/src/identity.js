/**
 * Who is watching: a viewer id and a sampling draw that persist in storage, and fresh view ids.
 *
 * Sampling is per viewer (REFERENCE §4): one random number is drawn once, kept, and compared
 * with the sample rate, so a viewer is either always in or always out, and raising the rate
 * only adds viewers.
 */

import { ID_PATTERN } from './schema.js';

export const VIEWER_ID_KEY = 'qoe.viewer_id';
export const SAMPLE_DRAW_KEY = 'qoe.sample_draw';

/**
 * @typedef {object} StorageLike  the part of `localStorage` the SDK uses
 * @property {(key: string) => string | null} getItem
 * @property {(key: string, value: string) => void} setItem
 */

/**
 * @typedef {object} IdSource
 * @property {() => number} random  uniform in [0, 1)
 * @property {(() => string) | undefined} randomUUID
 */

/**
 * A new random id that matches the server's id pattern.
 * @param {IdSource} source
 * @returns {string}
 */
export function newId(source) {
  if (typeof source.randomUUID === 'function') {
    const id = source.randomUUID();
    if (ID_PATTERN.test(id)) return id;
  }
  let hex = '';
  while (hex.length < 32) hex += Math.floor(source.random() * 16).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Storage that never throws: localStorage throws in some private modes and sandboxed frames,
 * and is missing outside browsers; then values live for this page only.
 * @param {StorageLike | undefined | null} storage
 * @returns {{ get: (key: string) => string | null, set: (key: string, value: string) => boolean }}
 */
export function safeStorage(storage) {
  /** @type {Map<string, string>} */
  const memory = new Map();
  return {
    get(key) {
      try {
        const value = storage?.getItem(key);
        if (typeof value === 'string') return value;
      } catch {
        // fall through to this page's memory
      }
      return memory.get(key) ?? null;
    },
    set(key, value) {
      memory.set(key, value);
      try {
        if (!storage) return false;
        storage.setItem(key, value);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * The viewer's id: the page's own (when valid), else the stored one, else a new stored one.
 * @param {ReturnType<typeof safeStorage>} store
 * @param {IdSource} source
 * @param {string | undefined} preferred
 * @returns {string}
 */
export function viewerIdFrom(store, source, preferred) {
  if (typeof preferred === 'string' && ID_PATTERN.test(preferred)) return preferred;
  const stored = store.get(VIEWER_ID_KEY);
  if (stored !== null && ID_PATTERN.test(stored)) return stored;
  const id = newId(source);
  store.set(VIEWER_ID_KEY, id);
  return id;
}

/**
 * The viewer's persisted sampling draw in [0, 1).
 * @param {ReturnType<typeof safeStorage>} store
 * @param {IdSource} source
 * @returns {number}
 */
export function sampleDrawFrom(store, source) {
  const stored = Number.parseFloat(store.get(SAMPLE_DRAW_KEY) ?? '');
  if (Number.isFinite(stored) && stored >= 0 && stored < 1) return stored;
  const draw = source.random();
  store.set(SAMPLE_DRAW_KEY, String(draw));
  return draw;
}

/**
 * @param {number} draw
 * @param {unknown} sampleRate  fraction of viewers to report, 0..1 (default 1)
 * @returns {boolean}
 */
export function isSampled(draw, sampleRate) {
  const rate = typeof sampleRate === 'number' && Number.isFinite(sampleRate) ? sampleRate : 1;
  return draw < Math.min(1, Math.max(0, rate));
}
