/**
 * The Bedrock stand-in writes AWS event-stream frames itself (src/standin/bedrock.ts ships in dist,
 * where no AWS package may be imported). Checked against the codec the AWS SDK decodes with
 * (`@smithy/core/event-streams`, a devDependency): byte-identical to its encoding of the same
 * message, decoded back to the same headers and payload, and a frame with a flipped message CRC is
 * rejected by it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { eventFrame } from '../../src/standin/bedrock.ts';

const codec = new EventStreamCodec(
  (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8'),
  (text: string) => new Uint8Array(Buffer.from(text, 'utf8')),
);

const payloads: [string, unknown][] = [
  ['messageStart', { role: 'assistant' }],
  ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Grüße, 世界 ✓' } }],
  ['metadata', { usage: { inputTokens: 22, outputTokens: 13, totalTokens: 35 }, metrics: { latencyMs: 12 } }],
  ['chunk', { bytes: Buffer.alloc(300, 'x').toString('base64') }],
];

void test('eventFrame matches the AWS SDK codec byte for byte and decodes back', () => {
  for (const [type, payload] of payloads) {
    const ours = eventFrame(type, payload);
    const theirs = codec.encode({
      headers: {
        ':message-type': { type: 'string', value: 'event' },
        ':event-type': { type: 'string', value: type },
        ':content-type': { type: 'string', value: 'application/json' },
      },
      body: new Uint8Array(Buffer.from(JSON.stringify(payload))),
    });
    assert.deepEqual(Buffer.from(ours), Buffer.from(theirs), type);
    const decoded = codec.decode(ours);
    assert.equal(decoded.headers[':event-type']?.value, type);
    assert.equal(decoded.headers[':message-type']?.value, 'event');
    assert.deepEqual(JSON.parse(Buffer.from(decoded.body).toString('utf8')), payload);
  }
});

void test('a frame with a wrong message CRC is rejected by the SDK codec', () => {
  const frame = Buffer.from(eventFrame('metadata', { usage: {} }));
  frame.writeUInt32BE((frame.readUInt32BE(frame.length - 4) ^ 1) >>> 0, frame.length - 4);
  assert.throws(() => codec.decode(new Uint8Array(frame)), /checksum/i);
});
