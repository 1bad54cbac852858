/**
 * Finds places where the repository's own code reads a path outside the repository.
 *
 * A clone must pass its tests with nothing beside it, but CI (and every developer
 * machine here) has the project's reference folder `shared` next to the clone, so a
 * test that reads from that sibling folder passes there and fails for everyone else. Running the
 * suite cannot notice; this static scan can. It looks at the code under the given roots
 * for:
 * - relative path literals (`'../x'`, `new URL('../../x', import.meta.url)`, import
 *   specifiers) that resolve, from the file's own directory, above the repository root;
 * - `join`/`resolve` calls on the file's own directory (`import.meta.dirname`,
 *   `__dirname`) whose literal segments climb above the root;
 * - in shell scripts, `"$(dirname "$0")/.."`-style paths (resolved from the script's
 *   directory) and bare relative paths (resolved from the repository root, where every
 *   script here `cd`s first);
 * - `file://` URLs, and absolute paths into this workplace's folders (`/work`,
 *   `/home`, `/root`), which no clone elsewhere has;
 * - any mention of the sibling `shared` folder or its `reference` subfolder.
 * Paths under the user's cache (`~/.cache/tollgate`) are written by the repository's own
 * provisioning scripts and are not reads of outside data, so they are allowed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';

/** One offending line: where it is and what it reads. */
export interface OutsideRead {
  /** File path relative to the repository root, with `/` separators. */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** The literal or construct found. */
  readonly text: string;
  /** Why it counts as outside. */
  readonly reason: string;
}

const CODE_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.sh', '.bash']);
/** Directories whose contents are data, never code that reads files. */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.cache', 'fixtures', 'data']);

/** Lists code files under `roots` (relative to `repoRoot`), skipping data folders. */
export function codeFiles(repoRoot: string, roots: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // a root that does not exist in this checkout has nothing to scan
    }
    for (const name of names.sort()) {
      const full = join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) walk(full);
      } else if (isCode(full, st.mode)) {
        out.push(full);
      }
    }
  };
  for (const r of roots) walk(resolve(repoRoot, r));
  return out;
}

function isCode(file: string, mode: number): boolean {
  if (CODE_EXTENSIONS.has(extname(file))) return true;
  // Extension-less executables (`.ci/run`) are shell scripts.
  if (extname(file) === '' && (mode & 0o111) !== 0) return true;
  if (extname(file) === '') {
    const head = readFileSync(file, 'utf8').slice(0, 32);
    return head.startsWith('#!');
  }
  return false;
}

function isShell(file: string, text: string): boolean {
  return extname(file) === '.sh' || extname(file) === '.bash' || (extname(file) === '' && /^#!.*\b(ba|da|z)?sh\b/.test(text));
}

function outside(repoRoot: string, target: string): boolean {
  const rel = relative(repoRoot, target);
  return rel === '..' || rel.startsWith(`..${sep}`) || resolve(target) === resolve(repoRoot, '..');
}

const WORKPLACE_ABSOLUTE = /(?<![\w.~$}/-])\/(?:work|home|root)\/[\w./+-]*/g;
const REFERENCE_FOLDER = /\.\.\/shared\b|shared\/reference\b/g;
const FILE_URL = /file:\/\/\/?[\w./%+-]+/g;
const STRING_LITERAL = /(['"`])((?:\.\.?)(?:\/[^'"`\s]*)?)\1/g;
const JOIN_CALL = /\b(?:join|resolve)\(\s*(import\.meta\.dirname|__dirname|dirname\(fileURLToPath\(import\.meta\.url\)\))\s*((?:,\s*(['"])[^'"]*\3\s*)+)\)/g;
const SHELL_SCRIPT_DIR = /\$\(dirname "?\$(?:0|\{BASH_SOURCE\[0\]\}|BASH_SOURCE)"?\)((?:\/[^\s"')]+)*)/g;
const SHELL_RELATIVE = /(?<=^|[\s=("'])(\.\.(?:\/[^\s"')]*)?)/g;

/** Scans one file's text; `file` is its absolute path inside `repoRoot`. */
export function scanText(repoRoot: string, file: string, text: string): OutsideRead[] {
  const found: OutsideRead[] = [];
  const relFile = relative(repoRoot, file).split(sep).join('/');
  const dir = dirname(file);
  const shell = isShell(file, text);
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const hit = (t: string, reason: string): void => {
      found.push({ file: relFile, line: i + 1, text: t, reason });
    };
    for (const m of line.matchAll(REFERENCE_FOLDER)) hit(m[0], 'names the reference folder beside the clone');
    for (const m of line.matchAll(FILE_URL)) hit(m[0], 'an absolute file URL');
    for (const m of line.matchAll(WORKPLACE_ABSOLUTE)) hit(m[0], 'an absolute path on this machine');
    if (shell) {
      const fromScriptDir = new Set<number>();
      for (const m of line.matchAll(SHELL_SCRIPT_DIR)) {
        const target = resolve(dir, `.${m[1] ?? ''}`);
        // Remember where the `..` that belongs to this construct starts, so it is not read again as bare.
        fromScriptDir.add((m.index ?? 0) + m[0].length - (m[1] ?? '').length + 1);
        if (outside(repoRoot, target)) hit(m[0], `resolves to ${target}, outside ${repoRoot}`);
      }
      for (const m of line.matchAll(SHELL_RELATIVE)) {
        if (fromScriptDir.has(m.index ?? -1)) continue;
        const target = resolve(repoRoot, m[1] ?? '');
        if (outside(repoRoot, target)) hit(m[1] ?? '', `resolves from the repository root to ${target}, outside it`);
      }
      return;
    }
    for (const m of line.matchAll(STRING_LITERAL)) {
      const target = resolve(dir, m[2] ?? '');
      if (outside(repoRoot, target)) hit(m[0], `resolves from ${relative(repoRoot, dir) || '.'} to ${target}, outside ${repoRoot}`);
    }
    for (const m of line.matchAll(JOIN_CALL)) {
      const segments = [...(m[2] ?? '').matchAll(/(['"])([^'"]*)\1/g)].map((s) => s[2] ?? '');
      const target = resolve(dir, ...segments);
      if (outside(repoRoot, target)) hit(m[0], `resolves to ${target}, outside ${repoRoot}`);
    }
  });
  return found;
}

/** Scans every code file under `roots` of `repoRoot`. */
export function findOutsideReads(repoRoot: string, roots: readonly string[]): OutsideRead[] {
  return codeFiles(repoRoot, roots).flatMap((f) => scanText(repoRoot, f, readFileSync(f, 'utf8')));
}
