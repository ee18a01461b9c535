/**
 * The spec's component schemas as compiled validators, for checks the request validator
 * does not make: a JSON Patch's result, and the command API's replies in tests.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { loadSpec } from './spec.ts';

let ajv: Ajv2020 | null = null;
const validators = new Map<string, ValidateFunction>();

export function schemaValidator(schemaName: string): ValidateFunction {
  let v = validators.get(schemaName);
  if (!v) {
    if (!ajv) {
      ajv = new Ajv2020({ allErrors: true, strict: false });
      addFormats.default(ajv);
      const spec = loadSpec();
      // Register the components so that their $refs resolve.
      ajv.addSchema({ $id: 'weir', components: spec.components });
    }
    v = ajv.compile({ $ref: `weir#/components/schemas/${schemaName}` });
    validators.set(schemaName, v);
  }
  return v;
}
