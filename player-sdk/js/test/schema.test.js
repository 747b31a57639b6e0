/**
 * The SDK against the committed JSON Schema (generated from the server's pydantic models).
 * Every payload of every test file is validated by the fake network (helpers/fakes.js); this
 * file checks that the SDK's own copy of the contract matches the schema field by field, that
 * the validator really refuses bad payloads, and runs one long session through it.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import Hls from 'hls.js';

import { trackHls } from '../src/index.js';
import { CONTEXT_FIELDS, EVENT_FIELDS, EventType, MAX_EVENTS_PER_BEACON, PROPERTY_KEY_PATTERN } from '../src/schema.js';
import { FakeHls, FakeVideo, level, loaderStats, makeEnv, T0 } from './helpers/fakes.js';
import { beaconErrors, beaconSchema, counters } from './helpers/schema.js';

const BASE_FIELDS = ['ts', 'playhead_ms', 'seq', 'type'];
const defs = beaconSchema.$defs;

/** @returns {[string, any][]} the event definitions, by their `type` constant */
function eventDefs() {
  return Object.values(defs)
    .filter((d) => d.properties?.type?.const)
    .map((d) => [d.properties.type.const, d]);
}

/** The non-null branch of an optional property. */
function effective(/** @type {any} */ prop) {
  return prop.anyOf ? prop.anyOf.find((/** @type {any} */ p) => p.type !== 'null') : prop;
}

const KIND_TO_TYPE = { int: 'integer', num: 'number', str: 'string', bool: 'boolean', enum: 'string' };

/**
 * @param {string} where
 * @param {any} prop  JSON Schema of one property
 * @param {import('../src/schema.js').FieldSpec} spec
 */
function assertSameField(where, prop, spec) {
  const p = effective(prop);
  if (spec.kind === 'enum') {
    assert.deepEqual([...spec.values].sort(), [...(p.enum ?? [p.const])].sort(), `${where}: values`);
    return;
  }
  assert.equal(p.type, KIND_TO_TYPE[spec.kind], `${where}: type`);
  if (spec.kind === 'int') {
    assert.equal(spec.min, p.minimum, `${where}: minimum`);
    if (p.maximum !== undefined || spec.max !== undefined) assert.equal(spec.max, p.maximum, `${where}: maximum`);
  }
  if (spec.kind === 'num') {
    assert.equal(spec.min, p.exclusiveMinimum ?? p.minimum, `${where}: minimum`);
    assert.equal(Boolean(spec.exclusiveMin), p.exclusiveMinimum !== undefined, `${where}: exclusive`);
    assert.equal(spec.max, p.maximum, `${where}: maximum`);
  }
  if (spec.kind === 'str') assert.equal(spec.maxLength, p.maxLength ?? (p.pattern ? spec.maxLength : undefined), `${where}: maxLength`);
}

describe('the SDK copy of the contract matches schemas/beacon.schema.json', () => {
  it('has exactly the closed list of event types', () => {
    assert.deepEqual(Object.values(EventType).sort(), eventDefs().map(([type]) => type).sort());
    assert.deepEqual(Object.keys(EVENT_FIELDS).sort(), Object.values(EventType).sort());
  });

  it('gives every event type the same fields, types, bounds and required fields', () => {
    for (const [type, def] of eventDefs()) {
      const schemaFields = Object.keys(def.properties).filter((f) => !BASE_FIELDS.includes(f));
      const specs = EVENT_FIELDS[type];
      assert.deepEqual(Object.keys(specs).sort(), schemaFields.sort(), `${type}: fields`);
      const required = (def.required ?? []).filter((/** @type {string} */ f) => !BASE_FIELDS.includes(f));
      const specRequired = Object.entries(specs).filter(([, s]) => s.required).map(([f]) => f);
      assert.deepEqual(specRequired.sort(), required.sort(), `${type}: required`);
      for (const [field, spec] of Object.entries(specs)) assertSameField(`${type}.${field}`, def.properties[field], spec);
    }
  });

  it('knows every context field', () => {
    const props = defs.Context.properties;
    assert.deepEqual([...Object.keys(CONTEXT_FIELDS), 'custom'].sort(), Object.keys(props).sort());
    for (const [field, spec] of Object.entries(CONTEXT_FIELDS)) assertSameField(`context.${field}`, props[field], spec);
    assert.equal(props.custom.maxProperties, 10);
  });

  it('caps beacons where the server does', () => {
    assert.equal(beaconSchema.properties.events.maxItems, MAX_EVENTS_PER_BEACON);
  });

  it('checks the property key with the pattern of the schema', () => {
    assert.equal(PROPERTY_KEY_PATTERN.source, effective(beaconSchema.properties.property_key).pattern);
  });
});

describe('the validator refuses what the server refuses', () => {
  const valid = {
    version: 1,
    view_id: 'v-1',
    viewer_id: 'u-1',
    batch_seq: 0,
    sent_at: T0,
    sdk: { name: 'qoe-js', version: '0.1.0' },
    context: {},
    events: [{ type: 'playback_request', ts: T0, playhead_ms: 0, seq: 0, autoplay: false }],
  };

  it('accepts a minimal beacon', () => {
    assert.deepEqual(beaconErrors(valid), []);
  });

  it('accepts a property key', () => {
    assert.deepEqual(beaconErrors({ ...valid, property_key: 'qoe_pk_0123456789abcdef01234567' }), []);
  });

  for (const [name, mutate] of /** @type {[string, (b: any) => void][]} */ ([
    ['a fractional timestamp', (b) => (b.events[0].ts = T0 + 0.5)],
    ['a fractional playhead', (b) => (b.events[0].playhead_ms = 1.5)],
    ['an unknown event type', (b) => (b.events[0].type = 'warp')],
    ['an unknown event field', (b) => (b.events[0].surprise = 1)],
    ['version 2', (b) => (b.version = 2)],
    ['no events', (b) => (b.events = [])],
    ['a view id with a space', (b) => (b.view_id = 'a b')],
    ['a country that is not ISO', (b) => (b.context.country = 'norway')],
    ['a malformed property key', (b) => (b.property_key = 'qoe_pk_0123456789ABCDEF01234567')],
    ['a rendition without bitrate', (b) => (b.events[0] = { type: 'rendition_change', ts: T0, playhead_ms: 0, seq: 0 })],
  ])) {
    it(`refuses ${name}`, () => {
      const body = structuredClone(valid);
      mutate(body);
      assert.notDeepEqual(beaconErrors(body), []);
    });
  }
});

describe('a long hls.js session', () => {
  it('produces only valid payloads, every event in order and none lost', async () => {
    const { clock, network, page, options } = makeEnv();
    const video = new FakeVideo();
    const hls = new FakeHls();
    hls.levels = [
      level({ bitrate: 400_000, width: 426, height: 240, pathwayId: 'cdn-a' }),
      level({ bitrate: 1_600_000, width: 960, height: 540, pathwayId: 'cdn-a' }),
    ];
    const monitor = trackHls(hls, video, { ...options, heartbeatIntervalMs: 2000 });
    const before = counters.validated;
    hls.emit(Hls.Events.MANIFEST_LOADING, { url: 'm' });
    hls.emit(Hls.Events.LEVEL_LOADING, { pathwayId: 'cdn-a' });
    hls.currentLevel = 0;
    hls.emit(Hls.Events.LEVEL_SWITCHED, { level: 0 });
    video.play();
    await clock.advance(700);
    video.playing();
    for (let second = 0; second < 120; second += 1) {
      video.advance(1);
      video.buffer(8);
      hls.emit(Hls.Events.FRAG_LOADED, {
        frag: { sn: second, stats: loaderStats(100_000 + second, 0, 20, 90) },
        networkDetails: null,
      });
      if (second === 30) {
        hls.currentLevel = 1;
        hls.emit(Hls.Events.LEVEL_SWITCHED, { level: 1 });
      }
      if (second === 50) video.waiting();
      if (second === 70) video.seek(100).seeked();
      if (second === 90) hls.emit(Hls.Events.ERROR, { type: 'networkError', details: 'fragLoadError', fatal: false });
      await clock.advance(1000);
    }
    page.unload();

    assert.equal(monitor.viewId, null);
    assert.ok(counters.validated - before >= 12, `${counters.validated - before} payloads`);
    const events = network.events();
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i),
      'every event arrived once, in order',
    );
    assert.equal(events.at(-1)?.type, 'view_end');
  });
});
