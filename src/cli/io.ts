/** What a CLI command gets: its arguments, where to write, and the environment. Injected so tests run commands in-process. */
export interface CliIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** A subcommand: resolves to the process exit code. */
export type Command = (args: readonly string[], io: CliIO) => Promise<number>;
