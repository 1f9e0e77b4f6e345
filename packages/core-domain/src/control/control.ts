/**
 * Kill switches (control stream) and market halts and listings (markets stream), folded into one
 * read-only view that the risk and execution handlers consult: `isBlocked(control, userId, marketId)`.
 * A small decider validates the admin commands that command-api turns into those events.
 */
import type { EventData, KillSwitchScope, TradecoreEvent } from '../events.ts';
import { catalogueEvent, type CatalogueEvent } from '../order/decider.ts';
import { marketSpecOf, type MarketSpec } from '../market/spec.ts';

export interface KillSwitch {
  scope: KillSwitchScope;
  /** For scope `market`: the market. For scope `user`: null (all markets) or one market. */
  marketId: number | null;
  /** For scope `user`: the user. */
  userId: number | null;
  reason: string;
}

export interface ControlState {
  /** Engaged kill switches, in the order they were engaged. */
  killSwitches: readonly KillSwitch[];
  /** Halted markets and the recorded reason. */
  halted: ReadonlyMap<number, string>;
  /** Listed markets by id. */
  markets: ReadonlyMap<number, MarketSpec>;
}

export interface Block {
  reason: 'kill_switch' | 'market_halted';
  /** The rule that blocked, e.g. `kill_switch.global`, `kill_switch.user`, `market_halted`. */
  rule: string;
  /** The recorded reason given by the admin. */
  detail: string;
}

export function initialControlState(): ControlState {
  return { killSwitches: [], halted: new Map(), markets: new Map() };
}

function sameSwitch(a: Pick<KillSwitch, 'scope' | 'marketId' | 'userId'>, b: Pick<KillSwitch, 'scope' | 'marketId' | 'userId'>): boolean {
  return a.scope === b.scope && a.marketId === b.marketId && a.userId === b.userId;
}

/** Fold an event of the control or markets stream; any other event leaves the state as it is. */
export function evolveControl(state: ControlState, event: TradecoreEvent): ControlState {
  return foldControl(state, [event]);
}

/**
 * `events` folded onto `state`: the same as `events.reduce(evolveControl, state)`, but each map and
 * the kill-switch list is copied once for the whole run, not once per event. A handler's start folds
 * every listing ever made, and a copy per listing made that quadratic in the markets.
 */
export function foldControl(state: ControlState, events: Iterable<TradecoreEvent>): ControlState {
  // Copied on the first change, then changed in place: `state` itself is never touched.
  let markets: Map<number, MarketSpec> | null = null;
  let halted: Map<number, string> | null = null;
  let killSwitches: KillSwitch[] | null = null;
  for (const event of events) {
    switch (event.type) {
      case 'MarketListed':
        (markets ??= new Map(state.markets)).set(event.data.marketId, marketSpecOf(event.data));
        break;
      case 'MarketHalted':
        (halted ??= new Map(state.halted)).set(event.data.marketId, event.data.reason);
        break;
      case 'MarketResumed':
        if ((halted ?? state.halted).has(event.data.marketId)) (halted ??= new Map(state.halted)).delete(event.data.marketId);
        break;
      case 'KillSwitchEngaged': {
        const { scope, marketId, userId, reason } = event.data;
        const ks: KillSwitch = { scope, marketId, userId, reason };
        if (!(killSwitches ?? state.killSwitches).some((k) => sameSwitch(k, ks))) (killSwitches ??= [...state.killSwitches]).push(ks);
        break;
      }
      case 'KillSwitchReleased': {
        const released = event.data;
        const current: readonly KillSwitch[] = killSwitches ?? state.killSwitches;
        if (current.some((k) => sameSwitch(k, released))) killSwitches = current.filter((k) => !sameSwitch(k, released));
        break;
      }
      default:
        break;
    }
  }
  if (!markets && !halted && !killSwitches) return state;
  return { killSwitches: killSwitches ?? state.killSwitches, halted: halted ?? state.halted, markets: markets ?? state.markets };
}

/** True when kill switch `ks` covers orders of `userId` in `marketId`. */
export function killSwitchCovers(ks: Pick<KillSwitch, 'scope' | 'marketId' | 'userId'>, userId: number, marketId: number): boolean {
  switch (ks.scope) {
    case 'global':
      return true;
    case 'market':
      return ks.marketId === marketId;
    case 'user':
      return ks.userId === userId && (ks.marketId === null || ks.marketId === marketId);
  }
}

/**
 * The engaged kill switches by what they cover, each scope keeping the first engaged switch that
 * covers a user or market (the one `isBlocked` reports). A list is never changed in place (the fold
 * copies it), so an index built once per list stays right for as long as the list is the view's.
 */
interface KillSwitchIndex {
  global: KillSwitch | undefined;
  byMarket: ReadonlyMap<number, KillSwitch>;
  byUser: ReadonlyMap<number, UserSwitches>;
}

/** A user's first switch for all markets and first per market, with where each stands in the list. */
interface UserSwitches {
  allMarkets: EngagedAt | undefined;
  byMarket: Map<number, EngagedAt>;
}

interface EngagedAt {
  killSwitch: KillSwitch;
  /** Its position in the engaged list: a lower one was engaged first. */
  at: number;
}

const killSwitchIndexes = new WeakMap<readonly KillSwitch[], KillSwitchIndex>();

function killSwitchIndexOf(killSwitches: readonly KillSwitch[]): KillSwitchIndex {
  const known = killSwitchIndexes.get(killSwitches);
  if (known) return known;
  let global: KillSwitch | undefined;
  const byMarket = new Map<number, KillSwitch>();
  const byUser = new Map<number, UserSwitches>();
  killSwitches.forEach((killSwitch, at) => {
    const { scope, marketId, userId } = killSwitch;
    switch (scope) {
      case 'global':
        global ??= killSwitch;
        break;
      case 'market':
        if (marketId !== null && !byMarket.has(marketId)) byMarket.set(marketId, killSwitch);
        break;
      case 'user': {
        if (userId === null) break;
        let forUser = byUser.get(userId);
        if (!forUser) byUser.set(userId, (forUser = { allMarkets: undefined, byMarket: new Map() }));
        if (marketId === null) forUser.allMarkets ??= { killSwitch, at };
        else if (!forUser.byMarket.has(marketId)) forUser.byMarket.set(marketId, { killSwitch, at });
        break;
      }
    }
  });
  const index: KillSwitchIndex = { global, byMarket, byUser };
  killSwitchIndexes.set(killSwitches, index);
  return index;
}

/** The first engaged user-scope switch covering `userId` in `marketId`. */
function userSwitchCovering(index: KillSwitchIndex, userId: number, marketId: number): KillSwitch | undefined {
  const forUser = index.byUser.get(userId);
  if (!forUser) return undefined;
  const all = forUser.allMarkets;
  const inMarket = forUser.byMarket.get(marketId);
  if (!all || !inMarket) return (all ?? inMarket)?.killSwitch;
  return (all.at < inMarket.at ? all : inMarket).killSwitch;
}

/**
 * The engaged kill switch that stops orders of `userId` in `marketId`, or null: global first, then
 * market, then user, the first engaged of its scope. Constant time in the engaged switches: a
 * user-scope switch per account is how a desk stops a trader, so there can be thousands.
 */
export function killSwitchCovering(control: ControlState, userId: number, marketId: number): KillSwitch | null {
  if (control.killSwitches.length === 0) return null;
  const index = killSwitchIndexOf(control.killSwitches);
  return index.global ?? index.byMarket.get(marketId) ?? userSwitchCovering(index, userId, marketId) ?? null;
}

/** Why new orders of `userId` in `marketId` may not trade, or null. Kill switches are checked before halts. */
export function isBlocked(control: ControlState, userId: number, marketId: number): Block | null {
  const ks = killSwitchCovering(control, userId, marketId);
  if (ks) return { reason: 'kill_switch', rule: `kill_switch.${ks.scope}`, detail: ks.reason };
  const halt = control.halted.get(marketId);
  if (halt !== undefined) return { reason: 'market_halted', rule: 'market_halted', detail: halt };
  return null;
}

export function marketSpec(control: ControlState, marketId: number): MarketSpec | null {
  return control.markets.get(marketId) ?? null;
}

// ---- admin commands (command-api) ----

export type ControlCommand =
  | { kind: 'EngageKillSwitch'; scope: KillSwitchScope; marketId: number | null; userId: number | null; reason: string; by: number }
  | { kind: 'ReleaseKillSwitch'; scope: KillSwitchScope; marketId: number | null; userId: number | null; reason: string; by: number }
  | { kind: 'HaltMarket'; marketId: number; reason: string; by: number }
  | { kind: 'ResumeMarket'; marketId: number; reason: string; by: number };

export type ControlEvent = CatalogueEvent<'KillSwitchEngaged' | 'KillSwitchReleased' | 'MarketHalted' | 'MarketResumed'>;

export class ControlCommandError extends Error {
  constructor(
    readonly code: 'unknown_market' | 'invalid_scope',
    message: string,
  ) {
    super(message);
    this.name = 'ControlCommandError';
  }
}

function validateScope(c: { scope: KillSwitchScope; marketId: number | null; userId: number | null }, control: ControlState): void {
  if (c.scope === 'global' && (c.marketId !== null || c.userId !== null))
    throw new ControlCommandError('invalid_scope', 'a global kill switch names no market and no user');
  if (c.scope === 'market' && (c.marketId === null || c.userId !== null))
    throw new ControlCommandError('invalid_scope', 'a market kill switch names a market and no user');
  if (c.scope === 'user' && c.userId === null) throw new ControlCommandError('invalid_scope', 'a user kill switch names a user');
  if (c.marketId !== null && !control.markets.has(c.marketId))
    throw new ControlCommandError('unknown_market', `market ${c.marketId} is not listed`);
}

/**
 * Decide an admin command. Idempotent: engaging an engaged switch, releasing a released one,
 * halting a halted market or resuming a running one decides nothing. Throws `ControlCommandError`
 * for an unknown market or an ill-formed scope.
 */
export function decideControl(command: ControlCommand, state: ControlState): ControlEvent[] {
  switch (command.kind) {
    case 'EngageKillSwitch':
    case 'ReleaseKillSwitch': {
      validateScope(command, state);
      const engaged = state.killSwitches.some((k) => sameSwitch(k, command));
      const data: EventData<'KillSwitchEngaged'> = {
        scope: command.scope,
        marketId: command.marketId,
        userId: command.userId,
        reason: command.reason,
        changedBy: command.by,
      };
      if (command.kind === 'EngageKillSwitch') return engaged ? [] : [catalogueEvent('KillSwitchEngaged', data)];
      return engaged ? [catalogueEvent('KillSwitchReleased', data)] : [];
    }
    case 'HaltMarket':
      if (!state.markets.has(command.marketId)) throw new ControlCommandError('unknown_market', `market ${command.marketId} is not listed`);
      if (state.halted.has(command.marketId)) return [];
      return [catalogueEvent('MarketHalted', { marketId: command.marketId, reason: command.reason, haltedBy: command.by })];
    case 'ResumeMarket':
      if (!state.markets.has(command.marketId)) throw new ControlCommandError('unknown_market', `market ${command.marketId} is not listed`);
      if (!state.halted.has(command.marketId)) return [];
      return [catalogueEvent('MarketResumed', { marketId: command.marketId, reason: command.reason, resumedBy: command.by })];
  }
}

export const controlDecider = {
  decide: decideControl,
  evolve: evolveControl,
  initialState: initialControlState,
};
