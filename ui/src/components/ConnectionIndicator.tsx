import type { ConnectionStatus } from '../api/stream.ts';

const LABEL: Record<ConnectionStatus, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

export function ConnectionIndicator({ status }: { status: ConnectionStatus }) {
  return (
    <div className={`conn conn-${status}`} role="status" aria-live="polite" aria-label={`Connection: ${LABEL[status]}`} data-status={status}>
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-label">{LABEL[status]}</span>
    </div>
  );
}
