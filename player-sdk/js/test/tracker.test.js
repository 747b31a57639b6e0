import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createTracker } from '../src/index.js';
import { SAMPLE_DRAW_KEY, VIEWER_ID_KEY } from '../src/identity.js';
import { SDK_NAME, SDK_VERSION } from '../src/version.js';
import { FakeStorage, makeEnv, T0 } from './helpers/fakes.js';

describe('views and beacons', () => {
  it('starts a view with a new id and sends playback_request at once, with every envelope field', async () => {
    const { clock, network, options } = makeEnv();
    const tracker = createTracker(options);
    const viewId = tracker.startView({ autoplay: true });
    await clock.advance(0);

    assert.equal(network.sent.length, 1);
    const [sent] = network.sent;
    assert.equal(sent.url, 'https://qoe.example.test/v1/beacons');
    assert.equal(sent.via, 'fetch');
    assert.equal(sent.init.method, 'POST');
    assert.equal(sent.contentType, 'application/json');
    assert.deepEqual(
      { ...sent.body, context: undefined },
      {
        version: 1,
        view_id: viewId,
        viewer_id: tracker.viewerId,
        batch_seq: 0,
        sent_at: T0,
        sdk: { name: SDK_NAME, version: SDK_VERSION },
        context: undefined,
        events: [{ type: 'playback_request', ts: T0, playhead_ms: 0, seq: 0, autoplay: true }],
      },
    );
    assert.equal(sent.body.context.title_id, 'bbb');
    assert.equal(sent.body.context.page_url, 'https://example.test/watch?v=bbb');
  });

  it('numbers events per view and beacons per view, and a new view starts both at zero', async () => {
    const { clock, network, options } = makeEnv();
    const tracker = createTracker(options);
    const first = tracker.startView();
    tracker.track('playback_start', {}, 0);
    await clock.advance(0);
    tracker.track('pause', {}, 1500.4);
    tracker.endView('user_exit', 1500);
    const second = tracker.startView();
    await clock.advance(0);

    assert.notEqual(first, second);
    const byView = (/** @type {string|null} */ id) => network.sent.filter((s) => s.body.view_id === id);
    assert.deepEqual(byView(first).map((s) => s.body.batch_seq), [0, 1]);
    assert.deepEqual(byView(first).flatMap((s) => s.body.events.map((/** @type {any} */ e) => e.seq)), [0, 1, 2, 3]);
    assert.deepEqual(byView(second).map((s) => s.body.batch_seq), [0]);
    assert.equal(byView(second)[0].body.events[0].seq, 0);
    const pause = network.events().find((e) => e.type === 'pause');
    assert.equal(pause.playhead_ms, 1500, 'playhead is an integer');
    assert.deepEqual(network.events().find((e) => e.type === 'view_end').reason, 'user_exit');
  });

  it('keeps ordinary events for the 10 s flush and sends them together', async () => {
    const { clock, network, options } = makeEnv();
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(0);
    await clock.advance(1000);
    tracker.track('heartbeat', { buffer_ms: 0 }, 0);
    await clock.advance(5000);
    for (let i = 1; i < 5; i += 1) tracker.track('heartbeat', { buffer_ms: 1000 * i }, 1000 * i);
    await clock.advance(4999);
    assert.equal(network.sent.length, 1, 'the oldest event has not waited 10 s yet');
    await clock.advance(1);
    assert.equal(network.sent.length, 2);
    assert.equal(network.sent[1].body.events.length, 5);
    assert.equal(network.sent[1].at, T0 + 11_000);
  });

  it('flushes at once on ended and on a fatal error, not on a non-fatal one', async () => {
    const { clock, network, options } = makeEnv();
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(0);
    tracker.track('error', { code: 'fragLoadError', message: 'x', fatal: false });
    await clock.advance(0);
    assert.equal(network.sent.length, 1);
    tracker.track('error', { code: 'manifestLoadError', message: 'y', fatal: true });
    await clock.advance(0);
    assert.equal(network.sent.length, 2);
    assert.deepEqual(network.sent[1].body.events.map((/** @type {any} */ e) => e.fatal), [false, true]);
    tracker.track('ended');
    await clock.advance(0);
    assert.equal(network.sent.length, 3);
  });

  it('sends what is left with sendBeacon as a text/plain Blob on pagehide, ending the view', async () => {
    const { clock, network, page, options } = makeEnv();
    const tracker = createTracker(options);
    const viewId = tracker.startView();
    await clock.advance(0);
    tracker.track('heartbeat', {}, 4000);
    page.unload();

    const last = network.sent.at(-1);
    assert.equal(last?.via, 'sendBeacon');
    assert.equal(last?.contentType, 'text/plain');
    assert.deepEqual(last?.body.events.map((/** @type {any} */ e) => e.type), ['heartbeat', 'view_end']);
    assert.equal(last?.body.events[1].reason, 'unload');
    assert.equal(last?.body.view_id, viewId);
    assert.equal(tracker.viewId, null);
  });

  it('flushes through sendBeacon when the page is hidden, and keeps the view open', async () => {
    const { clock, network, page, options } = makeEnv();
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(0);
    tracker.track('heartbeat', {}, 1000);
    page.hide();
    assert.equal(network.sent.at(-1)?.via, 'sendBeacon');
    assert.ok(tracker.viewId);
  });

  it('falls back to fetch keepalive when sendBeacon refuses (or is missing)', async () => {
    const { clock, network, page, options } = makeEnv();
    network.sendBeaconAccepts = false;
    const tracker = createTracker(options);
    tracker.startView();
    await clock.advance(0);
    tracker.track('heartbeat', {}, 1000);
    page.unload();
    const last = network.sent.at(-1);
    assert.equal(last?.via, 'keepalive');
    assert.equal(last?.init.keepalive, true);
    assert.equal(last?.contentType, 'text/plain');
  });

  it('resends a beacon that was still in flight at unload with the same batch_seq, so the server can drop the copy', async () => {
    const { clock, network, page, options } = makeEnv();
    /** @type {(v: any) => void} */
    let release = () => undefined;
    network.fetch = (url, init) => {
      network.record('fetch', url, init, init.body, 'application/json');
      return new Promise((resolve) => {
        release = resolve;
      });
    };
    const tracker = createTracker({ ...options, env: { ...options.env, fetch: network.fetch } });
    tracker.startView();
    await clock.advance(0);
    page.unload();
    release({ status: 202 });
    await clock.advance(0);
    const copies = network.sent.filter((s) => s.body.batch_seq === 0);
    assert.deepEqual(copies.map((s) => s.via), ['fetch', 'sendBeacon']);
  });
});

describe('property key', () => {
  const KEY = 'qoe_pk_0123456789abcdef01234567';

  it('travels in every beacon: fetch, sendBeacon at unload and the keepalive fallback', async () => {
    const { clock, network, page, options } = makeEnv();
    const tracker = createTracker({ ...options, propertyKey: KEY });
    tracker.startView();
    await clock.advance(0);
    tracker.track('heartbeat', {}, 1000);
    page.hide();
    tracker.track('pause', {}, 2000);
    network.sendBeaconAccepts = false;
    page.unload();

    assert.deepEqual(network.sent.map((s) => s.via), ['fetch', 'sendBeacon', 'keepalive']);
    assert.deepEqual(network.sent.map((s) => s.body.property_key), [KEY, KEY, KEY]);
  });

  it('is left out of the beacon when the option is omitted (or null)', async () => {
    const { clock, network, page, options } = makeEnv();
    for (const propertyKey of [undefined, null]) createTracker({ ...options, propertyKey }).startView();
    await clock.advance(0);
    page.unload();
    assert.ok(network.sent.some((s) => s.via === 'sendBeacon'));
    assert.ok(network.sent.every((s) => !('property_key' in s.body)));
  });

  it('refuses a malformed key with a TypeError naming the option, and the tracker stays inert', async () => {
    for (const propertyKey of ['', 'qoe_pk_0123456789ABCDEF01234567', KEY.slice(0, -1), `${KEY}0`, `${KEY}\n`, 42]) {
      const { clock, network, options, errors } = makeEnv();
      const tracker = createTracker({ ...options, propertyKey: /** @type {any} */ (propertyKey) });
      assert.equal(tracker.startView(), null, JSON.stringify(propertyKey));
      await clock.advance(10_000);
      assert.equal(network.sent.length, 0);
      assert.equal(errors.length, 1);
      assert.ok(errors[0].error instanceof TypeError);
      assert.match(String(errors[0].error), /propertyKey/);
    }
  });
});

describe('caps', () => {
  it('splits a large queue into beacons of at most 300 events, in order', async () => {
    const { clock, network, options } = makeEnv();
    const tracker = createTracker(options);
    tracker.startView();
    for (let i = 0; i < 700; i += 1) tracker.track('heartbeat', {}, i);
    await clock.advance(0);
    assert.deepEqual(network.sent.map((s) => s.body.events.length), [300, 300, 101]);
    assert.deepEqual(network.sent.map((s) => s.body.batch_seq), [0, 1, 2]);
    const seqs = network.events().map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  });

  it('drops heartbeats first when the queue is full', async () => {
    const { clock, network, options } = makeEnv();
    network.respond = () => ({ status: 503 });
    const tracker = createTracker({ ...options, maxQueuedEvents: 20, retry: { maxAttempts: 100 } });
    tracker.startView();
    await clock.advance(0); // playback_request is now pending retry, outside the queue
    for (let i = 0; i < 10; i += 1) tracker.track('heartbeat', {}, i * 1000);
    for (let i = 0; i < 10; i += 1) tracker.track('seek_start', { target_ms: i }, i);
    for (let i = 0; i < 5; i += 1) tracker.track('seek_end', {}, i);
    assert.equal(tracker.stats.queued, 20);
    assert.equal(tracker.stats.droppedEvents, 5);

    network.respond = () => ({ status: 202 });
    await clock.advance(120_000);
    const types = network.types();
    assert.equal(types.filter((t) => t === 'heartbeat').length, 5, 'five oldest heartbeats made room');
    assert.equal(types.filter((t) => t === 'seek_start').length, 10);
    assert.equal(types.filter((t) => t === 'seek_end').length, 5);
  });

  it('refuses a new heartbeat rather than dropping other events when no heartbeat is queued', () => {
    const { network, options } = makeEnv();
    network.respond = () => ({ status: 503 });
    const tracker = createTracker({ ...options, maxQueuedEvents: 3 });
    tracker.startView();
    tracker.track('pause');
    tracker.track('resume');
    tracker.track('heartbeat');
    assert.equal(tracker.stats.queued, 3);
    assert.equal(tracker.stats.droppedEvents, 1);
  });
});

describe('identity and sampling', () => {
  it('keeps the viewer id in storage and reuses it', () => {
    const { options, storage } = makeEnv();
    const first = createTracker(options).viewerId;
    assert.equal(storage.getItem(VIEWER_ID_KEY), first);
    assert.equal(createTracker(options).viewerId, first);
    assert.match(first, /^[A-Za-z0-9_.:-]{1,64}$/);
  });

  it('uses the page viewer id when valid, and ignores one the server would refuse', () => {
    const { options } = makeEnv();
    assert.equal(createTracker({ ...options, viewerId: 'user-42' }).viewerId, 'user-42');
    assert.notEqual(createTracker({ ...options, viewerId: 'has space' }).viewerId, 'has space');
  });

  it('samples per viewer with a persisted draw: all in or all out', async () => {
    const { clock, network, options } = makeEnv({ storage: new FakeStorage({ [SAMPLE_DRAW_KEY]: '0.7' }) });
    const out = createTracker({ ...options, sampleRate: 0.5 });
    assert.equal(out.sampled, false);
    assert.equal(out.startView(), null);
    out.track('heartbeat');
    await clock.advance(20_000);
    assert.equal(network.sent.length, 0);

    const inside = createTracker({ ...options, sampleRate: 0.8 });
    assert.equal(inside.sampled, true);
    assert.ok(inside.startView());
  });

  it('draws once and stores the draw', () => {
    let draws = 0;
    const { options, storage } = makeEnv({ random: () => ((draws += 1), 0.25) });
    createTracker({ ...options, sampleRate: 0.1 });
    createTracker({ ...options, sampleRate: 0.1 });
    assert.equal(storage.getItem(SAMPLE_DRAW_KEY), '0.25');
    assert.equal(draws, 1);
  });

  it('works when storage throws (private mode), keeping the id for the page', () => {
    const broken = {
      getItem() {
        throw new Error('SecurityError');
      },
      setItem() {
        throw new Error('QuotaExceededError');
      },
    };
    const { options } = makeEnv({ storage: broken });
    const tracker = createTracker(options);
    assert.ok(tracker.viewerId);
    assert.ok(tracker.startView());
  });
});

describe('what is sent is what the server accepts', () => {
  it('cleans the context: unknown fields dropped, bad country dropped, long strings cut, custom capped', async () => {
    const { clock, network, options } = makeEnv();
    const custom = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, `v${i}`]));
    const tracker = createTracker({
      ...options,
      context: { title: 'x'.repeat(600), country: 'norway', surprise: 1, asn: 1e12, stream_type: 'vod', custom },
    });
    tracker.startView();
    await clock.advance(0);
    const { context } = network.sent[0].body;
    assert.equal(context.title.length, 512);
    assert.equal(context.country, undefined);
    assert.equal(context.surprise, undefined);
    assert.equal(context.asn, 4_294_967_295);
    assert.equal(Object.keys(context.custom).length, 10);
  });

  it('refuses an event that lacks a required field instead of poisoning the batch', async () => {
    const { clock, network, options, errors } = makeEnv();
    const tracker = createTracker(options);
    tracker.startView();
    assert.equal(tracker.track('rendition_change', { bitrate_kbps: 0 }), false);
    assert.equal(tracker.track('warp'), false);
    assert.equal(tracker.track('player_resize', { width: 1280.6, height: -3 }), true);
    await clock.advance(10_000);
    assert.deepEqual(network.types(), ['playback_request', 'player_resize']);
    const resize = network.events()[1];
    assert.deepEqual([resize.width, resize.height, resize.seq], [1281, 0, 1]);
    assert.equal(errors.length, 2);
  });
});

describe('never throws into the page', () => {
  it('gives an inert tracker for missing options', () => {
    /** @type {unknown[]} */
    const errors = [];
    // @ts-expect-error: deliberately wrong
    const tracker = createTracker({ onError: (e) => errors.push(e) });
    assert.equal(tracker.startView(), null);
    assert.equal(tracker.track('heartbeat'), false);
    tracker.flush();
    tracker.destroy();
    assert.equal(errors.length, 1);
    // @ts-expect-error: deliberately wrong
    assert.doesNotThrow(() => createTracker(undefined).startView());
  });

  it('survives fetch throwing synchronously, a throwing onError and a throwing onViewStart', async () => {
    const { clock, options } = makeEnv({
      fetch: () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const tracker = createTracker({
      ...options,
      retry: { maxAttempts: 2 },
      onError: () => {
        throw new Error('the page hook is broken too');
      },
      onViewStart: () => {
        throw new Error('page bug');
      },
    });
    assert.doesNotThrow(() => tracker.startView());
    await clock.advance(60_000);
    assert.equal(tracker.stats.droppedBeacons, 1);
  });
});
