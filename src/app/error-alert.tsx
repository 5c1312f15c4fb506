import { useAppStore } from '../state/store.ts';

/** The last error of any flow, with its code, until dismissed. */
export function ErrorAlert() {
  const error = useAppStore((s) => s.error);
  const dismiss = useAppStore((s) => s.dismissError);
  if (!error) return null;
  const facts = Object.entries(error.details).filter((entry): entry is [string, string | number | boolean] =>
    ['string', 'number', 'boolean'].includes(typeof entry[1]),
  );
  return (
    <div role="alert" className="error-alert">
      <div className="error-head">
        <code className="error-code">{error.code}</code>
        <span className="error-message">{error.message}</span>
        <button type="button" className="icon" aria-label="Dismiss error" onClick={dismiss}>
          ×
        </button>
      </div>
      {facts.length > 0 && (
        <dl className="error-details">
          {facts.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{String(v)}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}
