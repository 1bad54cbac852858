/**
 * Streaming reader for files of OTLP JSON lines (plain or gzip).
 *
 * The file is read as a stream and split into lines by node:readline, so memory
 * holds one line (one export batch) at a time, never the file: a 1 GB file of
 * normal batches is read in a few MB of heap. A single line is held whole, so a
 * file that is one gigantic line is not streamed; the collector's file exporter
 * and OTLP/HTTP bodies are one batch per line, far below that.
 */
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TollgateError } from '../errors.ts';
import type { TollgateErrorCode } from '../errors.ts';
import { decodeTraceRequest, OtlpShapeError } from './otlp.ts';
import type { OtlpSpan } from './otlp.ts';

/** A line that was skipped, with why. Line numbers start at 1. */
export interface MalformedLine {
  readonly line: number;
  readonly reason: string;
}

/** What reading a file found. */
export interface ReadSummary {
  /** Lines read, blank ones included. */
  readonly lines: number;
  /** Lines that were skipped as malformed (bad JSON, wrong shape, truncated). */
  readonly skippedLines: number;
  /** Spans decoded from the lines that were kept. */
  readonly spans: number;
  /** The file was gzip-compressed. */
  readonly gzip: boolean;
}

/** Callbacks of {@link readOtlpFile}. */
export interface ReadOtlpFileOptions {
  /** Called for every span of every well-formed line, in file order. */
  readonly onSpan: (span: OtlpSpan) => void;
  /** Called for every skipped line, as soon as it is found. */
  readonly onMalformed?: (malformed: MalformedLine) => void;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/** The code of the error {@link readOtlpFile} throws when the file cannot be opened or read. */
export const REPORT_INPUT_ERROR = 'REPORT_INPUT' satisfies TollgateErrorCode;

function describeJsonError(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : String(err);
  // JSON that stops early (a line cut by a crash, or a copy made while the
  // collector was still writing) fails at its very end: V8 says "end of JSON
  // input" or names a position at the end of the text.
  const position = /at position (\d+)/.exec(message)?.[1];
  const atEnd = /end of JSON input/i.test(message) || (position !== undefined && Number(position) >= text.trimEnd().length);
  return `${atEnd ? 'truncated' : 'invalid'} JSON (${message})`;
}

/**
 * Reads a file of OTLP JSON lines (the collector's file exporter output, or
 * OTLP/HTTP JSON request bodies one per line), gunzipping it when it starts with
 * the gzip magic bytes. Malformed lines go to `onMalformed` and are skipped;
 * gzip data that ends early counts as one more skipped line and ends the read.
 *
 * @throws TollgateError with code `REPORT_INPUT` when the file cannot be opened or read.
 */
export async function readOtlpFile(path: string, options: ReadOtlpFileOptions): Promise<ReadSummary> {
  const { onSpan } = options;
  const onMalformed = options.onMalformed ?? ((): void => undefined);

  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new TollgateError(REPORT_INPUT_ERROR, `tollgate report: cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  let gzip: boolean;
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    gzip = bytesRead === 2 && magic[0] === GZIP_MAGIC_0 && magic[1] === GZIP_MAGIC_1;
  } catch (err) {
    await handle.close();
    throw new TollgateError(REPORT_INPUT_ERROR, `tollgate report: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }

  const fileStream = handle.createReadStream({ start: 0, autoClose: true });
  let gzipError: Error | undefined;
  let input: NodeJS.ReadableStream = fileStream;
  if (gzip) {
    const gunzip = createGunzip();
    gunzip.on('error', (err) => {
      gzipError ??= err;
    });
    // pipeline (not pipe) so a read error on the file destroys the gunzip stream
    // and reaches the line loop instead of leaving it waiting forever.
    input = pipeline(fileStream, gunzip, () => undefined);
  }

  const rl = createInterface({ input, crlfDelay: Infinity });
  let lines = 0;
  let skippedLines = 0;
  let spans = 0;
  const skip = (line: number, reason: string): void => {
    skippedLines++;
    onMalformed({ line, reason });
  };

  try {
    for await (const text of rl) {
      lines++;
      if (text.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        skip(lines, describeJsonError(err, text));
        continue;
      }
      let decoded: OtlpSpan[];
      try {
        decoded = decodeTraceRequest(parsed);
      } catch (err) {
        if (!(err instanceof OtlpShapeError)) throw err;
        skip(lines, `not an OTLP trace export: ${err.message}`);
        continue;
      }
      for (const span of decoded) onSpan(span);
      spans += decoded.length;
    }
  } catch (err) {
    if (gzipError === undefined) {
      throw new TollgateError(REPORT_INPUT_ERROR, `tollgate report: cannot read ${path} after line ${lines}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    // A truncated .gz (copied while being written, a download cut short) still
    // holds good lines before the cut: keep them, count the lost tail as one line.
    lines++;
    skip(lines, `gzip data ends early or is corrupt (${gzipError.message}); the rest of the file was not read`);
  } finally {
    rl.close();
    fileStream.destroy();
  }
  return { lines, skippedLines, spans, gzip };
}
