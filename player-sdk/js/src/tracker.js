/**
 * The tracker: views, per-view event sequence numbers, flush rules and the page lifecycle.
 * Player adapters (adapters/video.js, adapters/hls.js) translate player events into
 * `startView` / `track` / `endView` calls; pages can call them too (ad breaks, custom errors).
 */

import { guarded, safeSink } from './guard.js';
import { isSampled, newId, safeStorage, sampleDrawFrom, viewerIdFrom } from './identity.js';
import {
  cleanContext,
  cleanEventFields,
  EventType,
  MAX_EVENTS_PER_BEACON,
  PROPERTY_KEY_PATTERN,
  toEpochMs,
  VIEW_END_REASONS,
} from './schema.js';
import { Transport } from './transport.js';
import { SDK_NAME, SDK_VERSION } from './version.js';

/**
 * @typedef {import('./transport.js').TransportEnv & {
 *   randomUUID: (() => string) | undefined,
 *   storage: import('./identity.js').StorageLike | undefined,
 *   window: any,
 *   document: any,
 *   ResizeObserver: any,
 *   requestVideoFrameCallbackSupported?: boolean,
 * }} TrackerEnv
 */

/**
 * @typedef {object} TrackerOptions
 * @property {string} endpoint  base URL of the platform ('' for the page's own origin); beacons go to `{endpoint}/v1/beacons`
 * @property {Record<string, unknown>} [context]  view dimensions: title_id, title, player_name, cdn, ... (schemas/beacon.py Context)
 * @property {string} [viewerId]  the page's own viewer id; otherwise one is generated and kept in localStorage
 * @property {string} [propertyKey]  the property's public key (`qoe_pk_` and 24 hex digits, from `qoe properties create`), sent as `property_key` in every beacon; deployments that require it answer 401 without it
 * @property {number} [sampleRate=1]  fraction of viewers reported, decided once per viewer
 * @property {number} [flushIntervalMs=10000]
 * @property {number} [heartbeatIntervalMs=10000]
 * @property {number} [maxEventsPerBeacon=300]
 * @property {number} [maxQueuedEvents=3600]
 * @property {number} [requestTimeoutMs=10000]
 * @property {Partial<import('./transport.js').RetryOptions>} [retry]
 * @property {boolean} [listenForUnload=true]  send what is left on pagehide / when the page is hidden
 * @property {(error: unknown, where: string) => void} [onError]  debug hook; the SDK never throws
 * @property {(viewId: string) => void} [onViewStart]
 * @property {(report: import('./transport.js').SendReport) => void} [onSend]
 * @property {Partial<TrackerEnv>} [env]  clock, timers, network and storage; tests pass fakes
 */

const DEFAULTS = {
  sampleRate: 1,
  flushIntervalMs: 10_000,
  heartbeatIntervalMs: 10_000,
  maxEventsPerBeacon: MAX_EVENTS_PER_BEACON,
  maxQueuedEvents: 3600,
  requestTimeoutMs: 10_000,
};
const DEFAULT_RETRY = { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 8, maxRetryAfterMs: 600_000 };

/** Events that make the queue go out now rather than at the next interval. */
const FLUSH_NOW = new Set([EventType.PLAYBACK_REQUEST, EventType.ENDED, EventType.VIEW_END]);

/**
 * @param {Partial<TrackerEnv> | undefined} given
 * @returns {TrackerEnv}
 */
export function resolveEnv(given = {}) {
  /** @type {any} */
  const g = globalThis;
  const has = (/** @type {string} */ key) => Object.prototype.hasOwnProperty.call(given, key);
  return {
    now: given.now ?? (() => Date.now()),
    setTimeout: given.setTimeout ?? ((fn, ms) => g.setTimeout(fn, ms)),
    clearTimeout: given.clearTimeout ?? ((id) => g.clearTimeout(id)),
    random: given.random ?? (() => Math.random()),
    randomUUID: has('randomUUID')
      ? given.randomUUID
      : typeof g.crypto?.randomUUID === 'function'
        ? () => g.crypto.randomUUID()
        : undefined,
    fetch: has('fetch') ? given.fetch : typeof g.fetch === 'function' ? g.fetch.bind(g) : undefined,
    sendBeacon: has('sendBeacon')
      ? given.sendBeacon
      : typeof g.navigator?.sendBeacon === 'function'
        ? (url, data) => g.navigator.sendBeacon(url, data)
        : undefined,
    Blob: has('Blob') ? given.Blob : g.Blob,
    AbortController: has('AbortController') ? given.AbortController : g.AbortController,
    storage: has('storage') ? given.storage : pageLocalStorage(g),
    window: has('window') ? given.window : g.window,
    document: has('document') ? given.document : g.document,
    ResizeObserver: has('ResizeObserver') ? given.ResizeObserver : g.ResizeObserver,
  };
}

/**
 * @param {any} g
 * @returns {import('./identity.js').StorageLike | undefined}
 */
function pageLocalStorage(g) {
  try {
    return g.localStorage ?? undefined; // reading it throws in sandboxed frames
  } catch {
    return undefined;
  }
}

/**
 * @param {unknown} value
 * @param {number} fallback
 * @returns {number}
 */
function positive(value, fallback) {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * @param {unknown} key
 * @throws {TypeError} when set but not a key the server accepts (every beacon would be refused)
 */
function checkPropertyKey(key) {
  if (key === undefined || key === null) return;
  if (typeof key !== 'string' || !PROPERTY_KEY_PATTERN.test(key)) {
    throw new TypeError(`createTracker: options.propertyKey must match ${PROPERTY_KEY_PATTERN.source}`);
  }
}

/**
 * @typedef {import('./transport.js').ViewRecord & { seq: number }} View
 */

class Tracker {
  /**
   * @param {TrackerOptions} options
   * @param {(error: unknown, where: string) => void} sink
   */
  constructor(options, sink) {
    if (typeof options?.endpoint !== 'string') throw new TypeError('createTracker needs options.endpoint (a URL string)');
    checkPropertyKey(options.propertyKey);
    this.sink = sink;
    this.env = resolveEnv(options.env);
    this.onViewStart = options.onViewStart;
    this.flushIntervalMs = positive(options.flushIntervalMs, DEFAULTS.flushIntervalMs);
    this.heartbeatIntervalMs = positive(options.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs);
    const store = safeStorage(this.env.storage);
    this.viewerId = viewerIdFrom(store, this.env, options.viewerId);
    this.sampleDraw = sampleDrawFrom(store, this.env);
    this.sampled = isSampled(this.sampleDraw, options.sampleRate ?? DEFAULTS.sampleRate);
    this.enabled = this.sampled;
    /** @type {Record<string, unknown>} */
    this.baseContext = cleanContext({ page_url: this.env.window?.location?.href, ...options.context });
    /** @type {View | null} */
    this.view = null;
    /** @type {unknown} */
    this.flushTimer = null;
    /** @type {unknown} */
    this.soonTimer = null;
    /** @type {((viewId: string) => void)[]} */
    this.viewStartListeners = [];
    this.invalidEvents = 0;
    this.lastPlayheadMs = 0;
    this.transport = new Transport({
      url: `${options.endpoint.replace(/\/+$/, '')}/v1/beacons`,
      sdk: { name: SDK_NAME, version: SDK_VERSION },
      viewerId: this.viewerId,
      propertyKey: options.propertyKey ?? undefined,
      env: this.env,
      maxEventsPerBeacon: Math.min(MAX_EVENTS_PER_BEACON, positive(options.maxEventsPerBeacon, MAX_EVENTS_PER_BEACON)),
      maxQueuedEvents: positive(options.maxQueuedEvents, DEFAULTS.maxQueuedEvents),
      requestTimeoutMs: positive(options.requestTimeoutMs, DEFAULTS.requestTimeoutMs),
      retry: { ...DEFAULT_RETRY, ...options.retry },
      sink,
      onSend: options.onSend ? guarded(options.onSend, safeSink(undefined), 'onSend') : () => undefined,
      onStopped: () => this.disable(),
    });
    /** @type {(() => void)[]} */
    this.unlisteners = [];
    if (this.enabled && options.listenForUnload !== false) this.listenForUnload();
  }

  listenForUnload() {
    const { window: win, document: doc } = this.env;
    const onPageHide = guarded(() => this.unload(), this.sink, 'pagehide');
    const onVisibility = guarded(
      () => {
        if (doc?.visibilityState === 'hidden') this.transport.flushOnUnload();
      },
      this.sink,
      'visibilitychange',
    );
    if (typeof win?.addEventListener === 'function') {
      win.addEventListener('pagehide', onPageHide);
      this.unlisteners.push(() => win.removeEventListener('pagehide', onPageHide));
    }
    if (typeof doc?.addEventListener === 'function') {
      doc.addEventListener('visibilitychange', onVisibility);
      this.unlisteners.push(() => doc.removeEventListener('visibilitychange', onVisibility));
    }
  }

  unload() {
    if (this.view) this.endView('unload', this.lastPlayheadMs);
    this.transport.flushOnUnload();
  }

  /** @returns {number} integer ms on the viewer's clock */
  now() {
    return toEpochMs(this.env.now());
  }

  /**
   * Starts a view (a play attempt): new view id, `playback_request`, immediate flush.
   * A view still open is ended first with reason `content_change`.
   * @param {{ autoplay?: boolean, playheadMs?: number }} [init]
   * @returns {string | null} the view id, or null when this viewer is not reported
   */
  startView(init = {}) {
    if (!this.enabled) return null;
    if (this.view) this.endView('content_change', init.playheadMs ?? 0);
    this.view = { id: newId(this.env), seq: 0, nextBatchSeq: 0, context: { ...this.baseContext } };
    this.track(EventType.PLAYBACK_REQUEST, { autoplay: Boolean(init.autoplay) }, init.playheadMs ?? 0);
    const id = this.view.id;
    for (const listener of this.viewStartListeners) guarded(listener, this.sink, 'viewStart')(id);
    if (typeof this.onViewStart === 'function') guarded(this.onViewStart, this.sink, 'onViewStart')(id);
    return id;
  }

  /**
   * Records one event of the current view.
   * @param {string} type  one of EventType
   * @param {Record<string, unknown>} [fields]
   * @param {number} [playheadMs]
   * @returns {boolean} whether the event was queued
   */
  track(type, fields = {}, playheadMs = 0) {
    if (!this.enabled || !this.view) return false;
    let clean;
    try {
      clean = cleanEventFields(type, fields);
    } catch (error) {
      this.invalidEvents += 1;
      this.sink(error, `track(${String(type)})`);
      return false;
    }
    this.lastPlayheadMs = Math.max(0, Math.round(Number(playheadMs) || 0));
    const event = { type, ts: this.now(), playhead_ms: this.lastPlayheadMs, seq: this.view.seq, ...clean };
    this.view.seq += 1;
    this.transport.enqueue(this.view, event);
    if (FLUSH_NOW.has(type) || (type === EventType.ERROR && clean.fatal === true)) this.flushSoon();
    else this.armFlushTimer();
    return true;
  }

  /**
   * @param {string} [reason]  one of unload, content_change, user_exit, ended, error, timeout
   * @param {number} [playheadMs]
   */
  endView(reason = 'user_exit', playheadMs = 0) {
    if (!this.view) return;
    this.track(EventType.VIEW_END, { reason: VIEW_END_REASONS.includes(reason) ? reason : 'user_exit' }, playheadMs);
    this.view = null;
  }

  /**
   * Merges dimensions into the context of this and later views.
   * @param {Record<string, unknown>} partial
   */
  setContext(partial) {
    if (!partial || typeof partial !== 'object') return;
    this.baseContext = cleanContext({ ...this.baseContext, ...partial });
    if (this.view) this.view.context = cleanContext({ ...this.view.context, ...partial });
  }

  /**
   * Merges dimensions into the current view only (what an adapter learns mid-view).
   * @param {Record<string, unknown>} partial
   */
  setViewContext(partial) {
    if (this.view && partial && typeof partial === 'object') {
      this.view.context = cleanContext({ ...this.view.context, ...partial });
    }
  }

  /** @returns {Record<string, unknown>} */
  get context() {
    return { ...(this.view?.context ?? this.baseContext) };
  }

  armFlushTimer() {
    if (this.flushTimer !== null) return;
    this.flushTimer = this.env.setTimeout(
      guarded(
        () => {
          this.flushTimer = null;
          this.flush();
        },
        this.sink,
        'flushTimer',
      ),
      this.flushIntervalMs,
    );
  }

  /** Flush on the next tick, so events of the same moment (a view start and its first rendition) share a beacon. */
  flushSoon() {
    if (this.soonTimer !== null) return;
    this.soonTimer = this.env.setTimeout(
      guarded(
        () => {
          this.soonTimer = null;
          this.flush();
        },
        this.sink,
        'flushSoon',
      ),
      0,
    );
  }

  flush() {
    if (this.flushTimer !== null) this.env.clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.transport.flush();
  }

  /** @param {(viewId: string) => void} listener */
  addViewStartListener(listener) {
    if (typeof listener === 'function') this.viewStartListeners.push(listener);
  }

  /** Ends the open view, sends what is queued and stops listening to the page. */
  destroy() {
    if (this.view) this.endView('user_exit', this.lastPlayheadMs);
    this.flush();
    for (const unlisten of this.unlisteners.splice(0)) unlisten();
    this.enabled = false;
  }

  disable() {
    this.enabled = false;
    this.view = null;
    for (const timer of [this.flushTimer, this.soonTimer]) if (timer !== null) this.env.clearTimeout(timer);
    this.flushTimer = null;
    this.soonTimer = null;
    for (const unlisten of this.unlisteners.splice(0)) unlisten();
  }

  get stats() {
    return {
      ...this.transport.stats,
      queued: this.transport.queuedEvents,
      invalidEvents: this.invalidEvents,
      stopped: this.transport.stopped,
    };
  }
}

/**
 * @typedef {object} QoeTracker
 * @property {(init?: { autoplay?: boolean, playheadMs?: number }) => string | null} startView
 * @property {(type: string, fields?: Record<string, unknown>, playheadMs?: number) => boolean} track
 * @property {(reason?: string, playheadMs?: number) => void} endView
 * @property {(partial: Record<string, unknown>) => void} setContext
 * @property {(partial: Record<string, unknown>) => void} setViewContext
 * @property {() => void} flush
 * @property {() => void} destroy
 * @property {() => number} now
 * @property {(fn: () => void, ms: number) => unknown} schedule  a guarded timer on the tracker's clock
 * @property {(handle: unknown) => void} cancel
 * @property {(listener: (viewId: string) => void) => void} addViewStartListener
 * @property {string | null} viewId
 * @property {string} viewerId
 * @property {boolean} sampled
 * @property {boolean} enabled
 * @property {number} heartbeatIntervalMs
 * @property {Record<string, unknown>} context
 * @property {Record<string, number | boolean>} stats
 * @property {TrackerEnv} env
 * @property {(error: unknown, where: string) => void} reportError
 */

/**
 * A tracker that does nothing: what a page gets for bad options, so it never breaks.
 * @param {(error: unknown, where: string) => void} sink
 * @returns {QoeTracker}
 */
function inertTracker(sink) {
  const env = resolveEnv({});
  return {
    startView: () => null,
    track: () => false,
    endView: () => undefined,
    setContext: () => undefined,
    setViewContext: () => undefined,
    flush: () => undefined,
    destroy: () => undefined,
    now: () => toEpochMs(Date.now()),
    schedule: () => null,
    cancel: () => undefined,
    addViewStartListener: () => undefined,
    viewId: null,
    viewerId: '',
    sampled: false,
    enabled: false,
    heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs,
    context: {},
    stats: {},
    env,
    reportError: sink,
  };
}

/**
 * Creates a tracker. Never throws: bad options give an inert tracker and a report to `onError`.
 * @param {TrackerOptions} options
 * @returns {QoeTracker}
 */
export function createTracker(options) {
  const sink = safeSink(options?.onError);
  let tracker;
  try {
    tracker = new Tracker(options, sink);
  } catch (error) {
    sink(error, 'createTracker');
    return inertTracker(sink);
  }
  const t = tracker;
  /** @type {<A extends unknown[], R>(fn: (...args: A) => R, where: string) => (...args: A) => R | undefined} */
  const guard = (fn, where) => guarded(fn, sink, where);
  return {
    startView: guard((init) => t.startView(init), 'startView'),
    track: guard((type, fields, playheadMs) => t.track(type, fields, playheadMs), 'track'),
    endView: guard((reason, playheadMs) => t.endView(reason, playheadMs), 'endView'),
    setContext: guard((partial) => t.setContext(partial), 'setContext'),
    setViewContext: guard((partial) => t.setViewContext(partial), 'setViewContext'),
    flush: guard(() => t.flush(), 'flush'),
    destroy: guard(() => t.destroy(), 'destroy'),
    now: () => guard(() => t.now(), 'now')() ?? 0,
    schedule: guard((fn, ms) => t.env.setTimeout(guard(fn, 'timer'), ms), 'schedule'),
    cancel: guard((handle) => {
      if (handle !== null && handle !== undefined) t.env.clearTimeout(handle);
    }, 'cancel'),
    addViewStartListener: guard((listener) => t.addViewStartListener(listener), 'addViewStartListener'),
    get viewId() {
      return t.view?.id ?? null;
    },
    get viewerId() {
      return t.viewerId;
    },
    get sampled() {
      return t.sampled;
    },
    get enabled() {
      return t.enabled;
    },
    get heartbeatIntervalMs() {
      return t.heartbeatIntervalMs;
    },
    get context() {
      return t.context;
    },
    get stats() {
      return t.stats;
    },
    env: t.env,
    reportError: sink,
  };
}
