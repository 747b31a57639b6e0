import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { trackVideo } from '../src/index.js';
import { FakeVideo, makeEnv, T0 } from './helpers/fakes.js';

/** A video monitored by a tracker on fake surroundings. */
function setup(/** @type {Record<string, any>} */ extra = {}) {
  const env = makeEnv(extra.env);
  const video = new FakeVideo();
  const monitor = trackVideo(video, { ...env.options, ...extra.options });
  /** Sends everything queued and returns the types that left, in order. */
  const flushTypes = async () => {
    monitor.tracker.flush();
    await env.clock.advance(0);
    return env.network.types();
  };
  const find = (/** @type {string} */ type) => env.network.events().filter((e) => e.type === type);
  return { ...env, video, monitor, flushTypes, find };
}

/** Play intent, startup buffering, then the first frame 800 ms later. */
async function startPlayback(/** @type {ReturnType<typeof setup>} */ t) {
  t.video.play();
  await t.clock.advance(300);
  t.video.waiting(); // startup buffering: never a stall
  await t.clock.advance(500);
  t.video.playing();
  t.video.advance(0.04);
}

describe('startup', () => {
  it('reports play intent, player size and the first frame when the playhead moves', async () => {
    const t = setup();
    t.video.play();
    assert.ok(t.monitor.viewId);
    await t.clock.advance(0);
    assert.deepEqual(t.network.sent[0].body.events.map((/** @type {any} */ e) => e.type), ['playback_request', 'player_resize']);
    await t.clock.advance(800);
    t.video.playing();
    assert.equal(t.find('playback_start').length, 0, 'playing alone is not a frame on screen');
    t.video.advance(0.25);
    const types = await t.flushTypes();
    assert.deepEqual(types, ['playback_request', 'player_resize', 'playback_start']);
    assert.equal(t.find('playback_start')[0].ts, T0 + 800);
    assert.equal(t.find('playback_start')[0].playhead_ms, 250);
  });

  it('does not count startup buffering as a stall', async () => {
    const t = setup();
    await startPlayback(t);
    const types = await t.flushTypes();
    assert.ok(!types.includes('stall_start'));
  });

  it('marks autoplay from the element attribute, and a user gesture overrides it', async () => {
    const t = setup();
    t.video.autoplay = true;
    t.video.play();
    await t.clock.advance(0);
    assert.equal(t.find('playback_request')[0].autoplay, true);

    const u = setup();
    u.video.autoplay = true;
    Object.assign(u.page.window, { navigator: { userActivation: { isActive: true } } });
    u.video.play();
    await u.clock.advance(0);
    assert.equal(u.find('playback_request')[0].autoplay, false);
  });

  it('uses requestVideoFrameCallback, when there, to see the first frame sooner than timeupdate', async () => {
    const t = setup();
    /** @type {((now: number, meta: object) => void)[]} */
    const frameCallbacks = [];
    Object.assign(t.video, { requestVideoFrameCallback: (/** @type {any} */ cb) => frameCallbacks.push(cb) });
    t.video.play();
    await t.clock.advance(600);
    t.video.playing();
    t.video.currentTime = 0.04; // a frame is presented; timeupdate has not fired yet
    frameCallbacks.shift()?.(0, {});
    assert.equal(t.find('playback_start').length, 0);
    await t.flushTypes();
    assert.equal(t.find('playback_start')[0].ts, T0 + 600);
    assert.equal(frameCallbacks.length, 0, 'stops watching frames once started');
  });
});

describe('stalls and seeks', () => {
  it('reports a stall after start, with the buffer left, until the playhead moves again', async () => {
    const t = setup();
    await startPlayback(t);
    await t.clock.advance(5000);
    t.video.advance(5);
    t.video.buffer(0.2);
    t.video.waiting();
    t.video.waiting(); // repeated waiting: one stall
    await t.clock.advance(1500);
    t.video.advance(0.25);
    const types = await t.flushTypes();
    assert.deepEqual(types.filter((x) => x.startsWith('stall')), ['stall_start', 'stall_end']);
    const [start] = t.find('stall_start');
    const [end] = t.find('stall_end');
    assert.equal(start.buffer_ms, 200);
    assert.equal(end.ts - start.ts, 1500);
  });

  it('treats `stalled` as a stall only when the element lacks data', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.readyState = 4;
    t.video.fire('stalled'); // the download paused, playback goes on
    assert.equal(t.find('stall_start').length, 0);
    t.video.readyState = 2;
    t.video.fire('stalled');
    await t.flushTypes();
    assert.equal(t.find('stall_start').length, 1);
  });

  it('reports a seek from seeking until playback resumes, and its buffering is not a stall', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.advance(3);
    await t.clock.advance(3000);
    t.video.seek(20);
    t.video.waiting(); // buffering caused by the seek
    await t.clock.advance(400);
    t.video.seeked();
    t.video.waiting(); // some browsers wait again after seeked
    await t.clock.advance(300);
    t.video.playing();
    t.video.advance(0.25);
    const types = await t.flushTypes();
    assert.ok(!types.includes('stall_start'));
    const [start] = t.find('seek_start');
    const [end] = t.find('seek_end');
    assert.equal(start.playhead_ms, 3040, 'where the seek left from');
    assert.equal(start.target_ms, 20_000);
    assert.equal(end.ts - start.ts, 700);
    assert.equal(t.find('seek_start').length, 1);
  });

  it('counts scrubbing (several seeking events) as one seek, and a paused seek ends at seeked', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.pause();
    t.video.seek(5);
    t.video.seek(9);
    t.video.seek(14);
    t.video.seeked();
    const types = await t.flushTypes();
    assert.deepEqual(types.slice(-3), ['pause', 'seek_start', 'seek_end']);
    assert.equal(t.find('seek_start')[0].target_ms, 5000);
  });

  it('ends a stall when the viewer seeks or pauses out of it', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.waiting();
    t.video.seek(30);
    t.video.seeked();
    t.video.advance(0.1);
    t.video.waiting();
    t.video.pause();
    const types = await t.flushTypes();
    assert.deepEqual(types.slice(-7), ['stall_start', 'stall_end', 'seek_start', 'seek_end', 'stall_start', 'stall_end', 'pause']);
  });
});

describe('pause, end, errors', () => {
  it('reports pause and resume, and no heartbeats while paused', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.pause();
    await t.clock.advance(60_000);
    t.video.play();
    const types = await t.flushTypes();
    assert.deepEqual(types.slice(-2), ['pause', 'resume']);
    assert.equal(t.find('heartbeat').length, 0);
  });

  it('ends the view at ended (without a pause), flushes, and a replay is a new view', async () => {
    const t = setup();
    await startPlayback(t);
    const first = t.monitor.viewId;
    t.video.advance(10);
    t.video.end();
    await t.clock.advance(0);
    assert.deepEqual(t.network.types().slice(-2), ['ended', 'view_end']);
    assert.ok(!t.network.types().includes('pause'));
    assert.equal(t.find('view_end')[0].reason, 'ended');
    assert.equal(t.monitor.viewId, null);

    t.video.currentTime = 0;
    t.video.play();
    assert.ok(t.monitor.viewId);
    assert.notEqual(t.monitor.viewId, first);
  });

  it('reports a media error as fatal with its code and message and ends the view', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.fail(3, 'PIPELINE_ERROR_DECODE');
    await t.clock.advance(0);
    const [error] = t.find('error');
    assert.deepEqual([error.code, error.message, error.fatal], ['MEDIA_ERR_DECODE', 'PIPELINE_ERROR_DECODE', true]);
    assert.equal(t.find('view_end')[0].reason, 'error');
  });

  it('ends the view when the source changes', async () => {
    const t = setup();
    await startPlayback(t);
    t.video.currentSrc = 'https://cdn.example.test/other.mp4';
    t.video.fire('loadstart');
    await t.clock.advance(0);
    assert.equal(t.find('view_end')[0].reason, 'content_change');
  });
});

describe('heartbeats and size', () => {
  it('sends heartbeats every interval with frames counted from the view start and the buffer ahead', async () => {
    const t = setup();
    t.video.dropped = 7; // an earlier view on this element
    t.video.total = 500;
    await startPlayback(t);
    t.video.buffer(12);
    t.video.dropped = 10;
    await t.clock.advance(10_000 - 800);
    await t.flushTypes();
    const [beat] = t.find('heartbeat');
    assert.equal(beat.ts, T0 + 10_000);
    assert.equal(beat.dropped_frames, 3);
    assert.equal(beat.total_frames, 1);
    assert.equal(beat.buffer_ms, 12_000);
  });

  it('reports the player size in device pixels, again when it changes', async () => {
    /** @type {any} */
    let observed = null;
    class FakeResizeObserver {
      constructor(/** @type {() => void} */ cb) {
        observed = cb;
      }
      observe() {}
      disconnect() {}
    }
    const t = setup({ env: { ResizeObserver: FakeResizeObserver } });
    await startPlayback(t);
    t.video.clientWidth = 1920;
    t.video.clientHeight = 1080;
    observed();
    observed(); // many observations, one event after the debounce
    await t.clock.advance(300);
    await t.flushTypes();
    assert.deepEqual(
      t.find('player_resize').map((e) => [e.width, e.height]),
      [
        [1280, 720],
        [3840, 2160],
      ],
    );
  });
});

describe('attaching and detaching', () => {
  it('starts a view at once when attached to a video that already plays', async () => {
    const env = makeEnv();
    const video = new FakeVideo();
    video.paused = false;
    video.readyState = 4;
    video.currentTime = 42;
    const monitor = trackVideo(video, env.options);
    assert.ok(monitor.viewId);
    monitor.tracker.flush();
    await env.clock.advance(0);
    assert.deepEqual(env.network.types(), ['playback_request', 'player_resize', 'playback_start']);
  });

  it('passes the property key through to the tracker it creates', async () => {
    const t = setup({ options: { propertyKey: 'qoe_pk_0123456789abcdef01234567' } });
    await startPlayback(t);
    await t.flushTypes();
    assert.ok(t.network.sent.every((s) => s.body.property_key === 'qoe_pk_0123456789abcdef01234567'));
  });

  it('detach ends the view, sends it and stops listening', async () => {
    const t = setup();
    await startPlayback(t);
    t.monitor.detach();
    await t.clock.advance(0);
    t.video.pause();
    t.video.play();
    await t.clock.advance(20_000);
    assert.equal(t.network.types().at(-1), 'view_end');
    assert.equal(t.find('view_end')[0].reason, 'user_exit');
  });

  it('survives a player whose properties throw', async () => {
    const t = setup();
    Object.defineProperty(t.video, 'buffered', {
      get() {
        throw new Error('detached element');
      },
    });
    t.video.getVideoPlaybackQuality = () => {
      throw new Error('not now');
    };
    assert.doesNotThrow(() => {
      t.video.play();
      t.video.playing();
      t.video.advance(1);
      t.video.waiting();
    });
    await t.clock.advance(30_000);
    assert.equal(t.find('playback_start').length, 1);
    const [stall] = t.find('stall_start');
    assert.equal(stall.buffer_ms, undefined, 'what cannot be read is left out');
    assert.equal(t.find('heartbeat')[0].dropped_frames, undefined);
  });
});
