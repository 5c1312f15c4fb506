import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';

/**
 * Shown when the engine's worker died or its GPU device was lost: says so and offers "Restart
 * engine", which starts a new engine and loads the model and LoRAs again (settings stay).
 */
export function EngineLost() {
  const actions = useActions();
  const lost = useAppStore((s) => s.engineLost);
  const restarting = useAppStore((s) => s.engineRestart === 'restarting');
  if (!lost && !restarting) return null;
  return (
    <section className="engine-lost" aria-label="Engine stopped">
      <span className="grow">
        {restarting
          ? 'Restarting the engine and loading the model and LoRAs again…'
          : lost?.code === 'device-lost'
            ? 'The GPU device was lost (a driver reset, or the GPU ran out of memory). Restart the engine to continue on a new device.'
            : 'The engine stopped. Restart it to continue; your settings and LoRAs stay.'}
      </span>
      <button
        type="button"
        disabled={restarting}
        aria-busy={restarting}
        onClick={() => void actions.restartEngine()}
      >
        Restart engine
      </button>
    </section>
  );
}
