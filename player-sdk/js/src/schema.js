/**
 * The beacon contract as the SDK needs it at run time: the closed list of event types and
 * what each event and the context may carry (mirrors schemas/beacon.py; a test compares this
 * file with the committed schemas/beacon.schema.json so the two cannot drift).
 *
 * The server refuses a whole beacon (422) when one field is out of range, so every event and
 * the context are cleaned here before they are queued: numbers are made integers and clamped,
 * strings are cut to length, unknown fields are dropped. An event that lacks a required field
 * is refused locally instead of poisoning the batch.
 */

export const SCHEMA_VERSION = 1;
export const MAX_EVENTS_PER_BEACON = 300;
export const MAX_EPOCH_MS = 4_102_444_800_000;

/** The closed list of event types (schemas/events.py). */
export const EventType = Object.freeze({
  PLAYBACK_REQUEST: 'playback_request',
  PLAYBACK_START: 'playback_start',
  PAUSE: 'pause',
  RESUME: 'resume',
  SEEK_START: 'seek_start',
  SEEK_END: 'seek_end',
  STALL_START: 'stall_start',
  STALL_END: 'stall_end',
  RENDITION_CHANGE: 'rendition_change',
  PLAYER_RESIZE: 'player_resize',
  ERROR: 'error',
  ENDED: 'ended',
  VIEW_END: 'view_end',
  HEARTBEAT: 'heartbeat',
  AD_BREAK_START: 'ad_break_start',
  AD_BREAK_END: 'ad_break_end',
  REQUEST_COMPLETED: 'request_completed',
  REQUEST_FAILED: 'request_failed',
  PATHWAY_CHANGE: 'pathway_change',
});

export const VIEW_END_REASONS = Object.freeze(['unload', 'content_change', 'user_exit', 'ended', 'error', 'timeout']);
export const REQUEST_KINDS = Object.freeze(['manifest', 'segment', 'init', 'key', 'steering', 'other']);

/**
 * @typedef {{ kind: 'int', min: number, max?: number, required?: boolean }
 *   | { kind: 'num', min: number, max: number, exclusiveMin?: boolean, required?: boolean }
 *   | { kind: 'str', maxLength: number, pattern?: RegExp, required?: boolean }
 *   | { kind: 'bool', required?: boolean }
 *   | { kind: 'enum', values: readonly string[], required?: boolean }} FieldSpec
 */

const label = { kind: 'str', maxLength: 128 };
// The server bounds integers by the warehouse column they land in (schemas/beacon.py): frame
// counts and pixels by UInt32, durations, sizes and positions by the largest exact number.
const count = { kind: 'int', min: 0, max: 4_294_967_295 };
const amount = { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER };

/** Fields each event type carries besides `type`, `ts`, `playhead_ms` and `seq`. */
/** @type {Readonly<Record<string, Record<string, FieldSpec>>>} */
export const EVENT_FIELDS = Object.freeze({
  playback_request: { autoplay: { kind: 'bool' } },
  playback_start: {},
  pause: {},
  resume: {},
  seek_start: { target_ms: amount },
  seek_end: {},
  stall_start: { buffer_ms: amount },
  stall_end: {},
  rendition_change: {
    bitrate_kbps: { kind: 'num', min: 0, exclusiveMin: true, max: 1_000_000, required: true },
    width: count,
    height: count,
    framerate: { kind: 'num', min: 0, max: 1000 },
    codec: label,
    quality: { kind: 'num', min: 0, max: 100 },
    top_bitrate_kbps: { kind: 'num', min: 0, exclusiveMin: true, max: 1_000_000 },
  },
  player_resize: { width: { ...count, required: true }, height: { ...count, required: true } },
  error: {
    code: { ...label, required: true },
    message: { kind: 'str', maxLength: 1024 },
    fatal: { kind: 'bool', required: true },
    business: { kind: 'bool' },
  },
  ended: {},
  view_end: { reason: { kind: 'enum', values: VIEW_END_REASONS } },
  heartbeat: { dropped_frames: count, total_frames: count, buffer_ms: amount },
  ad_break_start: {},
  ad_break_end: {},
  request_completed: {
    kind: { kind: 'enum', values: REQUEST_KINDS },
    bytes: { ...amount, required: true },
    duration_ms: { ...amount, required: true },
    ttfb_ms: amount,
    status: { kind: 'int', min: 100, max: 599 },
    cdn: label,
  },
  request_failed: {
    kind: { kind: 'enum', values: REQUEST_KINDS },
    status: { kind: 'int', min: 0, max: 599 },
    cdn: label,
  },
  pathway_change: { pathway: { ...label, required: true } },
});

/** @type {Readonly<Record<string, FieldSpec>>} */
export const CONTEXT_FIELDS = Object.freeze({
  player_name: label,
  player_version: label,
  title_id: label,
  title: { kind: 'str', maxLength: 512 },
  series: label,
  stream_type: { kind: 'enum', values: ['vod', 'live'] },
  cdn: label,
  device_type: label,
  os: label,
  browser: label,
  country: { kind: 'str', maxLength: 2, pattern: /^[A-Z]{2}$/ },
  region: label,
  asn: { kind: 'int', min: 0, max: 4_294_967_295 },
  connection_type: label,
  experiment: label,
  page_url: { kind: 'str', maxLength: 2048 },
});
export const MAX_CUSTOM_DIMENSIONS = 10;

export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The property's public key (schemas/beacon.py PropertyKey); the gateway stores a beacon under the property it names. */
export const PROPERTY_KEY_PATTERN = /^qoe_pk_[0-9a-f]{24}$/;

const MISSING = Symbol('missing');

/**
 * One value cleaned to its spec, or MISSING when it cannot be sent.
 * @param {unknown} value
 * @param {FieldSpec} spec
 * @returns {unknown}
 */
function cleanValue(value, spec) {
  if (value === undefined || value === null) return MISSING;
  switch (spec.kind) {
    case 'int': {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n)) return MISSING;
      return Math.min(spec.max ?? Number.MAX_SAFE_INTEGER, Math.max(spec.min, Math.round(n)));
    }
    case 'num': {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n) || n > spec.max || n < spec.min || (spec.exclusiveMin && n <= spec.min)) return MISSING;
      return n;
    }
    case 'str': {
      if (typeof value !== 'string' && typeof value !== 'number') return MISSING;
      const s = String(value).slice(0, spec.maxLength);
      return spec.pattern && !spec.pattern.test(s) ? MISSING : s;
    }
    case 'bool':
      return typeof value === 'boolean' ? value : MISSING;
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? value : MISSING;
    default:
      return MISSING;
  }
}

/**
 * Copies the fields of `input` that `specs` knows, cleaned.
 * @param {Record<string, unknown>} input
 * @param {Record<string, FieldSpec>} specs
 * @returns {{ value: Record<string, unknown>, missing: string[] }}
 */
function cleanObject(input, specs) {
  /** @type {Record<string, unknown>} */
  const value = {};
  const missing = [];
  for (const [name, spec] of Object.entries(specs)) {
    const cleaned = cleanValue(input[name], spec);
    if (cleaned !== MISSING) value[name] = cleaned;
    else if (spec.required) missing.push(name);
  }
  return { value, missing };
}

/**
 * The type-specific fields of one event, ready for the wire.
 * @param {string} type
 * @param {Record<string, unknown>} fields
 * @returns {Record<string, unknown>}
 * @throws {TypeError} for an unknown type or a missing required field (the tracker reports it)
 */
export function cleanEventFields(type, fields) {
  const specs = EVENT_FIELDS[type];
  if (!specs) throw new TypeError(`unknown event type ${JSON.stringify(type)}`);
  const { value, missing } = cleanObject(fields ?? {}, specs);
  if (missing.length) throw new TypeError(`${type} event needs ${missing.join(', ')}`);
  return value;
}

/**
 * The context as the server accepts it: known fields only, custom dimensions capped.
 * @param {Record<string, unknown>} input
 * @returns {Record<string, unknown>}
 */
export function cleanContext(input) {
  const { value } = cleanObject(input ?? {}, CONTEXT_FIELDS);
  const custom = input?.custom;
  if (custom && typeof custom === 'object') {
    /** @type {Record<string, string>} */
    const kept = {};
    for (const [key, raw] of Object.entries(custom).slice(0, MAX_CUSTOM_DIMENSIONS)) {
      const v = cleanValue(raw, label);
      if (v !== MISSING) kept[key.slice(0, 128)] = /** @type {string} */ (v);
    }
    value.custom = kept;
  }
  return value;
}

/**
 * @param {unknown} ms
 * @returns {number} integer milliseconds within the range the server accepts
 */
export function toEpochMs(ms) {
  const n = typeof ms === 'number' && Number.isFinite(ms) ? Math.round(ms) : 0;
  return Math.min(MAX_EPOCH_MS, Math.max(0, n));
}

/**
 * @param {unknown} seconds  a media element's currentTime (NaN before metadata, Infinity for some live streams)
 * @returns {number} non-negative integer milliseconds
 */
export function secondsToMs(seconds) {
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : 0;
}
