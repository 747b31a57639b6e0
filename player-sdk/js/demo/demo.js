/**
 * Demo page: plays an HLS ladder with hls.js and reports it with the SDK.
 *
 * Every path can be changed with a query parameter, so the page works wherever it is mounted:
 *   src       multivariant playlist (default /media/bbb/master.m3u8)
 *   endpoint  platform base URL for POST {endpoint}/v1/beacons (default: this origin)
 *   property_key  the property's public key, sent in every beacon (default: none)
 *   hls       hls.js ES module (default ../node_modules/hls.js/dist/hls.mjs next to this file)
 *   sdk       the SDK's entry module (default ../src/index.js next to this file)
 *   title_id  content id reported in the context (default bbb)
 *   autoplay  1 to start muted without a click
 *   heartbeat heartbeat interval in ms (default 10000)
 *
 * For browser tests the page keeps its state on `window.qoeDemo`.
 */

const params = new URLSearchParams(window.location.search);
const here = import.meta.url;
const moduleUrl = (/** @type {string} */ name, /** @type {string} */ fallback) =>
  params.has(name) ? new URL(String(params.get(name)), window.location.href).href : new URL(fallback, here).href;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const video = /** @type {HTMLVideoElement} */ ($('video'));

/** @type {{ ready: boolean, error: string | null, sends: object[], errors: string[], hls: any, monitor: any, video: HTMLVideoElement }} */
const state = { ready: false, error: null, sends: [], errors: [], hls: null, monitor: null, video };
Object.assign(window, { qoeDemo: state });

/** @param {string} line */
function log(line) {
  const el = $('log');
  el.textContent = `${new Date().toISOString().slice(11, 23)} ${line}\n${el.textContent}`.slice(0, 20_000);
}

async function main() {
  const src = new URL(params.get('src') ?? '/media/bbb/master.m3u8', window.location.href).href;
  const endpoint = params.get('endpoint') ?? '';
  const heartbeat = Number(params.get('heartbeat')) || 10_000;
  $('source').textContent = src;

  const sdk = await import(moduleUrl('sdk', '../src/index.js'));
  const options = {
    endpoint,
    // An empty parameter means no key rather than a malformed one (which would disable the SDK).
    propertyKey: params.get('property_key') || undefined,
    heartbeatIntervalMs: heartbeat,
    context: { title_id: params.get('title_id') ?? 'bbb', title: 'Big Buck Bunny', stream_type: 'vod' },
    onViewStart: (/** @type {string} */ id) => {
      $('view-id').textContent = id;
      log(`view ${id} started`);
    },
    onSend: (/** @type {any} */ report) => {
      state.sends.push(report);
      const sent = state.sends.filter((r) => /** @type {any} */ (r).outcome === 'sent').length;
      $('beacons').textContent = `${sent} sent, last: HTTP ${report.status} (${report.outcome}, ${report.events} events)`;
    },
    onError: (/** @type {unknown} */ error, /** @type {string} */ where) => {
      state.errors.push(`${where}: ${String(error)}`);
      log(`sdk: ${where}: ${String(error)}`);
    },
  };

  if (params.get('autoplay') === '1') {
    video.muted = true; // browsers allow muted autoplay
    video.autoplay = true;
    Object.assign(options, { autoplay: true });
  }

  const { default: Hls } = await import(moduleUrl('hls', '../node_modules/hls.js/dist/hls.mjs'));
  if (Hls.isSupported()) {
    const hls = new Hls();
    state.hls = hls;
    state.monitor = sdk.trackHls(hls, video, options);
    hls.on(Hls.Events.LEVEL_SWITCHED, (/** @type {string} */ _, /** @type {{ level: number }} */ data) => {
      const level = hls.levels[data.level];
      $('rendition').textContent = `${level.width}x${level.height} @ ${Math.round(level.bitrate / 1000)} kbps`;
    });
    hls.on(Hls.Events.ERROR, (/** @type {string} */ _, /** @type {any} */ data) => {
      log(`hls.js ${data.fatal ? 'FATAL' : 'warning'} ${data.type}/${data.details}`);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    // Safari on iOS has no MediaSource but plays HLS itself: follow the element only.
    state.monitor = sdk.trackVideo(video, options);
    video.src = src;
  } else {
    throw new Error('this browser can play neither MediaSource nor native HLS');
  }
  $('viewer-id').textContent = state.monitor.tracker.viewerId || '–';
  $('sampled').textContent = String(state.monitor.tracker.sampled);
  state.ready = true;
  log(`hls.js ${Hls.version} loading ${src}`);
}

main().catch((error) => {
  state.error = String(error);
  log(`demo failed: ${String(error)}`);
});
