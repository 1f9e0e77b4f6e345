import type { Market } from '../api/types.ts';
import { setKillSwitch, useKillSwitchInfo } from '../lib/controlState.ts';

/** Halted markets and kill switches, shown on every screen. */
export function TradingBanners({ markets, marketId }: { markets: readonly Market[] | undefined; marketId?: number }) {
  const killSwitch = useKillSwitchInfo();
  const halted = (markets ?? []).filter((m) => m.status === 'halted' && (marketId === undefined || m.marketId === marketId));
  const ksApplies = killSwitch && (killSwitch.scope !== 'market' || marketId === undefined || killSwitch.marketId === marketId);
  if (halted.length === 0 && !ksApplies) return null;
  return (
    <div className="banners">
      {halted.length > 0 ? (
        <div className="banner banner-warn" role="alert" data-testid="halt-banner">
          Trading halted on {halted.map((m) => m.symbol).join(', ')}: new orders are not accepted until the market resumes.
        </div>
      ) : null}
      {ksApplies ? (
        <div className="banner banner-danger" role="alert" data-testid="kill-switch-banner">
          <span>
            Kill switch engaged{killSwitch.scope === 'global' ? ' for all markets' : killSwitch.scope === 'market' ? ' on this market' : ''}:
            new orders are rejected and resting orders are cancelled. {killSwitch.reason}
          </span>
          <button type="button" className="link-button" onClick={() => setKillSwitch(null)}>
            Dismiss
          </button>
        </div>
      ) : null}
    </div>
  );
}
