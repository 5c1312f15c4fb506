/**
 * A labelled plain-text input (repository, revision, URL, name, token…): no spell check, no
 * autocomplete. The visible label is the input's accessible name; `describedBy` names a note.
 */
export function TextField({
  label,
  value,
  onChange,
  placeholder,
  type,
  describedBy,
  grow = false,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  type?: 'text' | 'url' | 'password';
  describedBy?: string | undefined;
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
        aria-describedby={describedBy}
      />
    </label>
  );
}
