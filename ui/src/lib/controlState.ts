/** What the UI knows about kill switches (there is no read endpoint: it learns from rejections and admin actions). */
import { useSyncExternalStore } from 'react';

export interface KillSwitchInfo {
  scope: 'global' | 'market' | 'user' | 'unknown';
  marketId?: number;
  reason: string;
  since: number;
}

let killSwitch: KillSwitchInfo | null = null;
const listeners = new Set<() => void>();

export function setKillSwitch(info: KillSwitchInfo | null): void {
  killSwitch = info;
  for (const l of listeners) l();
}

export function getKillSwitch(): KillSwitchInfo | null {
  return killSwitch;
}

export function useKillSwitchInfo(): KillSwitchInfo | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => killSwitch,
  );
}
