/**
 * Decoding of one line of OTLP JSON into flat span records.
 *
 * Both line formats the report accepts have the same shape, an
 * `ExportTraceServiceRequest` (`{"resourceSpans":[...]}`): the collector's file
 * exporter writes one per line, and an OTLP/HTTP JSON request body is one. They
 * differ in details the decoder absorbs: the collector writes int64 values as
 * strings (`"intValue":"12"`) and `"parentSpanId":""` for a root span, the JS
 * exporter writes `"intValue":12` and omits the parent; enums may be numbers or
 * their proto names (`"STATUS_CODE_ERROR"`); collectors before OTLP 0.19 wrote
 * `instrumentationLibrarySpans` instead of `scopeSpans`.
 *
 * A line is validated as a whole: a line with one malformed span is skipped
 * entirely, so a report never mixes half a batch into its totals.
 */
import { isRecord } from '../internal/values.ts';

/** An attribute value as decoded from OTLP JSON `AnyValue`. */
export type AttrValue = string | number | boolean | null | readonly AttrValue[] | { readonly [key: string]: AttrValue };

/** Attributes of a span or a resource, by key. */
export type Attributes = ReadonlyMap<string, AttrValue>;

/** OTLP status codes (`Status.code`). */
export const STATUS_UNSET = 0;
export const STATUS_OK = 1;
export const STATUS_ERROR = 2;

/** One span, flattened with its resource's attributes. */
export interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** Epoch milliseconds (the nanosecond strings of OTLP, truncated). 0 when absent. */
  readonly startTimeMillis: number;
  readonly endTimeMillis: number;
  /** {@link STATUS_UNSET}, {@link STATUS_OK} or {@link STATUS_ERROR}. */
  readonly statusCode: number;
  readonly attributes: Attributes;
  readonly resource: Attributes;
}

/** A line that is JSON but not an OTLP trace export; `path` says where it went wrong. */
export class OtlpShapeError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'OtlpShapeError';
    this.path = path;
  }
}

const STATUS_NAMES: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: STATUS_UNSET,
  STATUS_CODE_OK: STATUS_OK,
  STATUS_CODE_ERROR: STATUS_ERROR,
};

type Json = Record<string, unknown>;

function arrayAt(parent: Json, key: string, path: string, required: boolean): readonly unknown[] {
  const value = parent[key];
  if (value === undefined || value === null) {
    if (required) throw new OtlpShapeError(`${path}.${key}`, 'missing, expected an array');
    return [];
  }
  if (!Array.isArray(value)) throw new OtlpShapeError(`${path}.${key}`, `expected an array, got ${typeof value}`);
  return value;
}

function objectAt(value: unknown, path: string): Json {
  if (!isRecord(value)) throw new OtlpShapeError(path, `expected an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  return value;
}

function idAt(span: Json, key: string, path: string, required: boolean): string {
  const value = span[key];
  if (value === undefined || value === null || value === '') {
    if (required) throw new OtlpShapeError(`${path}.${key}`, 'missing, expected a hex id');
    return '';
  }
  if (typeof value !== 'string') throw new OtlpShapeError(`${path}.${key}`, `expected a hex string, got ${typeof value}`);
  return value;
}

/** Nanoseconds since the epoch (a decimal string, as OTLP JSON writes int64, or a number) to milliseconds. */
function timeAt(span: Json, key: string, path: string): number {
  const value = span[key];
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.trunc(value / 1e6);
  // BigInt keeps the string exact: a float would lose the nanoseconds, and
  // dividing in BigInt avoids the 2^53 limit of nanosecond epochs.
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return Number(BigInt(value) / 1_000_000n);
  throw new OtlpShapeError(`${path}.${key}`, `expected nanoseconds as a decimal string, got ${JSON.stringify(value)}`);
}

function statusAt(span: Json, path: string): number {
  const status = span['status'];
  if (status === undefined || status === null) return STATUS_UNSET;
  const obj = objectAt(status, `${path}.status`);
  const code = obj['code'];
  if (code === undefined || code === null) return STATUS_UNSET;
  if (code === 0 || code === 1 || code === 2) return code;
  if (typeof code === 'string') {
    const named = STATUS_NAMES[code];
    if (named !== undefined) return named;
  }
  throw new OtlpShapeError(`${path}.status.code`, `expected 0, 1, 2 or a STATUS_CODE_* name, got ${JSON.stringify(code)}`);
}

/** Decodes an OTLP JSON `AnyValue`. */
function decodeValue(value: unknown, path: string): AttrValue {
  // An empty AnyValue is legal OTLP (an attribute explicitly set to nothing).
  if (value === undefined || value === null) return null;
  const obj = objectAt(value, path);
  if ('stringValue' in obj) {
    const v = obj['stringValue'];
    if (typeof v !== 'string') throw new OtlpShapeError(`${path}.stringValue`, 'expected a string');
    return v;
  }
  if ('intValue' in obj) {
    const v = obj['intValue'];
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    throw new OtlpShapeError(`${path}.intValue`, `expected an integer or a decimal string, got ${JSON.stringify(v)}`);
  }
  if ('doubleValue' in obj) {
    const v = obj['doubleValue'];
    if (typeof v === 'number') return v;
    // Proto JSON writes non-finite doubles, and some writers any double, as strings.
    if (typeof v === 'string' && (v === 'NaN' || v === 'Infinity' || v === '-Infinity' || Number.isFinite(Number(v)))) return Number(v);
    throw new OtlpShapeError(`${path}.doubleValue`, `expected a number, got ${JSON.stringify(v)}`);
  }
  if ('boolValue' in obj) {
    const v = obj['boolValue'];
    if (typeof v !== 'boolean') throw new OtlpShapeError(`${path}.boolValue`, 'expected a boolean');
    return v;
  }
  if ('arrayValue' in obj) {
    const arr = objectAt(obj['arrayValue'] ?? {}, `${path}.arrayValue`);
    return arrayAt(arr, 'values', `${path}.arrayValue`, false).map((item, i) => decodeValue(item, `${path}.arrayValue.values[${i}]`));
  }
  if ('kvlistValue' in obj) {
    const kv = objectAt(obj['kvlistValue'] ?? {}, `${path}.kvlistValue`);
    const out: Record<string, AttrValue> = {};
    for (const [k, v] of decodeAttributes(kv, 'values', `${path}.kvlistValue`)) out[k] = v;
    return out;
  }
  if ('bytesValue' in obj) {
    const v = obj['bytesValue'];
    if (typeof v !== 'string') throw new OtlpShapeError(`${path}.bytesValue`, 'expected a base64 string');
    return v;
  }
  if (Object.keys(obj).length === 0) return null;
  throw new OtlpShapeError(path, `unknown value type ${JSON.stringify(Object.keys(obj)[0])}`);
}

function decodeAttributes(parent: Json, key: string, path: string): Map<string, AttrValue> {
  const out = new Map<string, AttrValue>();
  const list = arrayAt(parent, key, path, false);
  for (let i = 0; i < list.length; i++) {
    const itemPath = `${path}.${key}[${i}]`;
    const kv = objectAt(list[i], itemPath);
    const k = kv['key'];
    if (typeof k !== 'string') throw new OtlpShapeError(`${itemPath}.key`, 'expected a string');
    out.set(k, decodeValue(kv['value'], `${itemPath}.value`));
  }
  return out;
}

/**
 * Decodes one parsed JSON line (an `ExportTraceServiceRequest` / `TracesData`)
 * into spans. Throws {@link OtlpShapeError} naming the first place that does not
 * fit, before returning anything.
 */
export function decodeTraceRequest(line: unknown): OtlpSpan[] {
  const root = objectAt(line, '$');
  if (!('resourceSpans' in root)) {
    const keys = Object.keys(root).slice(0, 3).join(', ');
    throw new OtlpShapeError('$', `expected an OTLP trace export {"resourceSpans":[...]}, got an object with ${keys === '' ? 'no keys' : `keys ${keys}`}`);
  }
  const spans: OtlpSpan[] = [];
  const resourceSpans = arrayAt(root, 'resourceSpans', '$', true);
  for (let r = 0; r < resourceSpans.length; r++) {
    const rsPath = `$.resourceSpans[${r}]`;
    const rs = objectAt(resourceSpans[r], rsPath);
    const resourceObj = rs['resource'] === undefined || rs['resource'] === null ? {} : objectAt(rs['resource'], `${rsPath}.resource`);
    const resource = decodeAttributes(resourceObj, 'attributes', `${rsPath}.resource`);
    const scopeKey = 'scopeSpans' in rs ? 'scopeSpans' : 'instrumentationLibrarySpans';
    const scopes = arrayAt(rs, scopeKey, rsPath, false);
    for (let s = 0; s < scopes.length; s++) {
      const ssPath = `${rsPath}.${scopeKey}[${s}]`;
      const ss = objectAt(scopes[s], ssPath);
      const list = arrayAt(ss, 'spans', ssPath, false);
      for (let i = 0; i < list.length; i++) {
        const path = `${ssPath}.spans[${i}]`;
        const span = objectAt(list[i], path);
        const name = span['name'];
        spans.push({
          traceId: idAt(span, 'traceId', path, true),
          spanId: idAt(span, 'spanId', path, true),
          parentSpanId: idAt(span, 'parentSpanId', path, false),
          name: typeof name === 'string' ? name : '',
          startTimeMillis: timeAt(span, 'startTimeUnixNano', path),
          endTimeMillis: timeAt(span, 'endTimeUnixNano', path),
          statusCode: statusAt(span, path),
          attributes: decodeAttributes(span, 'attributes', path),
          resource,
        });
      }
    }
  }
  return spans;
}
