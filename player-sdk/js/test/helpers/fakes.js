/**
 * Fakes for the SDK's surroundings: a clock with timers, the network (fetch and sendBeacon),
 * storage, a media element and an hls.js event emitter (with hls.js's real Events constants).
 *
 * Importing this module registers a check that runs when the test file ends: every payload
 * that reached the fake network must validate against schemas/beacon.schema.json.
 */

import assert from 'node:assert/strict';
import { after } from 'node:test';

import Hls from 'hls.js';

import { checkPayload, counters, invalidPayloads } from './schema.js';

export const T0 = 1_790_000_000_000; // 2026-09-21, a fixed viewer clock

after(() => {
  assert.deepEqual(
    invalidPayloads.map((p) => p.errors),
    [],
    `payloads that do not match schemas/beacon.schema.json:\n${JSON.stringify(invalidPayloads, null, 1)}`,
  );
  assert.ok(counters.validated > 0 || process.env.QOE_ALLOW_NO_PAYLOADS, 'this test file sent no payload at all');
});

/** Lets pending promise callbacks run (fetch responses resolve through them). */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

export class FakeClock {
  constructor(start = T0) {
    this.t = start;
    /** @type {Map<number, { at: number, fn: () => void }>} */
    this.timers = new Map();
    this.nextId = 1;
    this.now = () => this.t;
    this.setTimeout = (/** @type {() => void} */ fn, /** @type {number} */ ms) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.t + Math.max(0, Number(ms) || 0), fn });
      return id;
    };
    this.clearTimeout = (/** @type {number} */ id) => {
      this.timers.delete(id);
    };
  }

  /** @returns {[number, { at: number, fn: () => void }] | undefined} */
  nextDue(/** @type {number} */ until) {
    let best;
    for (const entry of this.timers) {
      if (entry[1].at <= until && (!best || entry[1].at < best[1].at)) best = entry;
    }
    return best;
  }

  /** Moves time forward, firing due timers in order and letting promises settle between them. */
  async advance(/** @type {number} */ ms) {
    const end = this.t + ms;
    await settle();
    for (let due = this.nextDue(end); due; due = this.nextDue(end)) {
      const [id, timer] = due;
      this.timers.delete(id);
      this.t = Math.max(this.t, timer.at);
      timer.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

export class FakeBlob {
  /** @param {string[]} parts @param {{ type: string }} options */
  constructor(parts, options) {
    this.text = parts.join('');
    this.type = options?.type ?? '';
  }
}

/**
 * @typedef {object} Sent
 * @property {'fetch' | 'keepalive' | 'sendBeacon'} via
 * @property {string} url
 * @property {any} init
 * @property {any} body  parsed JSON
 * @property {number} at
 * @property {string} contentType
 */

export class FakeNetwork {
  /** @param {FakeClock} clock */
  constructor(clock) {
    this.clock = clock;
    /** @type {Sent[]} */
    this.sent = [];
    /** @type {(sent: Sent) => { status: number, headers?: Record<string, string> } | Error} */
    this.respond = () => ({ status: 202 });
    this.sendBeaconAccepts = true;
    this.fetch = (/** @type {string} */ url, /** @type {any} */ init) => {
      const sent = this.record(init.keepalive ? 'keepalive' : 'fetch', url, init, init.body, init.headers?.['Content-Type']);
      const answer = this.respond(sent);
      if (answer instanceof Error) return Promise.reject(answer);
      const headers = new Map(Object.entries(answer.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      return Promise.resolve({ status: answer.status, headers: { get: (/** @type {string} */ n) => headers.get(n.toLowerCase()) ?? null } });
    };
    this.sendBeacon = (/** @type {string} */ url, /** @type {any} */ data) => {
      if (!this.sendBeaconAccepts) return false;
      const text = data instanceof FakeBlob ? data.text : String(data);
      this.record('sendBeacon', url, null, text, data instanceof FakeBlob ? data.type : 'text/plain;charset=UTF-8');
      return true;
    };
  }

  /**
   * @param {Sent['via']} via
   * @param {string} url
   * @param {any} init
   * @param {string} text
   * @param {string} contentType
   * @returns {Sent}
   */
  record(via, url, init, text, contentType) {
    const body = JSON.parse(text);
    checkPayload(body);
    const sent = { via, url, init, body, at: this.clock.now(), contentType };
    this.sent.push(sent);
    return sent;
  }

  /** Every event that left, in order (retries included). */
  events() {
    return this.sent.flatMap((s) => s.body.events);
  }

  /** Event types that left, in order, without repeats caused by retries. */
  types() {
    const seen = new Set();
    const out = [];
    for (const s of this.sent) {
      const key = `${s.body.view_id}/${s.body.batch_seq}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(...s.body.events.map((/** @type {any} */ e) => e.type));
    }
    return out;
  }
}

export class FakeStorage {
  constructor(initial = {}) {
    /** @type {Map<string, string>} */
    this.map = new Map(Object.entries(initial));
  }
  getItem(/** @type {string} */ key) {
    return this.map.get(key) ?? null;
  }
  setItem(/** @type {string} */ key, /** @type {string} */ value) {
    this.map.set(key, String(value));
  }
}

/** A fake page: window and document that take listeners and can be hidden or unloaded. */
export class FakePage {
  constructor() {
    this.window = new EventTarget();
    Object.assign(this.window, { devicePixelRatio: 2, location: { href: 'https://example.test/watch?v=bbb' } });
    this.document = new EventTarget();
    Object.assign(this.document, { visibilityState: 'visible' });
  }
  hide() {
    this.document.visibilityState = 'hidden';
    this.document.dispatchEvent(new Event('visibilitychange'));
  }
  unload() {
    this.window.dispatchEvent(new Event('pagehide'));
  }
}

/**
 * Everything a tracker needs, faked; `options` adds tracker options.
 * @param {Record<string, any>} [overrides]
 */
export function makeEnv(overrides = {}) {
  const clock = new FakeClock();
  const network = new FakeNetwork(clock);
  const storage = new FakeStorage();
  const page = new FakePage();
  let n = 0;
  const env = {
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 0.5,
    randomUUID: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    fetch: network.fetch,
    sendBeacon: network.sendBeacon,
    Blob: FakeBlob,
    AbortController: undefined,
    storage,
    window: page.window,
    document: page.document,
    ResizeObserver: undefined,
    ...overrides,
  };
  /** @type {{ error: unknown, where: string }[]} */
  const errors = [];
  const options = {
    endpoint: 'https://qoe.example.test/',
    context: { title_id: 'bbb', title: 'Big Buck Bunny' },
    env,
    onError: (/** @type {unknown} */ error, /** @type {string} */ where) => errors.push({ error, where }),
  };
  return { clock, network, storage, page, env, options, errors };
}

class FakeTimeRanges {
  constructor() {
    /** @type {[number, number][]} */
    this.ranges = [];
  }
  get length() {
    return this.ranges.length;
  }
  start(/** @type {number} */ i) {
    return this.ranges[i][0];
  }
  end(/** @type {number} */ i) {
    return this.ranges[i][1];
  }
}

/** A media element with the properties and events the SDK reads, driven step by step. */
export class FakeVideo extends EventTarget {
  constructor() {
    super();
    this.currentTime = 0;
    this.paused = true;
    this.ended = false;
    this.seeking = false;
    this.readyState = 0;
    this.autoplay = false;
    this.currentSrc = 'https://cdn.example.test/bbb.mp4';
    this.clientWidth = 640;
    this.clientHeight = 360;
    this.buffered = new FakeTimeRanges();
    /** @type {{ code: number, message: string } | null} */
    this.error = null;
    this.dropped = 0;
    this.total = 0;
  }
  getVideoPlaybackQuality() {
    return { droppedVideoFrames: this.dropped, totalVideoFrames: this.total, creationTime: 0 };
  }
  /** @param {string} type */
  fire(type) {
    this.dispatchEvent(new Event(type));
    return this;
  }
  /** @param {number} seconds of buffer ahead of the playhead */
  buffer(seconds) {
    this.buffered.ranges = [[0, this.currentTime + seconds]];
    return this;
  }
  play() {
    this.paused = false;
    this.ended = false;
    return this.fire('play');
  }
  playing() {
    this.readyState = 4;
    return this.fire('playing');
  }
  /** @param {number} seconds */
  advance(seconds) {
    this.currentTime += seconds;
    this.total += Math.round(seconds * 25);
    return this.fire('timeupdate');
  }
  pause() {
    this.paused = true;
    return this.fire('pause');
  }
  waiting() {
    this.readyState = 2;
    return this.fire('waiting');
  }
  /** @param {number} to */
  seek(to) {
    this.seeking = true;
    this.currentTime = to;
    return this.fire('seeking').fire('timeupdate');
  }
  seeked() {
    this.seeking = false;
    return this.fire('seeked');
  }
  end() {
    this.paused = true;
    this.ended = true;
    return this.fire('pause').fire('ended');
  }
  /** @param {number} code @param {string} message */
  fail(code, message) {
    this.error = { code, message };
    return this.fire('error');
  }
}

/** An hls.js-shaped emitter: on/off/emit, levels, and hls.js's own Events constants. */
export class FakeHls {
  static Events = Hls.Events;
  static version = Hls.version;

  constructor() {
    /** @type {Map<string, Set<(event: string, data: any) => void>>} */
    this.listeners = new Map();
    /** @type {any[]} */
    this.levels = [];
    this.currentLevel = -1;
    this.loadLevel = -1;
  }
  on(/** @type {string} */ name, /** @type {(event: string, data: any) => void} */ fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name)?.add(fn);
  }
  off(/** @type {string} */ name, /** @type {(event: string, data: any) => void} */ fn) {
    this.listeners.get(name)?.delete(fn);
  }
  emit(/** @type {string} */ name, /** @type {any} */ data = {}) {
    for (const fn of this.listeners.get(name) ?? []) fn(name, data);
  }
  listenerCount() {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}

/** A level like hls.js's Level. */
export function level(/** @type {Record<string, any>} */ fields) {
  const attrs = fields.pathwayId ? { 'PATHWAY-ID': fields.pathwayId } : {};
  return { frameRate: 25, videoCodec: 'avc1.4d401e', attrs, pathwayId: fields.pathwayId ?? '.', ...fields };
}

/** LoaderStats as hls.js fills them (performance.now()-based times). */
export function loaderStats(/** @type {number} */ bytes, /** @type {number} */ start, /** @type {number} */ first, /** @type {number} */ end) {
  return { loaded: bytes, total: bytes, aborted: false, retry: 0, chunkCount: 1, bwEstimate: 0, loading: { start, first, end }, parsing: { start: end, end }, buffering: { start: end, first: end, end } };
}
