import { createContext, type ReactNode, useContext } from 'react';
import type { AppActions } from '../state/actions.ts';

const ActionsContext = createContext<AppActions | null>(null);

export function ActionsProvider({ actions, children }: { actions: AppActions; children: ReactNode }) {
  return <ActionsContext.Provider value={actions}>{children}</ActionsContext.Provider>;
}

/** The app's flows (state/actions.ts); components call these, never the worker. */
export function useActions(): AppActions {
  const actions = useContext(ActionsContext);
  if (!actions) throw new Error('useActions() needs an <ActionsProvider> above it (see src/main.tsx)');
  return actions;
}
