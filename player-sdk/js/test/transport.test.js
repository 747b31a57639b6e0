import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createTracker } from '../src/index.js';
import { backoffDelay, classifyStatus, parseRetryAfter } from '../src/transport.js';
import { makeEnv, T0 } from './helpers/fakes.js';

const RETRY = { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 8, maxRetryAfterMs: 600_000 };

describe('retry policy', () => {
  it('classifies statuses: 2xx ok, 429/503/5xx/408/network retry, 400/422 drop, 410 stop', () => {
    assert.deepEqual(
      [202, 200, 429, 503, 500, 408, 0, 400, 422, 413, 410].map(classifyStatus),
      ['ok', 'ok', 'retry', 'retry', 'retry', 'retry', 'retry', 'drop', 'drop', 'drop', 'stop'],
    );
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('7', T0), 7000);
    assert.equal(parseRetryAfter(new Date(T0 + 30_000).toUTCString(), T0), 30_000);
    assert.equal(parseRetryAfter('soon', T0), null);
    assert.equal(parseRetryAfter(null, T0), null);
  });

  it('backs off exponentially with jitter between half and all of each step, capped', () => {
    const low = [1, 2, 3, 4, 10].map((a) => backoffDelay(a, RETRY, 0, null));
    const high = [1, 2, 3, 4, 10].map((a) => backoffDelay(a, RETRY, 0.999999, null));
    assert.deepEqual(low, [500, 1000, 2000, 4000, 30_000]);
    assert.deepEqual(high, [1000, 2000, 4000, 8000, 60_000]);
  });

  it('never retries sooner than Retry-After, and caps an absurd one', () => {
    assert.equal(backoffDelay(1, RETRY, 0.5, 20_000), 20_000);
    assert.equal(backoffDelay(1, RETRY, 0.5, 10), 750);
    assert.equal(backoffDelay(1, RETRY, 0.5, 86_400_000), 600_000);
  });
});

describe('sending with retries', () => {
  it('retries a 503 after its Retry-After and keeps batch_seq, then goes on in order', async () => {
    const { clock, network, options } = makeEnv();
    let calls = 0;
    network.respond = () => (++calls === 1 ? { status: 503, headers: { 'Retry-After': '5' } } : { status: 202 });
    /** @type {any[]} */
    const reports = [];
    const tracker = createTracker({ ...options, onSend: (r) => reports.push(r) });
    tracker.startView();
    await clock.advance(0);
    tracker.track('playback_start');
    tracker.track('ended');
    await clock.advance(4999);
    assert.equal(network.sent.length, 1, 'waits for Retry-After');
    await clock.advance(1);
    assert.deepEqual(network.sent.map((s) => [s.at - T0, s.body.batch_seq, s.body.events.length]), [
      [0, 0, 1],
      [5000, 0, 1],
      [5000, 1, 2],
    ]);
    assert.equal(network.sent[1].body.sent_at, T0 + 5000, 'sent_at is the clock when the copy left');
    assert.deepEqual(reports.map((r) => r.outcome), ['retry', 'sent', 'sent']);
  });

  it('retries 429 and network errors with growing delays', async () => {
    const { clock, network, options } = makeEnv();
    const answers = [{ status: 429 }, new TypeError('offline'), { status: 500 }, { status: 202 }];
    network.respond = () => answers.shift() ?? { status: 202 };
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(60_000);
    const gaps = network.sent.slice(1).map((s, i) => s.at - network.sent[i].at);
    assert.deepEqual(gaps, [750, 1500, 3000], 'random() is 0.5 in these fakes: 3/4 of each step');
    assert.equal(network.sent.length, 4);
  });

  it('drops a 400 or 422 beacon without retrying and sends the next one', async () => {
    const { clock, network, options, errors } = makeEnv();
    const answers = [{ status: 422 }, { status: 400 }];
    network.respond = () => answers.shift() ?? { status: 202 };
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(0);
    tracker.track('pause');
    tracker.flush();
    await clock.advance(0);
    tracker.track('resume');
    tracker.flush();
    await clock.advance(60_000);
    assert.deepEqual(network.sent.map((s) => s.body.batch_seq), [0, 1, 2]);
    assert.equal(tracker.stats.droppedBeacons, 2);
    assert.ok(errors.some((e) => /HTTP 422/.test(String(e.error))));
  });

  it('stops reporting for good after 410', async () => {
    const { clock, network, page, options } = makeEnv();
    network.respond = () => ({ status: 410 });
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(0);
    assert.equal(tracker.enabled, false);
    assert.equal(tracker.viewId, null);
    assert.equal(tracker.startView(), null);
    tracker.track('heartbeat');
    page.unload();
    await clock.advance(120_000);
    assert.equal(network.sent.length, 1);
    assert.equal(tracker.stats.stopped, true);
  });

  it('gives up on a beacon after maxAttempts and keeps the queue moving', async () => {
    const { clock, network, options } = makeEnv();
    network.respond = (sent) => (sent.body.batch_seq === 0 ? { status: 503 } : { status: 202 });
    const tracker = createTracker({ ...options, retry: { maxAttempts: 3 } });
    tracker.startView();
    await clock.advance(0);
    tracker.track('pause');
    await clock.advance(60_000);
    assert.deepEqual(network.sent.map((s) => s.body.batch_seq), [0, 0, 0, 1]);
    assert.equal(tracker.stats.droppedBeacons, 1);
  });

  it('holds one request in flight at a time and sends the backlog after it', async () => {
    const { clock, network, options } = makeEnv();
    /** @type {(() => void)[]} */
    const waiting = [];
    const fetch = (/** @type {string} */ url, /** @type {any} */ init) => {
      network.record('fetch', url, init, init.body, 'application/json');
      return new Promise((resolve) => waiting.push(() => resolve({ status: 202 })));
    };
    const tracker = createTracker({ ...options, env: { ...options.env, fetch } });
    tracker.startView();
    await clock.advance(0);
    tracker.track('playback_start');
    tracker.track('ended');
    await clock.advance(0);
    assert.equal(network.sent.length, 1);
    waiting.shift()?.();
    await clock.advance(0);
    assert.equal(network.sent.length, 2);
    assert.deepEqual(network.sent[1].body.events.map((/** @type {any} */ e) => e.type), ['playback_start', 'ended']);
  });

  it('aborts a request that hangs and retries it', async () => {
    const { clock, network, options } = makeEnv();
    let aborted = 0;
    class FakeAbortController {
      constructor() {
        /** @type {{ onabort: (() => void) | null }} */
        this.signal = { onabort: null };
      }
      abort() {
        aborted += 1;
        this.signal.onabort?.();
      }
    }
    let first = true;
    const fetch = (/** @type {string} */ url, /** @type {any} */ init) => {
      network.record('fetch', url, init, init.body, 'application/json');
      if (!first) return Promise.resolve({ status: 202 });
      first = false;
      return new Promise((_, reject) => {
        init.signal.onabort = () => reject(new Error('AbortError'));
      });
    };
    const tracker = createTracker({
      ...options,
      requestTimeoutMs: 3000,
      env: { ...options.env, fetch, AbortController: FakeAbortController },
    });
    tracker.startView();
    await clock.advance(3000 + 750);
    assert.equal(aborted, 1);
    assert.equal(network.sent.length, 2);
    assert.equal(network.sent[1].body.batch_seq, 0);
  });
});
