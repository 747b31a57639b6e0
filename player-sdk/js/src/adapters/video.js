/**
 * HTML5 <video> adapter: turns media element events into view events.
 *
 * What counts (CTA-2066, REFERENCE §1):
 * - A view starts at play intent (the element's `play` event) with `playback_request`.
 * - `playback_start` is the first moment the playhead moves forward while playing (checked on
 *   `timeupdate` and, where the browser has it, on each presented frame through
 *   `requestVideoFrameCallback`, which is finer than timeupdate's ~250 ms).
 * - A stall is a `waiting` (or a `stalled` without enough data) after playback started, not
 *   paused and not inside a seek; it ends when the playhead moves again or `playing` fires, or
 *   at pause, seek, end or error. Startup buffering and seek buffering are never stalls.
 * - A seek runs from the first `seeking` to the moment playback resumes after `seeked` (or to
 *   `seeked` itself when paused), so the rebuffering a seek causes belongs to the seek.
 * - Heartbeats carry dropped/total frames (counted from the view's start) and the buffer ahead.
 * - Player size is reported in device pixels (CSS size × devicePixelRatio), the unit that
 *   matters when comparing it with the rendition's resolution to find upscaling.
 */

import { createTracker } from '../tracker.js';
import { EventType, secondsToMs } from '../schema.js';

const MEDIA_ERROR_NAMES = /** @type {Record<number, string>} */ ({
  1: 'MEDIA_ERR_ABORTED',
  2: 'MEDIA_ERR_NETWORK',
  3: 'MEDIA_ERR_DECODE',
  4: 'MEDIA_ERR_SRC_NOT_SUPPORTED',
});
const HAVE_FUTURE_DATA = 3;
const RESIZE_DEBOUNCE_MS = 250;

/**
 * @typedef {object} VideoSettings
 * @property {boolean | undefined} autoplay  overrides autoplay detection for the first view
 * @property {boolean} detectSourceChange  a new `src` ends the view (off for MSE players)
 * @property {boolean} elementErrorsFatal  the element's `error` ends the view (off when a
 *   player library recovers media errors and reports its own fatal errors)
 */

/**
 * @typedef {object} VideoMonitor
 * @property {import('../tracker.js').QoeTracker} tracker
 * @property {string | null} viewId
 * @property {() => void} detach  stops monitoring; ends the open view
 */

/**
 * Runs a read of player state that may throw (a detached element, an odd player build).
 * @template T
 * @param {() => T} read
 * @returns {T | undefined}
 */
function tryRead(read) {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/**
 * @param {any} video
 * @param {import('../tracker.js').TrackerEnv} env
 * @returns {{ width: number, height: number } | null}
 */
function measurePlayer(video, env) {
  const width = Number(video.clientWidth);
  const height = Number(video.clientHeight);
  if (!Number.isFinite(width) || !Number.isFinite(height)) return null;
  const dpr = Number(env.window?.devicePixelRatio) || 1;
  return { width: Math.round(width * dpr), height: Math.round(height * dpr) };
}

/**
 * @param {any} video
 * @returns {{ dropped: number, total: number } | null}
 */
function frameCounts(video) {
  if (typeof video.getVideoPlaybackQuality === 'function') {
    const quality = video.getVideoPlaybackQuality();
    return { dropped: Number(quality?.droppedVideoFrames) || 0, total: Number(quality?.totalVideoFrames) || 0 };
  }
  if (typeof video.webkitDroppedFrameCount === 'number') {
    return { dropped: video.webkitDroppedFrameCount, total: Number(video.webkitDecodedFrameCount) || 0 };
  }
  return null;
}

/**
 * Milliseconds of media buffered ahead of the playhead.
 * @param {any} video
 * @returns {number | undefined}
 */
export function bufferAheadMs(video) {
  const ranges = video.buffered;
  const now = Number(video.currentTime);
  if (!ranges || typeof ranges.length !== 'number' || !Number.isFinite(now)) return undefined;
  for (let i = 0; i < ranges.length; i += 1) {
    const start = ranges.start(i);
    const end = ranges.end(i);
    // A small tolerance: after a seek the playhead can sit just before the range it lands in.
    if (start <= now + 0.1 && end >= now) return Math.max(0, Math.round((end - now) * 1000));
  }
  return 0;
}

function freshState() {
  return {
    /** @type {string | null} */
    viewId: null,
    started: false,
    paused: false,
    seeking: false,
    seekSettled: false,
    stalled: false,
    lastPlayheadMs: 0,
    src: '',
    /** @type {{ dropped: number, total: number } | null} */
    frameBase: null,
    /** @type {{ width: number, height: number } | null} */
    size: null,
    /** @type {unknown} */
    heartbeat: null,
    /** @type {unknown} */
    resizeTimer: null,
    watchingFrames: false,
  };
}

/**
 * Monitors one media element with an existing tracker.
 * @param {any} video  an HTMLMediaElement (or anything with its events and properties)
 * @param {import('../tracker.js').QoeTracker} tracker
 * @param {VideoSettings} settings
 * @returns {VideoMonitor}
 */
export function attachVideo(video, tracker, settings) {
  const env = tracker.env;
  let s = freshState();
  let viewsStarted = 0;
  /** @type {[string, (event: unknown) => void][]} */
  const listeners = [];
  /** @type {any} */
  let observer = null;

  const playhead = () => secondsToMs(video.currentTime);
  /**
   * @param {string} type
   * @param {Record<string, unknown>} [fields]
   * @param {number} [at]
   */
  const emit = (type, fields = {}, at = playhead()) => tracker.track(type, fields, at);

  /** True while our view is the tracker's view; resets when the tracker ended it (unload). */
  function inView() {
    if (s.viewId !== null && tracker.viewId !== s.viewId) {
      stopTimers();
      s = freshState();
    }
    return s.viewId !== null;
  }

  function stopTimers() {
    tracker.cancel(s.heartbeat);
    tracker.cancel(s.resizeTimer);
    s.heartbeat = null;
    s.resizeTimer = null;
  }

  /** @param {boolean} autoplay */
  function beginView(autoplay) {
    const id = tracker.startView({ autoplay, playheadMs: playhead() });
    if (id === null) return false;
    viewsStarted += 1;
    stopTimers();
    s = freshState();
    s.viewId = id;
    s.lastPlayheadMs = playhead();
    s.src = String(video.currentSrc ?? '');
    s.frameBase = tryRead(() => frameCounts(video)) ?? null;
    reportSize(true);
    scheduleHeartbeat();
    watchFrames();
    return true;
  }

  /** @param {string} reason */
  function finishView(reason) {
    stopTimers();
    tracker.endView(reason, playhead());
    s = freshState();
  }

  function guessAutoplay() {
    if (typeof settings.autoplay === 'boolean' && viewsStarted === 0) return settings.autoplay;
    const gesture = env.window?.navigator?.userActivation?.isActive === true;
    return Boolean(video.autoplay) && viewsStarted === 0 && !gesture;
  }

  function startStall() {
    s.stalled = true;
    emit(EventType.STALL_START, { buffer_ms: tryRead(() => bufferAheadMs(video)) });
    watchFrames();
  }

  function endStall() {
    s.stalled = false;
    emit(EventType.STALL_END);
  }

  function endSeek() {
    s.seeking = false;
    s.seekSettled = false;
    emit(EventType.SEEK_END);
  }

  /** The playhead moved forward while playing: first frame, end of a stall or of a seek. */
  function checkProgress() {
    if (!inView() || video.seeking) return;
    const now = playhead();
    const advanced = now > s.lastPlayheadMs;
    s.lastPlayheadMs = now;
    if (!advanced || video.paused) return;
    if (!s.started) {
      s.started = true;
      emit(EventType.PLAYBACK_START);
    }
    if (s.stalled) endStall();
    if (s.seeking && s.seekSettled) endSeek();
  }

  function watchFrames() {
    if (s.watchingFrames || typeof video.requestVideoFrameCallback !== 'function') return;
    s.watchingFrames = true;
    const viewId = s.viewId;
    video.requestVideoFrameCallback(
      handler(() => {
        if (s.viewId !== viewId) return;
        s.watchingFrames = false;
        checkProgress();
        if (inView() && (!s.started || s.stalled || s.seeking)) watchFrames();
      }, 'videoFrame'),
    );
  }

  function scheduleHeartbeat() {
    tracker.cancel(s.heartbeat);
    s.heartbeat = tracker.schedule(() => {
      s.heartbeat = null;
      if (!inView()) return;
      if (!s.paused) emit(EventType.HEARTBEAT, heartbeatFields());
      reportSize(false);
      scheduleHeartbeat();
    }, tracker.heartbeatIntervalMs);
  }

  function heartbeatFields() {
    /** @type {Record<string, unknown>} */
    const fields = { buffer_ms: tryRead(() => bufferAheadMs(video)) };
    const counts = tryRead(() => frameCounts(video));
    if (counts) {
      // Counters restart with a new source; then so does the view's baseline.
      if (!s.frameBase || counts.total < s.frameBase.total) s.frameBase = { dropped: 0, total: 0 };
      fields.dropped_frames = Math.max(0, counts.dropped - s.frameBase.dropped);
      fields.total_frames = Math.max(0, counts.total - s.frameBase.total);
    }
    return fields;
  }

  /** @param {boolean} force */
  function reportSize(force) {
    if (!inView()) return;
    const size = tryRead(() => measurePlayer(video, env));
    if (!size) return;
    if (!force && s.size && s.size.width === size.width && s.size.height === size.height) return;
    s.size = size;
    emit(EventType.PLAYER_RESIZE, size);
  }

  function scheduleSizeCheck() {
    if (!inView() || s.resizeTimer !== null) return;
    s.resizeTimer = tracker.schedule(() => {
      s.resizeTimer = null;
      reportSize(false);
    }, RESIZE_DEBOUNCE_MS);
  }

  /** @type {Record<string, () => void>} */
  const on = {
    play() {
      if (!inView()) {
        beginView(guessAutoplay());
        return;
      }
      if (s.paused) {
        s.paused = false;
        if (s.started) emit(EventType.RESUME);
      }
    },
    playing() {
      if (!inView()) return;
      s.paused = false;
      if (s.stalled) endStall();
      if (s.seeking && s.seekSettled) endSeek();
    },
    timeupdate: checkProgress,
    pause() {
      // Browsers fire `pause` just before `ended`; the end is reported on its own.
      if (!inView() || video.ended) return;
      if (s.stalled) endStall();
      if (!s.paused) {
        s.paused = true;
        emit(EventType.PAUSE);
      }
    },
    seeking() {
      if (!inView()) return;
      if (s.stalled) endStall();
      if (!s.seeking) {
        s.seeking = true;
        // The playhead already shows the target; the last position we saw is where the seek left from.
        emit(EventType.SEEK_START, { target_ms: playhead() }, s.lastPlayheadMs);
        watchFrames();
      }
      s.seekSettled = false;
      s.lastPlayheadMs = playhead();
    },
    seeked() {
      if (!inView() || !s.seeking) return;
      s.seekSettled = true;
      s.lastPlayheadMs = playhead();
      if (video.paused) endSeek();
    },
    waiting() {
      if (!inView() || !s.started || s.seeking || s.paused || s.stalled || video.ended || video.seeking) return;
      startStall();
    },
    stalled() {
      if (Number(video.readyState) >= HAVE_FUTURE_DATA) return; // the download paused, playback did not
      on.waiting();
    },
    ended() {
      if (!inView()) return;
      if (s.stalled) endStall();
      if (s.seeking) endSeek();
      emit(EventType.ENDED);
      finishView('ended');
    },
    error() {
      if (!inView()) return;
      const error = video.error;
      const code = MEDIA_ERROR_NAMES[Number(error?.code)] ?? 'MEDIA_ERR_UNKNOWN';
      if (s.stalled) endStall();
      emit(EventType.ERROR, { code, message: String(error?.message ?? ''), fatal: settings.elementErrorsFatal });
      if (settings.elementErrorsFatal) finishView('error');
    },
    loadstart() {
      if (!settings.detectSourceChange || !inView()) return;
      const src = String(video.currentSrc ?? '');
      if (s.src && src !== s.src) finishView('content_change');
    },
    resize: scheduleSizeCheck,
  };

  /**
   * @param {(...args: any[]) => void} fn
   * @param {string} where
   * @returns {(...args: any[]) => void}
   */
  function handler(fn, where) {
    return (...args) => {
      try {
        fn(...args);
      } catch (error) {
        tracker.reportError(error, where);
      }
    };
  }

  for (const [name, fn] of Object.entries(on)) {
    const listener = handler(fn, `video.${name}`);
    video.addEventListener(name, listener);
    listeners.push([name, listener]);
  }
  if (typeof env.ResizeObserver === 'function') {
    observer = new env.ResizeObserver(handler(scheduleSizeCheck, 'ResizeObserver'));
    observer.observe(video);
  }
  // Attached to a video that already plays: its start was not seen, so the view starts now.
  if (video.paused === false && video.ended !== true && Number(video.readyState) > 2 && beginView(true)) {
    s.started = true;
    emit(EventType.PLAYBACK_START);
  }

  return {
    tracker,
    get viewId() {
      return inView() ? s.viewId : null;
    },
    detach: handler(() => {
      for (const [name, listener] of listeners.splice(0)) video.removeEventListener(name, listener);
      observer?.disconnect();
      observer = null;
      if (inView()) finishView('user_exit');
    }, 'detach'),
  };
}

/**
 * Monitors an HTML5 video element.
 * @param {any} video
 * @param {import('../tracker.js').TrackerOptions & { tracker?: import('../tracker.js').QoeTracker, autoplay?: boolean }} options
 *   tracker options (a tracker is created) or `{ tracker }` to share an existing one
 * @returns {VideoMonitor}
 */
export function trackVideo(video, options) {
  const owned = !options?.tracker;
  const tracker =
    options?.tracker ?? createTracker({ ...options, context: { player_name: 'html5', ...options?.context } });
  try {
    const monitor = attachVideo(video, tracker, {
      autoplay: options?.autoplay,
      detectSourceChange: true,
      elementErrorsFatal: true,
    });
    if (!owned) return monitor;
    return {
      tracker,
      get viewId() {
        return monitor.viewId;
      },
      detach() {
        monitor.detach();
        tracker.destroy();
      },
    };
  } catch (error) {
    tracker.reportError(error, 'trackVideo');
    return { tracker, viewId: null, detach: () => undefined };
  }
}
