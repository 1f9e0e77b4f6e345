/** The plan the orchestrator gives the generator process, and the messages it sends back (IPC). */
import type { HistogramJson } from './histogram.ts';
import type { MarketPlan, MixConfig } from './mix.ts';
import type { PeakCriteria, Step } from './ramp.ts';

export interface MarketListing {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  referencePrice: string;
}

/** Listed by the generator's admin at setup (a run-unique suffix when the system is not our own). */
export const DEFAULT_MARKETS: MarketListing[] = [
  { symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.0001', referencePrice: '65000.00' },
  { symbol: 'ETH-USD', baseAsset: 'ETH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', referencePrice: '3200.00' },
  { symbol: 'SOL-USD', baseAsset: 'SOL', quoteAsset: 'USD', tickSize: '0.001', lotSize: '0.01', referencePrice: '150.000' },
  { symbol: 'XRP-USD', baseAsset: 'XRP', quoteAsset: 'USD', tickSize: '0.0001', lotSize: '1', referencePrice: '0.6000' },
];

export interface GeneratorPlan {
  url: string;
  admin: { username: string; password: string };
  seed: string;
  traders: number;
  markets: number;
  /** Appended to symbols (and usernames) so that runs against a shared system do not collide. */
  runTag: string;
  /** Use the plain symbols above (a fresh system of our own) instead of suffixed ones. */
  plainSymbols: boolean;
  schedule: Step[];
  mix?: Partial<MixConfig>;
  /** Fraction of placed orders whose read-model lag is measured; negative: by source (http 0.01, db 0.05). */
  lagSample: number;
  lagPollMs: number;
  lagTimeoutMs: number;
  /** http lag source: at most this many orders watched at once (bounds the polling load). */
  lagMaxProbes: number;
  /** Database of the read models: LISTEN for the log → read-model lag of every 202, and the `db` lag source when GET /api/v1/orders/:id is missing. */
  databaseUrl?: string;
  lagSource: 'auto' | 'http' | 'db' | 'off';
  maxInflight: number;
  connections: number;
  /** Per trader, per asset. */
  deposit: { quote: string; base: string };
  setupConcurrency: number;
  /** Cancel every order the traders still know about after the schedule. */
  drain: boolean;
  reportEveryMs: number;
  /** Ramps: stop after this many failing steps in a row (0: run every step), judged with `criteria`. */
  stopAfterFailures: number;
  criteria: PeakCriteria;
}

export type Kind = 'place' | 'amend' | 'cancel';
/** A command's answer as the latency is broken down: an accepted (202) place, amend or cancel, or a 409 refusal. */
export type AnswerKind = Kind | 'refused';
export const ANSWER_KINDS: readonly AnswerKind[] = ['place', 'amend', 'cancel', 'refused'];

export interface Window {
  /** Seconds since the load started (end of the window). */
  t: number;
  step: number;
  offered: number;
  sent: number;
  shed: number;
  accepted: Record<Kind, number>;
  /** Answers by HTTP status (or 'network'). */
  statuses: Record<string, number>;
  latency: HistogramJson;
  lag: HistogramJson;
  lagTimeouts: number;
  /** 202 → the projection's notification at or past its position (every 202); absent in older runs. */
  logLag?: HistogramJson;
  inflight: number;
  backlog: number;
  /** Generator process CPU (user + system) in ms during the window. */
  cpuMs: number;
  rssBytes: number;
}

export interface StepTotals {
  index: number;
  label: string;
  rate: number;
  seconds: number;
  offered: number;
  sent: number;
  shed: number;
  accepted: Record<Kind, number>;
  conflicts: number;
  errors: number;
  statuses: Record<string, number>;
  latency: HistogramJson;
  service: HistogramJson;
  /** Latency by answer: each kind's 202s, and the 409s (absent in older runs). */
  latencyByAnswer?: Record<AnswerKind, HistogramJson>;
  lag: HistogramJson;
  lagTimeouts: number;
  logLag?: HistogramJson;
}

export interface DoneMessage {
  type: 'done';
  steps: StepTotals[];
  totals: { accepted: Record<Kind, number>; drainAccepted: number; drainOther: Record<string, number>; errors: number; conflicts: number };
  lagSource: 'http' | 'db' | 'off';
  /** Lag samples skipped because `lagMaxProbes` orders were already being watched. */
  lagSkipped: number;
  /** GET /api/v1/orders/:id requests made to observe the lag (they load the server too). */
  lagReads: number;
  /** Whether the log → read-model lag was measured (LISTEN), and how many 202s it never saw projected. */
  logLag?: { measured: boolean; unresolved: number };
  errorSamples: string[];
  decisionsByTag: Record<string, number>;
  loadSeconds: number;
  /** Steps not run because the ramp stopped early. */
  skippedSteps: number;
}

export type GeneratorMessage =
  | { type: 'log'; text: string }
  | { type: 'setup-done'; userIds: number[]; markets: MarketPlan[]; setupMs: number; lagSource: 'http' | 'db' | 'off' }
  | { type: 'step'; index: number; label: string; rate: number }
  | ({ type: 'window' } & Window)
  | DoneMessage
  | { type: 'error'; message: string };
