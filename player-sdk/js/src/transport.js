/**
 * Batching, sending and retrying beacons (REFERENCE §4).
 *
 * - Events wait in one FIFO queue; a beacon takes the oldest run of events of one view,
 *   at most `maxEventsPerBeacon` of them.
 * - One request is in flight at a time, so a view's beacons arrive in `batch_seq` order and a
 *   struggling server sees one request per viewer, not a burst.
 * - 2xx: done. 429, 503, other 5xx, 408 and network errors: retried with exponential backoff
 *   and jitter, never sooner than the server's Retry-After. 400/422 (and other 4xx): the beacon
 *   is dropped, since sending it again cannot help. 410: the server asks us to stop reporting.
 * - When the queue is full, heartbeats go first, then network request events, and only then
 *   is the newest event refused.
 * - On page unload everything left goes out through `navigator.sendBeacon` as a text/plain
 *   Blob (no CORS preflight), or `fetch(..., {keepalive: true})` when sendBeacon refuses.
 *   A beacon sent again keeps its `batch_seq`, so the server can drop duplicates.
 */

import { EventType, SCHEMA_VERSION } from './schema.js';

/**
 * @typedef {object} TransportEnv
 * @property {() => number} now
 * @property {(fn: () => void, ms: number) => unknown} setTimeout
 * @property {(id: unknown) => void} clearTimeout
 * @property {() => number} random
 * @property {((url: string, init: object) => Promise<ResponseLike>) | undefined} fetch
 * @property {((url: string, data: unknown) => boolean) | undefined} sendBeacon
 * @property {(new (parts: string[], options: { type: string }) => unknown) | undefined} Blob
 * @property {(new () => { signal: unknown, abort: () => void }) | undefined} AbortController
 */

/**
 * @typedef {object} ResponseLike
 * @property {number} status
 * @property {{ get: (name: string) => string | null } | undefined} [headers]
 */

/**
 * @typedef {object} ViewRecord  what the transport needs of a view
 * @property {string} id
 * @property {number} nextBatchSeq
 * @property {Record<string, unknown>} context
 */

/**
 * @typedef {object} RetryOptions
 * @property {number} baseDelayMs    first retry waits about this long
 * @property {number} maxDelayMs     backoff ceiling
 * @property {number} maxAttempts    a beacon is dropped after this many failed sends
 * @property {number} maxRetryAfterMs  longest Retry-After we honour
 */

/**
 * @typedef {object} SendReport  passed to `onSend` after every attempt
 * @property {string} viewId
 * @property {number} batchSeq
 * @property {number} events
 * @property {number} status   HTTP status, 0 for a network error
 * @property {'sent' | 'retry' | 'dropped' | 'stopped' | 'unload'} outcome
 * @property {number} [retryInMs]
 */

/**
 * @typedef {object} TransportOptions
 * @property {string} url
 * @property {{ name: string, version: string }} sdk
 * @property {string} viewerId
 * @property {string} [propertyKey]  sent as `property_key` when set
 * @property {TransportEnv} env
 * @property {number} maxEventsPerBeacon
 * @property {number} maxQueuedEvents
 * @property {number} requestTimeoutMs
 * @property {RetryOptions} retry
 * @property {(error: unknown, where: string) => void} sink
 * @property {(report: SendReport) => void} onSend
 * @property {() => void} onStopped   called once after a 410
 */

/**
 * @typedef {object} Beacon
 * @property {ViewRecord} view
 * @property {number} batchSeq
 * @property {Record<string, unknown>[]} events
 */

const QUEUE_EVICTION_ORDER = [EventType.HEARTBEAT, EventType.REQUEST_COMPLETED];

/**
 * @param {string | null | undefined} header  delta-seconds or an HTTP date
 * @param {number} now
 * @returns {number | null} milliseconds to wait, or null when absent or unreadable
 */
export function parseRetryAfter(header, now) {
  if (typeof header !== 'string' || header.trim() === '') return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, when - now);
}

/**
 * "Equal jitter" backoff: half the exponential step for sure, the other half at random, so
 * retries spread out but never collapse to zero.
 * @param {number} attempt  1 for the first retry
 * @param {RetryOptions} retry
 * @param {number} random  uniform in [0, 1)
 * @param {number | null} retryAfterMs
 * @returns {number}
 */
export function backoffDelay(attempt, retry, random, retryAfterMs) {
  const step = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  const jittered = step / 2 + (random * step) / 2;
  if (retryAfterMs === null) return Math.round(jittered);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs, retry.maxRetryAfterMs)));
}

/**
 * @param {number} status
 * @returns {'ok' | 'retry' | 'drop' | 'stop'}
 */
export function classifyStatus(status) {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 410) return 'stop';
  if (status === 0 || status === 408 || status === 429 || status >= 500) return 'retry';
  return 'drop';
}

export class Transport {
  /** @param {TransportOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {{ view: ViewRecord, event: Record<string, unknown> }[]} */
    this.queue = [];
    /** @type {Beacon | null} a beacon waiting for its retry */
    this.pending = null;
    /** @type {Beacon | null} */
    this.inFlight = null;
    this.attempt = 0;
    /** @type {unknown} */
    this.retryTimer = null;
    this.flushRequested = false;
    this.stopped = false;
    this.stats = { sent: 0, retried: 0, droppedEvents: 0, droppedBeacons: 0 };
  }

  /**
   * @param {ViewRecord} view
   * @param {Record<string, unknown>} event
   */
  enqueue(view, event) {
    if (this.stopped) return;
    if (this.queue.length >= this.options.maxQueuedEvents && !this.evictFor(event)) {
      this.stats.droppedEvents += 1;
      return;
    }
    this.queue.push({ view, event });
  }

  /**
   * Makes room for `incoming` by dropping the least useful queued event.
   * @param {Record<string, unknown>} incoming
   * @returns {boolean} whether `incoming` may be queued
   */
  evictFor(incoming) {
    for (const type of QUEUE_EVICTION_ORDER) {
      const index = this.queue.findIndex((item) => item.event.type === type);
      if (index >= 0) {
        this.queue.splice(index, 1);
        this.stats.droppedEvents += 1;
        return true;
      }
      if (incoming.type === type) return false;
    }
    return false;
  }

  get queuedEvents() {
    return this.queue.length;
  }

  /** Sends everything queued now, one beacon after another (unless backing off). */
  flush() {
    if (this.stopped) return;
    this.flushRequested = true;
    this.pump();
  }

  pump() {
    if (this.stopped || this.inFlight || this.retryTimer !== null) return;
    const beacon = this.pending ?? (this.flushRequested ? this.takeBeacon() : null);
    this.pending = null;
    if (!beacon) {
      this.flushRequested = false;
      return;
    }
    this.send(beacon);
  }

  /** @returns {Beacon | null} */
  takeBeacon() {
    if (this.queue.length === 0) return null;
    const view = this.queue[0].view;
    let n = 0;
    while (n < this.queue.length && n < this.options.maxEventsPerBeacon && this.queue[n].view === view) n += 1;
    const events = this.queue.splice(0, n).map((item) => item.event);
    const batchSeq = view.nextBatchSeq;
    view.nextBatchSeq += 1;
    return { view, batchSeq, events };
  }

  /**
   * @param {Beacon} beacon
   * @returns {string}
   */
  body(beacon) {
    return JSON.stringify({
      version: SCHEMA_VERSION,
      property_key: this.options.propertyKey, // undefined: JSON.stringify leaves the field out
      view_id: beacon.view.id,
      viewer_id: this.options.viewerId,
      batch_seq: beacon.batchSeq,
      sent_at: Math.round(this.options.env.now()),
      sdk: this.options.sdk,
      context: beacon.view.context,
      events: beacon.events,
    });
  }

  /** @param {Beacon} beacon */
  send(beacon) {
    const { env, sink } = this.options;
    if (typeof env.fetch !== 'function') {
      this.drop(beacon, 'fetch is unavailable');
      this.pump();
      return;
    }
    this.inFlight = beacon;
    const controller = typeof env.AbortController === 'function' ? new env.AbortController() : null;
    const timer = env.setTimeout(() => controller?.abort(), this.options.requestTimeoutMs);
    /** @type {Promise<ResponseLike>} */
    let request;
    try {
      request = Promise.resolve(
        env.fetch(this.options.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: this.body(beacon),
          credentials: 'omit',
          ...(controller ? { signal: controller.signal } : {}),
        }),
      );
    } catch (error) {
      request = Promise.reject(error);
    }
    request
      .then(
        (response) => [Number(response?.status) || 0, readHeader(response, 'Retry-After')],
        () => [0, null],
      )
      .then(([status, retryAfter]) => {
        env.clearTimeout(timer);
        if (this.inFlight !== beacon) return; // handed to sendBeacon at unload meanwhile
        this.inFlight = null;
        this.finish(beacon, /** @type {number} */ (status), /** @type {string | null} */ (retryAfter));
      })
      .catch((error) => sink(error, 'transport.send'));
  }

  /**
   * @param {Beacon} beacon
   * @param {number} status
   * @param {string | null} retryAfter
   */
  finish(beacon, status, retryAfter) {
    const outcome = classifyStatus(status);
    const report = { viewId: beacon.view.id, batchSeq: beacon.batchSeq, events: beacon.events.length, status };
    if (outcome === 'ok') {
      this.attempt = 0;
      this.stats.sent += 1;
      this.options.onSend({ ...report, outcome: 'sent' });
    } else if (outcome === 'stop') {
      this.options.onSend({ ...report, outcome: 'stopped' });
      this.stop();
      this.options.onStopped();
      return;
    } else if (outcome === 'retry' && this.attempt + 1 < this.options.retry.maxAttempts) {
      this.scheduleRetry(beacon, status, retryAfter, report);
      return;
    } else {
      this.attempt = 0;
      this.drop(beacon, `beacon refused with HTTP ${status}`);
      this.options.onSend({ ...report, outcome: 'dropped' });
    }
    this.pump();
  }

  /**
   * @param {Beacon} beacon
   * @param {number} status
   * @param {string | null} retryAfter
   * @param {Omit<SendReport, 'outcome'>} report
   */
  scheduleRetry(beacon, status, retryAfter, report) {
    const { env, retry } = this.options;
    this.attempt += 1;
    this.stats.retried += 1;
    this.pending = beacon;
    const honoured = status === 429 || status >= 500 ? parseRetryAfter(retryAfter, env.now()) : null;
    const delay = backoffDelay(this.attempt, retry, env.random(), honoured);
    this.retryTimer = env.setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, delay);
    this.options.onSend({ ...report, outcome: 'retry', retryInMs: delay });
  }

  /**
   * @param {Beacon} beacon
   * @param {string} why
   */
  drop(beacon, why) {
    this.stats.droppedBeacons += 1;
    this.stats.droppedEvents += beacon.events.length;
    this.options.sink(new Error(`${why}; dropped ${beacon.events.length} events of view ${beacon.view.id}`), 'transport');
  }

  /** Page is going away: hand everything to the browser, which sends it after we are gone. */
  flushOnUnload() {
    if (this.stopped) return;
    if (this.retryTimer !== null) this.options.env.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    /** @type {Beacon[]} */
    const beacons = [this.inFlight, this.pending].filter((b) => b !== null);
    this.inFlight = null;
    this.pending = null;
    this.attempt = 0;
    for (let beacon = this.takeBeacon(); beacon; beacon = this.takeBeacon()) beacons.push(beacon);
    for (const beacon of beacons) this.sendWhileUnloading(beacon);
  }

  /** @param {Beacon} beacon */
  sendWhileUnloading(beacon) {
    const { env, url, sink } = this.options;
    const body = this.body(beacon);
    const report = { viewId: beacon.view.id, batchSeq: beacon.batchSeq, events: beacon.events.length, status: 0 };
    try {
      const data = typeof env.Blob === 'function' ? new env.Blob([body], { type: 'text/plain' }) : body;
      if (typeof env.sendBeacon === 'function' && env.sendBeacon(url, data)) {
        this.options.onSend({ ...report, outcome: 'unload' });
        return;
      }
    } catch (error) {
      sink(error, 'transport.sendBeacon');
    }
    if (typeof env.fetch !== 'function') return;
    try {
      const init = { method: 'POST', body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } };
      Promise.resolve(env.fetch(url, init)).catch(() => undefined);
      this.options.onSend({ ...report, outcome: 'unload' });
    } catch (error) {
      sink(error, 'transport.keepalive');
    }
  }

  /** After a 410, or when the tracker is destroyed. */
  stop() {
    this.stopped = true;
    if (this.retryTimer !== null) this.options.env.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.queue = [];
    this.pending = null;
    this.inFlight = null;
  }
}

/**
 * @param {ResponseLike | undefined} response
 * @param {string} name
 * @returns {string | null}
 */
function readHeader(response, name) {
  try {
    return response?.headers?.get(name) ?? null;
  } catch {
    return null;
  }
}
