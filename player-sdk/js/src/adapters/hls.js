/**
 * hls.js adapter: what only the player library knows.
 *
 * - Renditions: LEVEL_SWITCHED → `rendition_change` with bitrate, resolution, frame rate and
 *   codec; the rendition in use is repeated at the start of every view.
 * - Requests: FRAG_LOADED (segments, init segments) and playlist loads → `request_completed`
 *   with bytes, duration, time to first byte and the CDN, read from a response header such as
 *   `X-CDN` when the browser lets us (cross-origin it must be listed in
 *   Access-Control-Expose-Headers), else the content-steering pathway in use.
 * - Errors: ERROR → `error` with `details` as code and `type: message` as message, fatal or
 *   not; load errors also give `request_failed`. Repeats of one non-fatal error are thinned.
 * - Content steering: a change of pathway (seen on LEVEL_LOADING, LEVEL_SWITCHING,
 *   LEVELS_UPDATED or STEERING_MANIFEST_LOADED) → `pathway_change`.
 * - The media element itself is followed by the video adapter (play, stalls, seeks, ...).
 */

import { createTracker } from '../tracker.js';
import { EventType } from '../schema.js';
import { attachVideo } from './video.js';

/** hls.js event names (Hls.Events); used when the instance does not expose its own. */
export const HLS_EVENTS = Object.freeze({
  MANIFEST_LOADING: 'hlsManifestLoading',
  MANIFEST_LOADED: 'hlsManifestLoaded',
  LEVEL_SWITCHING: 'hlsLevelSwitching',
  LEVEL_SWITCHED: 'hlsLevelSwitched',
  LEVEL_LOADING: 'hlsLevelLoading',
  LEVEL_LOADED: 'hlsLevelLoaded',
  LEVELS_UPDATED: 'hlsLevelsUpdated',
  AUDIO_TRACK_LOADED: 'hlsAudioTrackLoaded',
  FRAG_LOADED: 'hlsFragLoaded',
  STEERING_MANIFEST_LOADED: 'hlsSteeringManifestLoaded',
  ERROR: 'hlsError',
  DESTROYING: 'hlsDestroying',
});

const NO_PATHWAY = '.'; // hls.js's pathway id when the playlist has no content steering
const DEFAULT_ERROR_THROTTLE_MS = 10_000;

/**
 * @typedef {object} HlsOptions
 * @property {import('../tracker.js').QoeTracker} [tracker]  share an existing tracker
 * @property {{ Events?: Record<string, string>, version?: string }} [Hls]  the Hls class, when `hls.constructor` is not it
 * @property {string} [cdnHeader='X-CDN']  response header that names the CDN
 * @property {number} [errorThrottleMs=10000]  one report per non-fatal error code per this period
 * @property {boolean} [autoplay]
 */

/**
 * @typedef {object} HlsMonitor
 * @property {import('../tracker.js').QoeTracker} tracker
 * @property {string | null} viewId
 * @property {() => void} detach
 */

/**
 * A response header from hls.js's `networkDetails` (an XMLHttpRequest or a fetch Response).
 * For XHR we read `getAllResponseHeaders()`, which lists only the headers the page may see,
 * so a hidden cross-origin header does not make the browser log a refusal on every segment.
 * @param {any} details
 * @param {string} name
 * @returns {string | undefined}
 */
export function responseHeader(details, name) {
  if (!details) return undefined;
  if (typeof details.getAllResponseHeaders === 'function') {
    const wanted = name.toLowerCase();
    for (const line of String(details.getAllResponseHeaders() ?? '').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) return line.slice(colon + 1).trim() || undefined;
    }
    return undefined;
  }
  if (typeof details.headers?.get === 'function') return details.headers.get(name) ?? undefined;
  return undefined;
}

/**
 * @param {any} stats  hls.js LoaderStats
 * @returns {{ bytes: number, duration_ms: number, ttfb_ms?: number } | null}
 */
export function requestTimings(stats) {
  const loading = stats?.loading;
  if (!loading || !Number.isFinite(loading.start) || !Number.isFinite(loading.end) || loading.end < loading.start) return null;
  const bytes = Number(stats.loaded) || Number(stats.total) || 0;
  /** @type {{ bytes: number, duration_ms: number, ttfb_ms?: number }} */
  const timings = { bytes, duration_ms: loading.end - loading.start };
  if (Number.isFinite(loading.first) && loading.first >= loading.start) timings.ttfb_ms = loading.first - loading.start;
  return timings;
}

/**
 * The request kind of a failed load, from hls.js's error details.
 * @param {string} details
 * @param {any} frag
 * @returns {string | null} null when the error is not about a request
 */
export function failedRequestKind(details, frag) {
  if (/^(manifest|level|audioTrack|subtitleTrack)Load(Error|TimeOut)$/.test(details)) return 'manifest';
  if (/^fragLoad(Error|TimeOut)$/.test(details)) return frag?.sn === 'initSegment' ? 'init' : 'segment';
  if (/^keyLoad(Error|TimeOut)$/.test(details)) return 'key';
  if (/steering/i.test(details)) return 'steering';
  return null;
}

/**
 * Follows an hls.js instance (and its media element) with an existing tracker.
 * @param {any} hls
 * @param {any} video
 * @param {import('../tracker.js').QoeTracker} tracker
 * @param {HlsOptions} options
 * @returns {HlsMonitor}
 */
export function attachHls(hls, video, tracker, options) {
  const Hls = options.Hls ?? hls.constructor;
  /** @type {Record<string, string>} */
  const Events = { ...HLS_EVENTS, ...(Hls?.Events ?? {}) };
  const cdnHeader = options.cdnHeader ?? 'X-CDN';
  const errorThrottleMs = options.errorThrottleMs ?? DEFAULT_ERROR_THROTTLE_MS;
  const element = attachVideo(video, tracker, {
    autoplay: options.autoplay,
    detectSourceChange: false, // MSE gives a new blob: URL on every (re)attach; MANIFEST_LOADING tells content changes
    elementErrorsFatal: false, // hls.js recovers media errors and reports its own fatal ones
  });

  /** @type {{ level: number, bitrate: number, height: number } | null} */
  let rendition = null;
  let pathway = NO_PATHWAY;
  let manifestUrl = '';
  /** @type {string | undefined} */
  let headerCdn;
  /** @type {Map<string, number>} */
  const lastErrorAt = new Map();
  const playhead = () => Math.round((Number(video.currentTime) || 0) * 1000);
  const emit = (/** @type {string} */ type, /** @type {Record<string, unknown>} */ fields = {}) =>
    tracker.track(type, fields, playhead());

  /** @param {any} level  an hls.js Level (or LevelSwitchingData) */
  function renditionFields(level) {
    return {
      bitrate_kbps: Number(level?.bitrate) / 1000,
      width: level?.width || undefined,
      height: level?.height || undefined,
      framerate: level?.frameRate || undefined,
      codec: level?.videoCodec || level?.codecSet || undefined,
      top_bitrate_kbps: topBitrateKbps(),
    };
  }

  /** The ladder's top bitrate (CMCD `tb`), which the QoE score measures quality against. */
  function topBitrateKbps() {
    const top = Math.max(0, ...(hls.levels ?? []).map((l) => Number(l?.bitrate) || 0));
    return top > 0 ? top / 1000 : undefined;
  }

  /** @param {number} index */
  function reportRendition(index) {
    const level = hls.levels?.[index];
    if (!level || !(Number(level.bitrate) > 0)) return;
    const same = rendition && rendition.level === index && rendition.bitrate === level.bitrate && rendition.height === level.height;
    if (same) return;
    if (emit(EventType.RENDITION_CHANGE, renditionFields(level))) {
      rendition = { level: index, bitrate: level.bitrate, height: level.height };
    }
  }

  /** @param {unknown} candidate */
  function notePathway(candidate) {
    if (typeof candidate !== 'string' || candidate === '' || candidate === NO_PATHWAY || candidate === pathway) return;
    const first = pathway === NO_PATHWAY;
    pathway = candidate;
    if (first) setCdn(candidate);
    else emit(EventType.PATHWAY_CHANGE, { pathway: candidate });
  }

  function currentPathway() {
    const index = hls.loadLevel >= 0 ? hls.loadLevel : hls.currentLevel;
    return hls.levels?.[index]?.pathwayId;
  }

  /** The view's CDN dimension: the first CDN seen in the view, unless the page named one. @param {string} cdn */
  function setCdn(cdn) {
    if (!tracker.context.cdn) tracker.setViewContext({ cdn });
  }

  /** @returns {string | undefined} */
  function requestCdn(/** @type {any} */ networkDetails) {
    const fromHeader = responseHeader(networkDetails, cdnHeader);
    if (fromHeader) headerCdn = fromHeader;
    const cdn = fromHeader ?? (pathway === NO_PATHWAY ? undefined : pathway);
    if (cdn) setCdn(cdn);
    return cdn;
  }

  /**
   * @param {string} kind
   * @param {any} stats
   * @param {any} networkDetails
   */
  function reportRequest(kind, stats, networkDetails) {
    const timings = requestTimings(stats);
    if (!timings) return;
    const status = Number(networkDetails?.status);
    emit(EventType.REQUEST_COMPLETED, {
      kind,
      ...timings,
      status: status >= 100 ? status : 200,
      cdn: requestCdn(networkDetails),
    });
  }

  /** @param {any} data  hls.js ErrorData */
  function reportError(data) {
    const code = String(data?.details ?? 'unknown');
    const fatal = data?.fatal === true;
    const kind = failedRequestKind(code, data?.frag);
    if (kind) {
      const status = Number(data?.response?.code ?? data?.networkDetails?.status) || 0;
      emit(EventType.REQUEST_FAILED, { kind, status, cdn: requestCdn(data?.networkDetails) });
    }
    const now = tracker.now();
    if (!fatal && now - (lastErrorAt.get(code) ?? -Infinity) < errorThrottleMs) return;
    lastErrorAt.set(code, now);
    const reason = data?.error?.message ?? data?.reason ?? '';
    emit(EventType.ERROR, { code, message: `${data?.type ?? 'hlsError'}: ${reason}`.slice(0, 1024), fatal });
  }

  /** @type {Record<string, (event: string, data: any) => void>} */
  const on = {
    [Events.MANIFEST_LOADING](_, data) {
      const url = String(data?.url ?? '');
      if (manifestUrl && url !== manifestUrl && tracker.viewId) tracker.endView('content_change', playhead());
      if (url !== manifestUrl) {
        rendition = null;
        pathway = NO_PATHWAY;
        headerCdn = undefined;
      }
      manifestUrl = url;
    },
    [Events.MANIFEST_LOADED](_, data) {
      reportRequest('manifest', data?.stats, data?.networkDetails);
    },
    [Events.LEVEL_LOADING](_, data) {
      notePathway(data?.pathwayId);
    },
    [Events.LEVEL_LOADED](_, data) {
      if (data?.details?.live === true) tracker.setViewContext({ stream_type: 'live' });
      reportRequest('manifest', data?.stats, data?.networkDetails);
    },
    [Events.AUDIO_TRACK_LOADED](_, data) {
      reportRequest('manifest', data?.stats, data?.networkDetails);
    },
    [Events.LEVEL_SWITCHING](_, data) {
      notePathway(data?.attrs?.['PATHWAY-ID'] ?? currentPathway());
    },
    [Events.LEVEL_SWITCHED](_, data) {
      reportRendition(Number(data?.level));
    },
    [Events.LEVELS_UPDATED]() {
      notePathway(currentPathway());
    },
    [Events.STEERING_MANIFEST_LOADED]() {
      notePathway(currentPathway());
    },
    [Events.FRAG_LOADED](_, data) {
      const frag = data?.frag;
      const stats = data?.part?.stats ?? frag?.stats;
      reportRequest(frag?.sn === 'initSegment' ? 'init' : 'segment', stats, data?.networkDetails);
    },
    [Events.ERROR](_, data) {
      reportError(data);
    },
    [Events.DESTROYING]() {
      detach();
    },
  };

  // A new view starts knowing the rendition, pathway and stream type already in use.
  tracker.addViewStartListener(() => {
    const index = hls.currentLevel >= 0 ? hls.currentLevel : hls.loadLevel;
    rendition = null;
    if (index >= 0) reportRendition(index);
    // Segments are often fetched before play intent (preload, autoplay): name the view after them.
    const known = headerCdn ?? (pathway === NO_PATHWAY ? undefined : pathway);
    if (known) setCdn(known);
    if (hls.levels?.[index]?.details?.live === true) tracker.setViewContext({ stream_type: 'live' });
  });

  /** @type {[string, (event: string, data: any) => void][]} */
  const listeners = Object.entries(on).map(([name, fn]) => {
    /** @type {(event: string, data: any) => void} */
    const listener = (event, data) => {
      try {
        fn(event, data);
      } catch (error) {
        tracker.reportError(error, `hls.${name}`);
      }
    };
    hls.on(name, listener);
    return [name, listener];
  });

  function detach() {
    for (const [name, listener] of listeners.splice(0)) {
      try {
        hls.off(name, listener);
      } catch (error) {
        tracker.reportError(error, 'hls.off');
      }
    }
    element.detach();
  }

  return {
    tracker,
    get viewId() {
      return element.viewId;
    },
    detach,
  };
}

/**
 * Monitors an hls.js player and its video element.
 * @param {any} hls  an Hls instance
 * @param {any} video  the element it is attached (or will be attached) to
 * @param {import('../tracker.js').TrackerOptions & HlsOptions} options
 * @returns {HlsMonitor}
 */
export function trackHls(hls, video, options) {
  const owned = !options?.tracker;
  const Hls = options?.Hls ?? hls?.constructor;
  const tracker =
    options?.tracker ??
    createTracker({
      ...options,
      context: { player_name: 'hls.js', player_version: String(Hls?.version ?? ''), ...options?.context },
    });
  try {
    const monitor = attachHls(hls, video, tracker, options ?? {});
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
    tracker.reportError(error, 'trackHls');
    return { tracker, viewId: null, detach: () => undefined };
  }
}
