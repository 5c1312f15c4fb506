/**
 * A labelled plain-text input (repository, revision, URL, name…): no spell check, no autocomplete.
 * The visible label is the input's accessible name.
 */
export function TextField({
  label,
  value,
  onChange,
  placeholder,
  type,
  grow = false,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  type?: 'text' | 'url';
  grow?: boolean;
}) {
  return (
    <label className={grow ? 'field grow' : 'field'}>
      <span>{label}</span>
      <input
        type={type}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder={placeholder}
        spellCheck={false}
        autoComplete="off"
      />
    </label>
  );
}
