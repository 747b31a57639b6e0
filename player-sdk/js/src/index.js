/**
 * QoE browser SDK: measures playback quality in the viewer's browser and sends it to the
 * platform as beacons (`POST {endpoint}/v1/beacons`, schemas/beacon.py).
 *
 *   import { trackHls } from './src/index.js';
 *   const hls = new Hls();
 *   const monitor = trackHls(hls, video, { endpoint: 'https://qoe.example.com', context: { title_id: 'bbb' } });
 *   hls.loadSource(url);
 *   hls.attachMedia(video);
 *
 * No build step: plain ES modules with JSDoc types.
 */

export { createTracker, resolveEnv } from './tracker.js';
export { trackVideo, attachVideo } from './adapters/video.js';
export { trackHls, attachHls, HLS_EVENTS } from './adapters/hls.js';
export { EventType, SCHEMA_VERSION, MAX_EVENTS_PER_BEACON } from './schema.js';
export { SDK_NAME, SDK_VERSION } from './version.js';
