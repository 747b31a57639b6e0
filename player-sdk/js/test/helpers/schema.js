/**
 * Validates payloads against the committed JSON Schema (schemas/beacon.schema.json, generated
 * from the pydantic models the server runs), with ajv in draft 2020-12 mode.
 *
 * Every body that goes through the fake network is checked here; a test file that imports
 * the fakes fails at its end if any payload was invalid (see fakes.js).
 */

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../../../..');
export const SCHEMA_PATH = resolve(REPO_ROOT, 'schemas/beacon.schema.json');

/** @type {Record<string, any>} */
export const beaconSchema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
// pydantic writes an OpenAPI-style `discriminator` next to `oneOf`; it is an annotation here,
// the `oneOf` with a `const` type in each branch does the validating.
ajv.addKeyword({ keyword: 'discriminator', schemaType: 'object' });
const validate = ajv.compile(beaconSchema);

/**
 * @param {unknown} payload
 * @returns {string[]} readable errors; empty when valid
 */
export function beaconErrors(payload) {
  if (validate(payload)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

/** @type {{ payload: unknown, errors: string[] }[]} */
export const invalidPayloads = [];
export const counters = { validated: 0 };

/**
 * Checks one payload and remembers it if invalid.
 * @param {unknown} payload
 */
export function checkPayload(payload) {
  counters.validated += 1;
  const errors = beaconErrors(payload);
  if (errors.length) invalidPayloads.push({ payload, errors });
}
