/**
 * The demo's content pipeline, as data: its five agents, the task list, the prompts each
 * agent sends and the two configurations it runs under. Everything is deterministic (a
 * fixed-seed generator writes the long texts), so two runs send byte-identical requests
 * and the stand-in answers them with identical usage.
 *
 * The "before" pipeline is how such pipelines are often first written: every step on
 * the top model, the per-task details at the start of the system prompt (so no prefix
 * ever repeats and nothing can be cached), no `max_tokens`, no caps. The "after" one
 * changes only what tollgate and a prompt layout change: a stable system prompt first
 * (OpenAI caches repeated prefixes by itself; Anthropic blocks marked `cache_control`),
 * routing by difficulty, `max_tokens` ceilings and per-agent daily caps.
 */
import type Anthropic from '@anthropic-ai/sdk';

/** The three runs of the demo. */
export type DemoPhase = 'before' | 'after' | 'runaway';

/** The demo's agents, one per pipeline step, in pipeline order. */
export const DEMO_AGENTS = ['classify', 'research', 'outline', 'draft', 'validate'] as const;

/** One of {@link DEMO_AGENTS}. */
export type DemoAgent = (typeof DEMO_AGENTS)[number];

/** The agent that loops in the `runaway` phase. */
export const RUNAWAY_AGENT: DemoAgent = 'validate';

/** Provider of each step (the SDK client it uses). */
export const AGENT_PROVIDER: Readonly<Record<DemoAgent, 'openai' | 'anthropic'>> = {
  classify: 'openai',
  research: 'anthropic',
  outline: 'anthropic',
  draft: 'openai',
  validate: 'anthropic',
};

/** The top model of each provider: what every call asks for in the code. */
export const TOP_MODEL: Readonly<Record<'openai' | 'anthropic', string>> = {
  openai: 'gpt-5.5',
  anthropic: 'claude-opus-4-8',
};

/** The request header that names the calling agent, so the stand-in's log can be attributed. */
export const AGENT_HEADER = 'x-tollgate-demo-agent';

/** One task of the pipeline: a piece of content to research, outline, draft and check. */
export interface DemoTask {
  readonly id: string;
  /** The task type (`withTask({ type })`): the kind of content. */
  readonly type: string;
  readonly title: string;
  readonly brief: string;
  /** Words that seed the task's generated source documents. */
  readonly keywords: readonly string[];
}

interface Topic {
  readonly type: string;
  readonly title: string;
  readonly audience: string;
  readonly keywords: readonly string[];
}

const TOPICS: readonly Topic[] = [
  { type: 'how-to', title: 'Rotating database credentials without downtime', audience: 'platform engineers', keywords: ['credentials', 'rotation', 'connection pool', 'secret store', 'rollback'] },
  { type: 'explainer', title: 'What prompt caching changes in an LLM bill', audience: 'engineering managers', keywords: ['prefix', 'cache read', 'cache write', 'latency', 'invoice'] },
  { type: 'release-notes', title: 'Search service 4.2: faster facets and a new ranking flag', audience: 'API customers', keywords: ['facets', 'ranking', 'deprecation', 'migration', 'benchmark'] },
  { type: 'how-to', title: 'Tracing a slow checkout across twelve services', audience: 'site reliability engineers', keywords: ['trace', 'span', 'sampling', 'checkout', 'p99'] },
  { type: 'explainer', title: 'Why our on-call rota moved to follow-the-sun', audience: 'the whole company', keywords: ['rota', 'time zones', 'handover', 'burnout', 'incident'] },
  { type: 'release-notes', title: 'Mobile app 9.0: offline drafts and a calmer inbox', audience: 'end users', keywords: ['offline', 'drafts', 'notifications', 'sync', 'accessibility'] },
  { type: 'how-to', title: 'Capping what a batch job may spend on LLM calls', audience: 'data engineers', keywords: ['budget', 'batch', 'retry', 'cap', 'ledger'] },
  { type: 'explainer', title: 'How feature flags keep risky launches reversible', audience: 'product managers', keywords: ['flag', 'rollout', 'cohort', 'kill switch', 'experiment'] },
];

/** Deterministic 32-bit generator (mulberry32): the demo's only source of variety. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)]!;
}

/** The first `count` tasks (the topics repeat with a new id once they run out). */
export function demoTasks(count: number): DemoTask[] {
  const tasks: DemoTask[] = [];
  for (let i = 0; i < count; i++) {
    const t = TOPICS[i % TOPICS.length]!;
    const round = Math.floor(i / TOPICS.length);
    const title = round === 0 ? t.title : `${t.title} (part ${round + 1})`;
    tasks.push({
      id: `task-${String(i + 1).padStart(3, '0')}`,
      type: t.type,
      title,
      brief:
        `Write a ${t.type.replace('-', ' ')} titled "${title}" for ${t.audience}. ` +
        `Cover ${t.keywords.join(', ')}. Aim for about 900 words, concrete examples, and one checklist.`,
      keywords: t.keywords,
    });
  }
  return tasks;
}

const SUBJECTS = ['a headline', 'an opening paragraph', 'a code sample', 'a checklist', 'a table', 'a quotation', 'a number', 'a product name', 'a warning', 'a link', 'a screenshot caption', 'a summary'];
const VERBS = ['prefer', 'avoid', 'keep', 'state', 'check', 'cut', 'name', 'spell out', 'date', 'attribute'];
const OBJECTS = [
  'plain words over jargon',
  'the reader’s goal in the first sentence',
  'units next to every figure',
  'the version the text applies to',
  'one idea per paragraph',
  'the source of every claim',
  'passive constructions that hide who acts',
  'superlatives that no measurement supports',
  'acronyms on first use',
  'the date a figure was measured',
  'what the reader should do next',
  'sentences longer than thirty words',
];

/**
 * The house style guide every agent's system prompt carries (about 2,600 stand-in tokens):
 * long, identical across tasks, hence worth caching once it comes first.
 */
export function styleGuide(): string {
  const rnd = seededRandom(20261125);
  const lines = [
    'HOUSE STYLE GUIDE — read fully before every answer.',
    'We publish for busy technical readers. Every piece must be accurate, sourced, and useful on first read.',
    'Voice: direct, warm, never breathless. Write as a senior colleague explaining over a desk, not as a brochure.',
    'Structure: a title that promises one outcome, a two-sentence lede, sections with informative headings, a closing checklist.',
    'Evidence: every number, quotation and claim about a product carries its source from the research notes. Unsourced claims are removed, not softened.',
    '',
  ];
  for (let i = 1; i <= 120; i++) {
    lines.push(`Rule ${i}: in ${pick(rnd, SUBJECTS)}, ${pick(rnd, VERBS)} ${pick(rnd, OBJECTS)}; in ${pick(rnd, SUBJECTS)}, ${pick(rnd, VERBS)} ${pick(rnd, OBJECTS)}.`);
  }
  lines.push('', 'When a rule conflicts with accuracy, accuracy wins; say so in a note to the editor.');
  return lines.join('\n');
}

/** What each agent is told to do (after the style guide, in its system prompt). */
export const AGENT_ROLE: Readonly<Record<DemoAgent, string>> = {
  classify:
    'You are the intake classifier of a content team. Read the request and answer with exactly one label from: how-to, explainer, release-notes, opinion, other. Then one line saying why.',
  research:
    'You are the research agent of a content team. Use the search_sources tool to find material for the request, then write research notes: the key facts, each with the id of the source it came from, and the open questions.',
  outline:
    'You are the outline agent of a content team. From the request and the research notes, write a section-by-section outline: headings, the point of each section, and which source backs it.',
  draft:
    'You are the drafting agent of a content team. Write the full piece from the request, the research notes and the outline, following the house style guide to the letter.',
  validate:
    'You are the validation agent of a content team. Check the draft against the sources and the style guide. Answer with JSON only: {"verdict": "pass" | "fail", "problems": [...]}.',
};

/** The research agent's tool (Anthropic tool definition). */
export const SEARCH_TOOL: Anthropic.Tool = {
  name: 'search_sources',
  description: 'Searches the team’s source library (docs, changelogs, incident reviews, interviews) and returns the best matching excerpts with their ids.',
  input_schema: {
    type: 'object',
    properties: {
      query: { type: 'string', description: 'What to look for.' },
      max_results: { type: 'integer', description: 'How many excerpts to return (1-5).' },
    },
    required: ['query'],
  },
};

const SOURCE_KINDS = ['design doc', 'changelog', 'incident review', 'customer interview', 'benchmark report', 'support ticket digest'];
const FINDINGS = [
  'reduced the median time by a third after the change',
  'caused two incidents when the old path was removed too early',
  'is used by most teams that answered the survey',
  'needs a migration step that the docs do not mention',
  'was measured on production traffic for two weeks',
  'depends on a setting that defaults to off',
  'is the most common question in support tickets',
  'has a known limitation with very large accounts',
];

/** The tool's answer: three source excerpts about the task (about 450 stand-in tokens each). */
export function searchSources(task: DemoTask, query: string): string {
  const rnd = seededRandom(hash(`${task.id}|${query}`));
  const docs: string[] = [];
  for (let d = 1; d <= 3; d++) {
    const kind = pick(rnd, SOURCE_KINDS);
    const parts = [`[source ${task.id}-s${d}] ${kind}: "${task.title}"`];
    for (let s = 0; s < 14; s++) {
      parts.push(`The ${pick(rnd, task.keywords)} work ${pick(rnd, FINDINGS)}; the ${pick(rnd, task.keywords)} team ${pick(rnd, FINDINGS)}.`);
    }
    docs.push(parts.join(' '));
  }
  return docs.join('\n\n');
}

/** FNV-1a, for per-task seeds. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The system prompt of a step. "before" starts with the per-task details, so no two
 * requests share a prefix; "after" is the same text for every task.
 */
export function systemPrompt(phase: DemoPhase, agent: DemoAgent, task: DemoTask): string {
  const stable = `${AGENT_ROLE[agent]}\n\n${styleGuide()}`;
  if (phase === 'before') return `Request ${task.id} (${task.type}): "${task.title}".\n${stable}`;
  return stable;
}

/**
 * USD an agent is budgeted per task in the "after" configuration. Its daily cap is this
 * x (tasks + 2): the batch plus two tasks of headroom, since a call is admitted only if
 * its worst case (input + the `max_tokens` ceiling, at the model's rates) fits.
 */
export const BUDGET_PER_TASK_USD: Readonly<Record<DemoAgent, number>> = {
  classify: 0.002,
  research: 0.03,
  outline: 0.02,
  draft: 0.04,
  validate: 0.006,
};

/** `max_tokens` ceilings per agent in the "after" configuration. */
export const MAX_TOKENS: Readonly<Record<DemoAgent, number>> = {
  classify: 64,
  research: 1024,
  outline: 1024,
  draft: 1500,
  validate: 256,
};

/**
 * The config document (TOLLGATE_CONFIG format) of a phase. "before" has no caps, no
 * ceilings, no routes: tollgate only observes. "after" and "runaway" route by difficulty,
 * set ceilings and cap each agent's daily spend (see {@link dailyCapUsd}).
 */
export function phaseConfig(phase: DemoPhase, taskCount: number): Record<string, unknown> {
  if (phase === 'before') return { version: 1 };
  const agents: Record<string, unknown> = {};
  for (const agent of DEMO_AGENTS) {
    // With a durable ledger (sqlite, redis) the runaway phase runs on the same UTC day as
    // "after" and shares its counters: the well-behaved agents get room for both batches,
    // the runaway agent keeps one batch's cap (that is what stops it).
    const batches = phase === 'runaway' && agent !== RUNAWAY_AGENT ? 2 * taskCount : taskCount;
    agents[agent] = { dailyUsd: dailyCapUsd(agent, batches), maxTokens: MAX_TOKENS[agent], onExceed: 'block' };
  }
  return {
    version: 1,
    agents,
    ladders: {
      openai: ['gpt-5.5', 'gpt-5.4-mini', 'gpt-5.4-nano'],
      anthropic: ['claude-opus-4-8', 'claude-sonnet-4-6', 'claude-haiku-4-5'],
    },
    routes: [
      { name: 'classification is easy', match: { agent: 'classify' }, model: 'gpt-5.4-nano' },
      { name: 'validation is a checklist', match: { agent: 'validate' }, model: 'claude-haiku-4-5' },
      { name: 'research and outline need a mid model', match: { agent: ['research', 'outline'] }, model: 'claude-sonnet-4-6' },
    ],
  };
}

/** The daily cap of an agent in the "after" configuration, for a batch of `taskCount` tasks. */
export function dailyCapUsd(agent: DemoAgent, taskCount: number): number {
  return round6(BUDGET_PER_TASK_USD[agent] * (taskCount + 2));
}

function round6(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
