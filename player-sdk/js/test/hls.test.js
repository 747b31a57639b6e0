import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import Hls from 'hls.js';

import { HLS_EVENTS, trackHls } from '../src/index.js';
import { failedRequestKind, responseHeader } from '../src/adapters/hls.js';
import { FakeHls, FakeVideo, level, loaderStats, makeEnv } from './helpers/fakes.js';

const E = Hls.Events;
const LADDER = [
  level({ bitrate: 400_000, width: 426, height: 240 }),
  level({ bitrate: 900_000, width: 640, height: 360 }),
  level({ bitrate: 2_000_000, width: 960, height: 540, frameRate: 29.97, videoCodec: 'avc1.64001f' }),
];

function setup(/** @type {Record<string, any>} */ extra = {}) {
  const env = makeEnv();
  const video = new FakeVideo();
  const hls = new FakeHls();
  hls.levels = extra.levels ?? LADDER;
  const monitor = trackHls(hls, video, { ...env.options, ...extra.options });
  const find = (/** @type {string} */ type) => env.network.events().filter((e) => e.type === type);
  const flush = async () => {
    monitor.tracker.flush();
    await env.clock.advance(0);
  };
  /** Loads the manifest, picks a start level and plays to the first frame. */
  const start = async (startLevel = 0) => {
    hls.emit(E.MANIFEST_LOADING, { url: 'https://cdn-a.example.test/bbb/master.m3u8' });
    hls.currentLevel = startLevel;
    hls.emit(E.LEVEL_SWITCHED, { level: startLevel });
    video.play();
    video.playing();
    video.advance(0.1);
    await env.clock.advance(0);
  };
  return { ...env, video, hls, monitor, find, flush, start };
}

/** An XMLHttpRequest as hls.js's XHR loader leaves it. */
function xhr(/** @type {number} */ status, /** @type {Record<string, string>} */ headers) {
  return {
    status,
    getAllResponseHeaders: () => Object.entries(headers).map(([k, v]) => `${k.toLowerCase()}: ${v}\r\n`).join(''),
  };
}

function fragLoaded(/** @type {any} */ networkDetails, sn = 3, bytes = 250_000) {
  return { frag: { sn, type: 'main', stats: loaderStats(bytes, 1000.2, 1040.7, 1300.9) }, part: null, networkDetails };
}

describe('hls.js constants', () => {
  it('uses the event names of the real hls.js', () => {
    for (const [key, name] of Object.entries(HLS_EVENTS)) assert.equal(name, /** @type {any} */ (E)[key], key);
  });

  it('reports hls.js as the player with its version', async () => {
    const t = setup();
    await t.start();
    assert.equal(t.network.sent[0].body.context.player_name, 'hls.js');
    assert.equal(t.network.sent[0].body.context.player_version, Hls.version);
  });

  it('passes the property key through to the tracker it creates', async () => {
    const t = setup({ options: { propertyKey: 'qoe_pk_0123456789abcdef01234567' } });
    await t.start();
    assert.equal(t.network.sent[0].body.property_key, 'qoe_pk_0123456789abcdef01234567');
  });
});

describe('renditions', () => {
  it('repeats the rendition chosen before play at the start of the view, then reports switches', async () => {
    const t = setup();
    await t.start(1);
    t.hls.currentLevel = 2;
    t.hls.emit(E.LEVEL_SWITCHED, { level: 2 });
    t.hls.emit(E.LEVEL_SWITCHED, { level: 2 }); // no change, no event
    await t.flush();
    assert.deepEqual(
      t.find('rendition_change').map((e) => [e.bitrate_kbps, e.width, e.height, e.framerate, e.codec]),
      [
        [900, 640, 360, 25, 'avc1.4d401e'],
        [2000, 960, 540, 29.97, 'avc1.64001f'],
      ],
    );
    const types = t.network.types();
    assert.ok(types.indexOf('rendition_change') < types.indexOf('playback_start'));
  });

  it('skips a level without a bitrate rather than send one the server refuses', async () => {
    const t = setup({ levels: [level({ bitrate: 0, width: 1, height: 1 })] });
    await t.start(0);
    await t.flush();
    assert.equal(t.find('rendition_change').length, 0);
    assert.equal(t.errors.length, 0);
  });
});

describe('requests and CDN', () => {
  it('turns FRAG_LOADED into request_completed with bytes, timings, status and the X-CDN header', async () => {
    const t = setup();
    await t.start();
    t.hls.emit(E.FRAG_LOADED, fragLoaded(xhr(200, { 'X-CDN': 'edge-fra', 'Content-Type': 'video/mp4' })));
    t.hls.emit(E.FRAG_LOADED, fragLoaded(xhr(200, {}), 'initSegment', 800));
    await t.flush();
    const [seg, init] = t.find('request_completed');
    assert.deepEqual(
      { kind: seg.kind, bytes: seg.bytes, duration_ms: seg.duration_ms, ttfb_ms: seg.ttfb_ms, status: seg.status, cdn: seg.cdn },
      { kind: 'segment', bytes: 250_000, duration_ms: 301, ttfb_ms: 41, status: 200, cdn: 'edge-fra' },
    );
    assert.equal(init.kind, 'init');
    assert.equal(init.cdn, undefined, 'no header and no steering: no CDN');
    assert.equal(t.network.sent.at(-1)?.body.context.cdn, 'edge-fra', 'the first CDN seen names the view');
  });

  it('names the view after a CDN seen while preloading, before play intent', async () => {
    const t = setup();
    t.hls.emit(E.MANIFEST_LOADING, { url: 'https://cdn-a.example.test/bbb/master.m3u8' });
    t.hls.emit(E.FRAG_LOADED, fragLoaded(xhr(200, { 'X-CDN': 'edge-osl' })));
    await t.start();
    assert.equal(t.network.sent[0].body.context.cdn, 'edge-osl');
    assert.equal(t.find('request_completed').length, 0, 'requests before the view are not part of it');
  });

  it('reads the header from a fetch Response too', () => {
    const response = { status: 200, headers: new Map([['x-cdn', 'cdn-b']]) };
    assert.equal(responseHeader({ headers: { get: (/** @type {string} */ n) => response.headers.get(n.toLowerCase()) } }, 'X-CDN'), 'cdn-b');
    assert.equal(responseHeader(null, 'X-CDN'), undefined);
  });

  it('keeps a CDN named by the page', async () => {
    const t = setup({ options: { context: { cdn: 'contracted-cdn' } } });
    await t.start();
    t.hls.emit(E.FRAG_LOADED, fragLoaded(xhr(200, { 'X-CDN': 'edge-fra' })));
    await t.flush();
    assert.equal(t.network.sent.at(-1)?.body.context.cdn, 'contracted-cdn');
  });

  it('reports playlist loads as manifest requests and marks live streams', async () => {
    const t = setup();
    await t.start();
    t.hls.emit(E.LEVEL_LOADED, { details: { live: true }, stats: loaderStats(900, 10, 20, 30), networkDetails: xhr(200, {}) });
    await t.flush();
    assert.equal(t.find('request_completed')[0].kind, 'manifest');
    assert.equal(t.network.sent.at(-1)?.body.context.stream_type, 'live');
  });
});

describe('content steering', () => {
  const steered = [
    level({ bitrate: 400_000, width: 426, height: 240, pathwayId: 'cdn-a' }),
    level({ bitrate: 900_000, width: 640, height: 360, pathwayId: 'cdn-a' }),
  ];

  it('names the view after the first pathway and reports a move as pathway_change', async () => {
    const t = setup({ levels: steered });
    t.hls.emit(E.MANIFEST_LOADING, { url: 'https://cdn-a.example.test/bbb/master.m3u8' });
    t.hls.emit(E.LEVEL_LOADING, { pathwayId: 'cdn-a', level: 0, url: 'x' });
    await t.start(0);
    t.hls.emit(E.FRAG_LOADED, fragLoaded(xhr(200, {})));

    t.hls.levels = steered.map((l) => level({ ...l, pathwayId: 'cdn-b' }));
    t.hls.emit(E.STEERING_MANIFEST_LOADED, { steeringManifest: { 'PATHWAY-PRIORITY': ['cdn-b', 'cdn-a'] }, url: 's' });
    t.hls.emit(E.LEVELS_UPDATED, { levels: t.hls.levels });
    t.hls.emit(E.LEVEL_SWITCHING, { level: 0, attrs: { 'PATHWAY-ID': 'cdn-b' } });
    t.hls.emit(E.FRAG_LOADED, fragLoaded(xhr(200, {})));
    await t.flush();

    assert.equal(t.network.sent[0].body.context.cdn, 'cdn-a');
    assert.deepEqual(t.find('pathway_change').map((e) => e.pathway), ['cdn-b']);
    assert.deepEqual(t.find('request_completed').map((e) => e.cdn), ['cdn-a', 'cdn-b']);
  });
});

describe('errors', () => {
  it('reports details as code, type and message as message, and a fatal one flushes at once', async () => {
    const t = setup();
    await t.start();
    const sentBefore = t.network.sent.length;
    t.hls.emit(E.ERROR, {
      type: 'networkError',
      details: 'manifestLoadError',
      fatal: true,
      error: new Error('HTTP 404'),
      response: { code: 404, text: 'Not Found', url: 'x' },
    });
    await t.clock.advance(0);
    assert.equal(t.network.sent.length, sentBefore + 1);
    const [error] = t.find('error');
    assert.deepEqual([error.code, error.message, error.fatal], ['manifestLoadError', 'networkError: HTTP 404', true]);
    const [failed] = t.find('request_failed');
    assert.deepEqual([failed.kind, failed.status], ['manifest', 404]);
    assert.ok(t.monitor.viewId, 'hls.js may still recover: the view stays open');
  });

  it('thins repeats of a non-fatal error but never a fatal one', async () => {
    const t = setup();
    await t.start();
    const stall = { type: 'mediaError', details: 'bufferStalledError', fatal: false, error: new Error('Playback stalling') };
    t.hls.emit(E.ERROR, stall);
    t.hls.emit(E.ERROR, stall);
    await t.clock.advance(10_000);
    t.hls.emit(E.ERROR, stall);
    t.hls.emit(E.ERROR, { ...stall, fatal: true });
    t.hls.emit(E.ERROR, { ...stall, fatal: true });
    await t.flush();
    assert.deepEqual(t.find('error').map((e) => e.fatal), [false, false, true, true]);
  });

  it('maps load errors to request kinds', () => {
    assert.equal(failedRequestKind('levelLoadTimeOut', null), 'manifest');
    assert.equal(failedRequestKind('fragLoadError', { sn: 'initSegment' }), 'init');
    assert.equal(failedRequestKind('fragLoadTimeOut', { sn: 4 }), 'segment');
    assert.equal(failedRequestKind('keyLoadError', null), 'key');
    assert.equal(failedRequestKind('bufferStalledError', null), null);
  });

  it('reports the element error as non-fatal and leaves the view open for hls.js to recover', async () => {
    const t = setup();
    await t.start();
    t.video.fail(3, 'decode');
    await t.flush();
    assert.equal(t.find('error')[0].fatal, false);
    assert.ok(t.monitor.viewId);
  });
});

describe('lifecycle', () => {
  it('ends the view when another manifest is loaded', async () => {
    const t = setup();
    await t.start();
    const first = t.monitor.viewId;
    t.hls.emit(E.MANIFEST_LOADING, { url: 'https://cdn-a.example.test/other/master.m3u8' });
    t.video.play();
    await t.flush();
    assert.equal(t.find('view_end')[0].reason, 'content_change');
    assert.notEqual(t.monitor.viewId, first);
  });

  it('stops listening when hls.js is destroyed', async () => {
    const t = setup();
    await t.start();
    assert.ok(t.hls.listenerCount() > 0);
    t.hls.emit(E.DESTROYING);
    assert.equal(t.hls.listenerCount(), 0);
    await t.flush();
    assert.equal(t.find('view_end')[0].reason, 'user_exit');
  });

  it('never throws when hls.js hands over odd data', async () => {
    const t = setup();
    await t.start();
    Object.defineProperty(t.hls, 'levels', {
      get() {
        throw new Error('destroyed');
      },
    });
    assert.doesNotThrow(() => {
      t.hls.emit(E.LEVEL_SWITCHED, { level: 1 });
      t.hls.emit(E.FRAG_LOADED, null);
      t.hls.emit(E.FRAG_LOADED, { frag: { stats: { loading: { start: 5, end: 2 } } } });
      t.hls.emit(E.ERROR, undefined);
      t.hls.emit(E.LEVELS_UPDATED, {});
    });
    await t.flush();
    assert.ok(t.errors.length >= 2);
    assert.equal(t.find('error')[0].code, 'unknown');
  });
});
